#!/usr/bin/env bash
# rpc_bench.sh - end to end over the Ethereum JSON-RPC (docs/PERFORMANCE.md), every target in
# one run with the same client (bench/rpc_bench.mjs) and the same load: anvil automining,
# anvil with one-second blocks, a one-member cohort chain and a four-member one. The cohort
# chains run as on a node: scripts/devnet.sh starts anvil as the manager chain and four
# cohort-cores, which run every chain's subnodes as containers; 'demo' has four members and
# this script creates 'solo' with one. Needs a build (scripts/build.sh) and dockerd.
#
#   bash bench/rpc_bench.sh            (TARGETS=cohort leaves anvil out; TXS=20000 SENDERS=400 CONCURRENCY=32 by default: the subnode allows 64
#                                     connections a client, and the watcher needs one;
#                                     RATE=2600 by default: 2,600 transfers a second, open loop,
#                                     the sustained load issue 17's goal is measured at;
#                                     RATE=burst sends every transfer at once and adds anvil's
#                                     automine, which cannot keep any rate;
#                                     CLIENT=node times in JavaScript instead of build/bench/rpc_load)
#
# Ports: 27601-27602 (anvil), 27610 (the devnet's anvil), 27620-27680 (its cohort-cores'
# APIs, PostgreSQL, Prometheus), 28000-35200 (its subnodes). Everything it starts stops at
# the end (the devnet removes its containers).
set -euo pipefail
cd "$(dirname "$0")/.."
txs=${TXS:-20000} senders=${SENDERS:-400} concurrency=${CONCURRENCY:-32}
# anvil's first dev key: it funds anvil's accounts, deploys the devnet's manager and so owns
# (and is funded by) the devnet's chains.
key=0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80
dir=$(mktemp -d /tmp/cohort-rpcbench.XXXXXX)
chmod 755 "$dir" # the devnet's PostgreSQL runs as the postgres user and must reach its folder
cohort=build/bin/cohort
pids=()
cleanup() { # SIGTERM: a background job of a script ignores SIGINT (the devnet removes its containers on it)
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

wait_rpc() { # URL SECONDS: until eth_chainId answers
  for _ in $(seq 1 $(($2 * 5))); do
    curl -sf -H 'content-type: application/json' -d '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}' "$1" \
      >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "rpc_bench: $1 does not answer" >&2
  return 1
}
RATE=${RATE:-2600}
rate=()
[[ "$RATE" != burst ]] && rate=(--rate "$RATE")
bench() { node bench/rpc_bench.mjs --txs "$txs" --senders "$senders" --concurrency "$concurrency" --key "$key" \
  --client "${CLIENT:-c}" "$@" |
  tee -a "$dir/results"; }
echo "# rpc_bench $(date -u +%FT%TZ) $(git rev-parse --short HEAD) load: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$dir/results"

if [[ "${TARGETS:-all}" != cohort ]]; then
  if [[ "$RATE" == burst ]]; then
    node_modules/.bin/anvil --host 127.0.0.1 --port 27601 >"$dir/anvil-automine.log" 2>&1 &
    pids+=($!)
    wait_rpc http://127.0.0.1:27601 30
    bench --label anvil-automine --rpc http://127.0.0.1:27601 --wait
  fi
  node_modules/.bin/anvil --host 127.0.0.1 --port 27602 --block-time 1 >"$dir/anvil-1s.log" 2>&1 &
  pids+=($!)
  wait_rpc http://127.0.0.1:27602 30
  bench --label anvil-1s-blocks --rpc http://127.0.0.1:27602 "${rate[@]}"
fi

COHORT_DEVNET_SKIP_SETUP=1 COHORT_DEVNET_DIR="$dir/devnet" COHORT_DEVNET_RPC_PORT=27610 COHORT_DEVNET_BASE_PORT=28000 \
  COHORT_DEVNET_API_PORT=27620 bash scripts/devnet.sh >"$dir/devnet.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 600); do [[ -s "$dir/devnet/chains.json" ]] && break; sleep 0.5; done
[[ -s "$dir/devnet/chains.json" ]] || { echo "rpc_bench: the devnet did not come up (see $dir/devnet.log)" >&2; exit 1; }
export COHORT_MANAGER_RPC=http://127.0.0.1:27610 COHORT_MANAGER_FILE="$dir/devnet/manager.json"
$cohort --quiet chain create --name solo --size medium --nodes 1 --keystore "$dir/devnet/deployer.json" \
  --password-file "$dir/devnet/password" >/dev/null
solo=$($cohort --json chain show solo | node -e 'const m = JSON.parse(require("fs").readFileSync(0)); console.log(`http://${m[0].endpoint}`)')
demo=$(node -e 'const c = JSON.parse(require("fs").readFileSync(process.argv[1])); console.log(c.find((x) => x.name === "demo").rpc.join(","))' "$dir/devnet/chains.json")
wait_rpc "$solo" 120
for url in ${demo//,/ }; do wait_rpc "$url" 60; done
bench --label cohort-1-member --rpc "$solo" "${rate[@]}"
bench --label cohort-4-members --rpc "$demo" "${rate[@]}"
# What each of the four members did: its blocks, the transfers it executed and those its
# blocks left out (for the block's gas, mostly: they come again in a later block).
for url in ${demo//,/ }; do
  curl -sf "$url/status" | node -e 'const s = JSON.parse(require("fs").readFileSync(0)).chain;
    console.log(`rpc_bench member=${process.argv[1]} height=${s.height} transactions=${s.transactions_total} ` +
      `dropped=${s.transactions_dropped_total} ${JSON.stringify(s.transactions_dropped_by_reason || {})} ` +
      `batches_resubmitted=${s.batches_resubmitted} execute_ms=${s.execute_ms_total} ` +
      `commits=${s.commits_delivered} commit_wait_ms=${s.commit_wait_ms_total} log_index=${s.log_index} ` +
      `copies_refused=${s.entries_already_committed}+${s.entries_in_proposed_blocks} ` +
      `execute_ms_by_phase=${JSON.stringify(s.execute_ms_by_phase)} wal_syncs=${s.wal_syncs} wal_sync_ms=${s.wal_sync_ms_total}`)' "$url" |
    tee -a "$dir/results" || true
done
echo "rpc_bench: results in $dir/results"
