#!/usr/bin/env bash
# Installs the standalone Hive Metastore (hive/pom.xml) into the directory given as $1:
#   $1/metastore/   the unpacked apache-hive-metastore-<version>-bin
#   $1/extra/       the JDBC driver and the few jars its lib/ leaves to a Hadoop install
#   $1/patched/     lakehouse-metastore-bind-host.jar: SecurityUtils with
#                   metastore-bind-host.patch applied, to go before the metastore's lib/
# Needs pyspark importable by `python`: its jars (Hadoop client, ZooKeeper) are what the
# metastore runs with, so the patched class compiles against them.
# Maven caches downloads in ~/.m2, so a rerun downloads nothing.
set -euo pipefail
out=${1:?usage: fetch.sh OUTPUT_DIR}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mvn -q -B -f "$here/pom.xml" dependency:copy-dependencies \
  -DexcludeTransitive=true -DoutputDirectory="$tmp"
rm -rf "$out/metastore" "$out/extra" "$out/patched"
mkdir -p "$out/metastore" "$out/extra"
tar -xzf "$tmp"/hive-standalone-metastore-*-bin.tar.gz -C "$out/metastore" --strip-components=1
rm "$tmp"/hive-standalone-metastore-*-bin.tar.gz

# Bind to the configured host, not every interface: patch the class's own source and compile.
src=org/apache/hadoop/hive/metastore/utils/SecurityUtils.java
mkdir -p "$tmp/src" "$tmp/classes" "$out/patched"
(cd "$tmp/src" && jar xf "$tmp"/hive-standalone-metastore-*-sources.jar "$src")
rm "$tmp"/hive-standalone-metastore-*-sources.jar
patch -s "$tmp/src/$src" < "$here/metastore-bind-host.patch"
spark_jars=${SPARK_JARS_DIR:-$(python -c 'import pyspark, os; print(os.path.join(os.path.dirname(pyspark.__file__), "jars"))')}
javac -nowarn --release 8 -d "$tmp/classes" -cp "$out/metastore/lib/*:$tmp/*:$spark_jars/*" "$tmp/src/$src"
jar cf "$out/patched/lakehouse-metastore-bind-host.jar" -C "$tmp/classes" .

cp "$tmp"/*.jar "$out/extra/"
echo "hive metastore: $(ls "$out/metastore/lib" | grep -m1 -o 'hive-standalone-metastore-[0-9.]*[0-9]') + $(ls "$out/extra" | tr '\n' ' ')"
