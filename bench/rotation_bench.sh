#!/usr/bin/env bash
# bench/rotation_bench.sh - how long a rotation takes (docs/PERFORMANCE.md "Rotation"): one
# chain of four subnode processes on loopback whose state holds ACCOUNTS accounts (every
# 100th a contract with 16 slots: bench_state.h), and a fifth node's subnode that takes
# member 3's place. The script plays the manager and cohort-core (bench/rotation_prep): at
# t0 every member's node vouches for the rotation and the joining subnode starts on an
# empty volume, while a transfer goes to member 0 every 0.2 s. It prints, per size:
#
#   rotation accounts=N fill_s=.. switch_s=.. joined_s=.. transfer_bytes=.. transfer_accounts=..
#
# switch_s: from t0 until members 0-2 run the next epoch (vouches, the change, the switch);
# joined_s: until the joining subnode has installed the state and is at member 0's height,
# knowing where f+1 others are (it votes from then on). The manager's transactions
# (initExit, completeRotation) are not in it: on the devnet they take about a second.
#
#   bash scripts/build.sh && bash bench/rotation_bench.sh          # ACCOUNTS="10000 100000" for fewer
set -euo pipefail
cd "$(dirname "$0")/.."
build=${COHORT_BUILD_DIR:-build}
base=${ROTATION_BENCH_PORT:-27400}
sizes=${ACCOUNTS:-10000 100000 1000000}
cast=node_modules/.bin/cast
key=0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80
declare -A pids=()
dir=""
cleanup() {
  set +e
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  [[ -n "$dir" ]] && rm -rf "$dir"
  return 0
}
trap cleanup EXIT
port() { echo $((base + 16 * $1)); }
start() {
  "$build/bin/cohort-subnode" --config "$dir/m$1/chain.json" --port "$(port "$1")" --bind 127.0.0.1 >>"$dir/m$1.log" 2>&1 &
  pids[$1]=$!
}
stop() { kill "${pids[$1]}"; wait "${pids[$1]}" 2>/dev/null || true; unset "pids[$1]"; }
healthy() {
  for _ in $(seq 1 600); do curl -sf -o /dev/null "http://127.0.0.1:$(port "$1")/healthz" && return 0; sleep 0.1; done
  echo "rotation_bench: member $1 did not start (log: $dir/m$1.log)" >&2
  exit 1
}
field() { sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p" <<<"$1" | head -1; }
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }'; }

for n in $sizes; do
  dir=$(mktemp -d /tmp/cohort-rotation-bench-XXXXXX)
  "$build/bench/rotation_prep" volumes "$dir" "$base"
  # A first start writes each member's genesis; then the same state goes into the four stores.
  for i in 0 1 2 3; do start "$i"; done
  for i in 0 1 2 3; do healthy "$i"; done
  for i in 0 1 2 3; do stop "$i"; done
  t=$EPOCHREALTIME
  for i in 0 1 2 3; do "$build/bench/rotation_prep" fill "$dir/m$i" "$n" >/dev/null; done
  fill_s=$(since "$t")
  for i in 0 1 2 3; do start "$i"; done
  for i in 0 1 2 3; do healthy "$i"; done
  "$cast" send --rpc-url "http://127.0.0.1:$(port 0)" --private-key "$key" --value 1 \
    0x000000000000000000000000000000000000dEaD >/dev/null
  t0=$EPOCHREALTIME
  "$build/bench/rotation_prep" vouch "$dir" "$base"
  start 4
  switch_s="" joined_s=""
  for _ in $(seq 1 3000); do
    "$cast" send --async --rpc-url "http://127.0.0.1:$(port 0)" --private-key "$key" --value 1 \
      0x000000000000000000000000000000000000dEaD >/dev/null 2>&1 || true
    if [[ -z "$switch_s" ]]; then
      switched=0
      for i in 0 1 2; do curl -sf "http://127.0.0.1:$(port "$i")/status" | grep -q '"epoch":{"number":1,' && switched=$((switched + 1)); done
      [[ $switched -eq 3 ]] && switch_s=$(since "$t0")
    fi
    s0=$(curl -sf "http://127.0.0.1:$(port 0)/status" || true)
    s4=$(curl -sf "http://127.0.0.1:$(port 4)/status" || true)
    h0=$(field "$s0" height) h4=$(field "$s4" height)
    if [[ -n "$switch_s" && -n "$h4" && -n "$h0" && $h4 -ge $h0 && "$s4" == *'"behind_known":true'* &&
          "$s4" == *'"state_transfer":{"running":false,"done":1'* ]]; then
      joined_s=$(since "$t0")
      break
    fi
    sleep 0.2
  done
  [[ -n "$joined_s" ]] || { echo "rotation_bench: the joining member was not in step within 10 minutes (logs in $dir)" >&2; trap - EXIT; exit 1; }
  bytes=$(sed -n 's/.*"state_transfer":{[^}]*"bytes":\([0-9]*\).*/\1/p' <<<"$s4")
  accounts=$(sed -n 's/.*"state_transfer":{[^}]*"accounts":\([0-9]*\).*/\1/p' <<<"$s4")
  echo "rotation accounts=$n fill_s=$fill_s switch_s=$switch_s joined_s=$joined_s transfer_bytes=${bytes:-?} transfer_accounts=${accounts:-?}"
  for i in "${!pids[@]}"; do stop "$i"; done
  rm -rf "$dir"
  dir=""
done
