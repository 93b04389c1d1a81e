#!/usr/bin/env bash
# Builds the MinIO server from its Go module at the pinned version into OUTPUT_DIR/minio,
# with the machine's Go toolchain. The Go module and build caches (~/go/pkg/mod,
# ~/.cache/go-build) make a rerun take seconds; a fresh machine needs about 5 minutes.
#
# MinIO publishes no semver tags, so the module proxy knows it by pseudo-version:
# commit 7aac2a2c5b7c of 2026-02-12, the newest on proxy.golang.org. minio/Dockerfile
# builds the same version for docker compose.
set -euo pipefail
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
out=${1:?usage: build.sh OUTPUT_DIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
GOBIN="$out" GOFLAGS=-trimpath CGO_ENABLED=0 go install "github.com/minio/minio@$MINIO_VERSION"
echo "$MINIO_VERSION" > "$out/minio.version"
echo "minio $MINIO_VERSION -> $out/minio"
