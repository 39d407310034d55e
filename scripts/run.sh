#!/usr/bin/env bash
# The main job for a new user: installs what is missing, builds everything, and shows the
# operator CLI. (Later: starts a local devnet of several nodes with chains running.)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
echo
./build/bin/cohort --help
