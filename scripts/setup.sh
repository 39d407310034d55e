#!/usr/bin/env bash
# Installs everything the build, the tests and the devnet need, on Debian 12 as root.
# Idempotent and quick when nothing is missing: it asks apt and npm only for what is absent.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBS=(build-essential cmake pkg-config clang libclang-rt-14-dev
      libcurl4-openssl-dev libcjson-dev libsecp256k1-dev libpq-dev check
      liblmdb-dev libmicrohttpd-dev libuv1-dev libssl-dev libgmp-dev
      docker.io postgresql nodejs npm curl ca-certificates
      prometheus chromium)  # metrics: promtool and Prometheus for its tests and the devnet, Chromium for the page's

missing=()
for p in "${DEBS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# nodejs/npm may come from outside Debian (a newer node on PATH): accept those.
if command -v node >/dev/null && command -v npm >/dev/null; then
  filtered=()
  for p in "${missing[@]}"; do [[ "$p" == nodejs || "$p" == npm ]] || filtered+=("$p"); done
  missing=("${filtered[@]+"${filtered[@]}"}")
fi
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: missing Debian packages: ${missing[*]}; run this script as root" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm tools, pinned by package-lock.json.
if [[ ! -x node_modules/.bin/anvil || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "setup: npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
fi
