#!/usr/bin/env bash
# Resolves the JVM jars the platform adds to Spark (spark/pom.xml) from Maven Central into
# the directory given as $1. Maven caches downloads in ~/.m2, so a rerun downloads nothing.
# Only io.delta artifacts are copied: everything else Delta depends on (Scala, Jackson,
# Parquet, Hadoop client) already ships inside pyspark at the versions Spark was built with,
# and a second copy on the classpath would shadow them.
set -euo pipefail
out=${1:?usage: fetch-jars.sh OUTPUT_DIR}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mvn -q -B -f "$here/pom.xml" dependency:copy-dependencies \
  -DincludeScope=runtime -DincludeGroupIds=io.delta -DoutputDirectory="$tmp"
mkdir -p "$out"
rm -f "$out"/*.jar
cp "$tmp"/*.jar "$out"/
ls "$out"
