#!/usr/bin/env bash
# Builds the subnode image locally (no registry): FROM scratch with build/bin/cohort-subnode
# and the shared libraries ldd lists for it. Tags it cohort-subnode:VERSION-DIGEST, where
# DIGEST is the first 12 hex digits of the sha256 of the image's files, and also
# cohort-subnode:latest. Prints the versioned tag. Usage: build-subnode-image.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
binary="$build/bin/cohort-subnode"
[[ -x "$binary" ]] || { echo "build-subnode-image: $binary missing; run scripts/build.sh" >&2; exit 1; }
ctx=$(mktemp -d /tmp/cohort-subnode-image.XXXXXX)
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/rootfs/usr/bin" "$ctx/rootfs/data"
cp "$binary" "$ctx/rootfs/usr/bin/cohort-subnode"
# Every library the binary loads, at the path the loader looks for it.
ldd "$binary" | awk '/=> \// {print $3} /^\t\/lib/ {print $1}' | sort -u | while read -r lib; do
  mkdir -p "$ctx/rootfs$(dirname "$lib")"
  cp -L "$lib" "$ctx/rootfs$lib"
done
cp docker/subnode.Dockerfile "$ctx/Dockerfile"
digest=$(cd "$ctx/rootfs" && find . -type f | sort | xargs sha256sum | sha256sum | cut -c1-12)
version=$(sed -n 's/^project(cohort VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
tag="cohort-subnode:$version-$digest"
docker build -q --label cohort.image=subnode --label "cohort.version=$version" -t "$tag" -t cohort-subnode:latest "$ctx" >/dev/null
echo "$tag"
