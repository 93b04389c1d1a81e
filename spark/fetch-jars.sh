#!/usr/bin/env bash
# Resolves the JVM jars the platform adds to Spark from Maven Central into OUTPUT_DIR.
#
#   fetch-jars.sh OUTPUT_DIR           Delta (spark/pom.xml): all the embedded default needs
#   fetch-jars.sh --cluster OUTPUT_DIR the cluster profile's extras (spark/pom-cluster.xml):
#                                      hadoop-aws + AWS SDK for s3a, and the Thrift server's
#                                      password check compiled from spark/thrift-auth/
#
# Maven caches downloads in ~/.m2, so a rerun downloads nothing. From spark/pom.xml only
# io.delta artifacts are copied: everything else Delta depends on (Scala, Jackson, Parquet,
# Hadoop client) already ships inside pyspark at the versions Spark was built with, and a
# second copy on the classpath would shadow them.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cluster=false
if [[ ${1:-} == --cluster ]]; then cluster=true; shift; fi
out=${1:?usage: fetch-jars.sh [--cluster] OUTPUT_DIR}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if $cluster; then
  mvn -q -B -f "$here/pom-cluster.xml" dependency:copy-dependencies \
    -DexcludeTransitive=true -DoutputDirectory="$tmp"
  # The authenticator compiles against the HiveServer2 interface inside pyspark's jars.
  spark_jars=${SPARK_JARS_DIR:-$(python -c 'import pyspark, os; print(os.path.join(os.path.dirname(pyspark.__file__), "jars"))')}
  mkdir -p "$tmp/classes"
  javac -nowarn --release 17 -d "$tmp/classes" -cp "$spark_jars/*" "$here"/thrift-auth/*.java
  jar cf "$tmp/lakehouse-thrift-auth.jar" -C "$tmp/classes" .
else
  mvn -q -B -f "$here/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DincludeGroupIds=io.delta -DoutputDirectory="$tmp"
fi
mkdir -p "$out"
rm -f "$out"/*.jar
cp "$tmp"/*.jar "$out"/
ls "$out"
