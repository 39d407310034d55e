#!/usr/bin/env bash
# node_bench.sh - issue 5's measure, end to end with real processes: the time from the
# manager's ChainCreated events being confirmed to every subnode of this node answering its
# status endpoint, for 1, 16 and 128 small chains, and cohort-core's own memory (RSS) then.
#
#   bash bench/node_bench.sh [BUILD_DIR] [COUNTS...]        (default: build 1 16 128)
#
# How: anvil, the manager deployed, one node registered, one cohort-core (confirmations 0,
# poll 200 ms). cohort-core is paused (SIGSTOP) while the N chains are created, so all N
# ChainCreated events are confirmed before it looks; the clock starts at SIGCONT and stops
# when the last subnode answers /healthz. Prints `node_bench chains=N seconds=S rss_mib=M`.
# Needs dockerd. Removes its containers (by its manager's label) and stops what it started.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
shift || true
counts=("${@:-1 16 128}")
[[ $# -eq 0 ]] && counts=(1 16 128)
dir=$(mktemp -d /tmp/cohort-node-bench.XXXXXX)
port=$((8700 + RANDOM % 200))
rpc=http://127.0.0.1:$port
cohort=$build/bin/cohort
pids=()
manager=""
cleanup() {
  set +e
  for p in "${pids[@]}"; do kill -CONT "$p" 2>/dev/null; kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  if [[ -n "$manager" ]]; then
    ids=$(docker ps -aq --filter "label=cohort.manager=$manager"); [[ -n "$ids" ]] && docker rm -f $ids >/dev/null
    vols=$(docker volume ls -q --filter "label=cohort.manager=$manager"); [[ -n "$vols" ]] && docker volume rm -f $vols >/dev/null
  fi
  rm -rf "$dir"
}
trap cleanup EXIT
image=$(bash scripts/build-subnode-image.sh "$build")
export COHORT_RPC=$rpc COHORT_MANAGER_FILE=$dir/manager.json
echo bench > "$dir/pw"
echo ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80 > "$dir/key"
$cohort --quiet key import --private-key-file "$dir/key" --out "$dir/k.json" --password-file "$dir/pw" >/dev/null

for n in "${counts[@]}"; do
  node_modules/.bin/anvil --host 127.0.0.1 --port "$port" --silent >/dev/null 2>&1 &
  anvil=$!
  pids+=($anvil)
  for _ in $(seq 1 100); do curl -sf -o /dev/null -X POST -H 'Content-Type: application/json' \
    --data '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}' "$rpc" && break; sleep 0.1; done
  rm -f "$dir/manager.json"
  $cohort --quiet manager deploy --keystore "$dir/k.json" --password-file "$dir/pw" >/dev/null
  manager=$(sed -n 's/.*"address": *"\(0x[0-9a-fA-F]*\)".*/\1/p' "$dir/manager.json" | tr 'A-F' 'a-f')
  base=30000
  $cohort --quiet node register --name bench --ip 127.0.0.1 --port $base --keystore "$dir/k.json" --password-file "$dir/pw" >/dev/null
  rm -rf "$dir/state"
  "$build/bin/cohort-core" --node-id 1 --manager-rpc "$rpc" --manager-file "$dir/manager.json" --state-dir "$dir/state" \
    --api-port $((port + 1000)) --base-port $base --image "$image" --confirmations 0 --poll-ms 200 \
    --log-level warn 2>"$dir/core.log" &
  core=$!
  pids+=($core)
  sleep 1
  kill -STOP "$core"
  for i in $(seq 1 "$n"); do
    $cohort --quiet chain create --name "b$i" --size small --nodes 1 --keystore "$dir/k.json" --password-file "$dir/pw" >/dev/null
  done
  start=$(date +%s.%N)
  kill -CONT "$core"
  for _ in $(seq 1 6000); do
    ready=0
    for i in $(seq 0 $((n - 1))); do curl -sf -o /dev/null "http://127.0.0.1:$((base + 8 * i))/healthz" && ready=$((ready + 1)); done
    [[ $ready -eq $n ]] && break
    sleep 0.05
  done
  end=$(date +%s.%N)
  rss=$(awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$core/status")
  echo "node_bench chains=$n seconds=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }') rss_mib=$rss ready=$ready"
  kill "$core"; wait "$core" 2>/dev/null || true
  kill "$anvil"; wait "$anvil" 2>/dev/null || true
  ids=$(docker ps -aq --filter "label=cohort.manager=$manager"); [[ -n "$ids" ]] && docker rm -f $ids >/dev/null
  vols=$(docker volume ls -q --filter "label=cohort.manager=$manager"); [[ -n "$vols" ]] && docker volume rm -f $vols >/dev/null
  pids=()
done
