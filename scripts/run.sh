#!/usr/bin/env bash
# The main job for a new user: installs what is missing, builds everything, and starts a
# local devnet (anvil as the manager chain, 4 nodes each with a cohort-core, 2 chains whose
# subnodes run as containers), printing how to look at it. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
exec bash scripts/devnet.sh "$@"
