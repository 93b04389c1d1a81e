#!/usr/bin/env bash
# Installs the standalone Hive Metastore (hive/pom.xml) into the directory given as $1:
#   $1/metastore/   the unpacked apache-hive-metastore-<version>-bin
#   $1/extra/       the JDBC driver and the few jars its lib/ leaves to a Hadoop install
# Maven caches downloads in ~/.m2, so a rerun downloads nothing.
set -euo pipefail
out=${1:?usage: fetch.sh OUTPUT_DIR}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mvn -q -B -f "$here/pom.xml" dependency:copy-dependencies \
  -DexcludeTransitive=true -DoutputDirectory="$tmp"
rm -rf "$out/metastore" "$out/extra"
mkdir -p "$out/metastore" "$out/extra"
tar -xzf "$tmp"/hive-standalone-metastore-*-bin.tar.gz -C "$out/metastore" --strip-components=1
rm "$tmp"/hive-standalone-metastore-*-bin.tar.gz
cp "$tmp"/*.jar "$out/extra/"
echo "hive metastore: $(ls "$out/metastore/lib" | grep -m1 -o 'hive-standalone-metastore-[0-9.]*[0-9]') + $(ls "$out/extra" | tr '\n' ' ')"
