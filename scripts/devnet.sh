#!/usr/bin/env bash
# A local devnet: anvil as the manager chain, the manager contracts deployed, NODES
# validator nodes registered, one cohort-core per node, and two chains whose subnodes run
# as containers; the cohort-cores share one config store, which one more node, registered
# later, joins. Everything binds 127.0.0.1. Runs until Ctrl-C, then stops what it started.
#
#   scripts/devnet.sh            set up, print how to look at it, keep running
#   scripts/devnet.sh --check    set up, check every subnode answers and that ethers and cast
#                                deploy and use a contract on 'demo', tear down, exit 0/1
#   scripts/devnet.sh --faults   set up, run scripts/chain-faults.mjs on 'demo', tear down
#   scripts/devnet.sh --upgrade  set up, sign a second image into the cluster's store, check
#                                that every subnode moves to it while 'demo' keeps making blocks
#   scripts/devnet.sh --rotation set up, register a fifth node, start node 4's exit under load
#                                and check that the fifth takes its place in 'demo' (and 'tiny');
#                                then kill node 3 for good and check that the others' signed
#                                statements rotate it out for a sixth
#
# Environment: COHORT_DEVNET_NODES (4), COHORT_DEVNET_BASE_PORT (10000; node i uses
# BASE + 2048 i), COHORT_DEVNET_RPC_PORT (8545), COHORT_DEVNET_API_PORT (9100; node i uses +i).
set -euo pipefail
cd "$(dirname "$0")/.."
check=false faults=false upgrade=false rotation=false
[[ "${1:-}" == "--check" ]] && check=true
[[ "${1:-}" == "--faults" ]] && check=true faults=true
[[ "${1:-}" == "--upgrade" ]] && check=true upgrade=true
[[ "${1:-}" == "--rotation" ]] && check=true rotation=true

nodes=${COHORT_DEVNET_NODES:-4}
base=${COHORT_DEVNET_BASE_PORT:-10000}
rpc_port=${COHORT_DEVNET_RPC_PORT:-8545}
api=${COHORT_DEVNET_API_PORT:-9100}
dir=${COHORT_DEVNET_DIR:-$PWD/.devnet}
rpc=http://127.0.0.1:$rpc_port
build=${COHORT_BUILD_DIR:-build}
cohort=$build/bin/cohort
pids=() core_pids=()
manager=""

say() { printf '\033[1m== %s\033[0m\n' "$*" >&2; }

stop_all() {
  set +e
  [[ -n "${variant_tag:-}" ]] && docker image rm -f "$variant_tag" >/dev/null 2>&1
  [[ -n "${broken_tag:-}" ]] && docker image rm -f "$broken_tag" >/dev/null 2>&1
  [[ -n "${byzantine_tag:-}" ]] && docker image rm -f "$byzantine_tag" >/dev/null 2>&1
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
  # Only what this devnet made: the containers and volumes labelled with its cohort-cores'
  # install ids (another devnet on this dockerd has the same manager address and node ids).
  for state in "$dir"/core*/node.json; do
    [[ -f "$state" ]] || continue
    install=$(sed -n 's/.*"install_id": *"\([0-9a-f]*\)".*/\1/p' "$state")
    [[ -n "$install" ]] || continue
    ids=$(docker ps -aq --filter "label=cohort.install=$install")
    [[ -n "$ids" ]] && docker rm -f $ids >/dev/null
    vols=$(docker volume ls -q --filter "label=cohort.install=$install")
    [[ -n "$vols" ]] && docker volume rm -f $vols >/dev/null
  done
  return 0
}
trap stop_all EXIT

if [[ "${COHORT_DEVNET_SKIP_SETUP:-}" != 1 ]]; then
  bash scripts/setup.sh
  bash scripts/build.sh >/dev/null
fi
if ! docker info >/dev/null 2>&1; then
  say "starting dockerd"
  (dockerd >/tmp/cohort-devnet-dockerd.log 2>&1 &)
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
fi
image=$(bash scripts/build-subnode-image.sh "$build" 2>/dev/null)
say "subnode image $image"

rm -rf "$dir" && mkdir -p "$dir"
export COHORT_MANAGER_FILE=$dir/manager.json COHORT_MANAGER_RPC=$rpc
echo devnet > "$dir/password"

say "anvil on $rpc"
node_modules/.bin/anvil --host 127.0.0.1 --port "$rpc_port" --silent >"$dir/anvil.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do curl -sf -o /dev/null -X POST -H 'Content-Type: application/json' \
  --data '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}' "$rpc" && break; sleep 0.1; done

# ---- Metrics: a PostgreSQL and a Prometheus of the devnet's own (docs/metrics.md) ----
# PostgreSQL 15 (Debian's) is initialised in $dir/postgres as the postgres user (it refuses
# to run as root), listens on 127.0.0.1 only, and every cohort-core keeps its metrics
# history there (COHORT_METRICS_DATABASE). Prometheus scrapes every node. Both stop with the
# rest (their PIDs join pids).
pg_port=${COHORT_DEVNET_PG_PORT:-$((api + 50))}
prom_port=${COHORT_DEVNET_PROMETHEUS_PORT:-$((api + 60))}
pg_bin=/usr/lib/postgresql/15/bin
as_postgres=()  # the server refuses root: as root, run it as the postgres user (setpriv exec's, so $! is its PID)
[[ $(id -u) -eq 0 ]] && as_postgres=(setpriv --reuid=postgres --regid=postgres --init-groups)
mkdir -p "$dir/postgres"
[[ $(id -u) -eq 0 ]] && chown postgres:postgres "$dir/postgres"
echo devnet > "$dir/postgres.pw"
chmod 644 "$dir/postgres.pw"
"${as_postgres[@]}" "$pg_bin/initdb" -D "$dir/postgres/data" -U cohort --pwfile="$dir/postgres.pw" --auth-host=scram-sha-256 \
  --auth-local=peer >"$dir/initdb.log" 2>&1
"${as_postgres[@]}" "$pg_bin/postgres" -D "$dir/postgres/data" -k "$dir/postgres" -p "$pg_port" -c listen_addresses=127.0.0.1 \
  >"$dir/postgres.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$pg_port" && break; sleep 0.1; done
export COHORT_METRICS_DATABASE="postgresql://cohort:devnet@127.0.0.1:$pg_port/postgres"
export COHORT_METRICS_INTERVAL_MS=${COHORT_METRICS_INTERVAL_MS:-2000}
say "PostgreSQL for the metrics on 127.0.0.1:$pg_port"
if command -v prometheus >/dev/null; then
  { echo "global: {scrape_interval: 2s}"
    echo "scrape_configs:"
    echo "  - job_name: cohort"
    echo "    static_configs:"
    echo "      - targets: [$(for i in $(seq 1 "$nodes"); do printf "'127.0.0.1:%d'," $((api + i)); done | sed 's/,$//')]"
  } > "$dir/prometheus.yml"
  prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/prometheus" \
    --web.listen-address="127.0.0.1:$prom_port" >"$dir/prometheus.log" 2>&1 &
  pids+=($!)
  say "Prometheus on http://127.0.0.1:$prom_port"
fi

# anvil's first dev account deploys and funds; each node gets a fresh key of its own. It
# deploys the manager and so owns both chains: their genesis funds it.
owner_key=0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80
echo "${owner_key#0x}" > "$dir/deployer.key"
$cohort --quiet key import --private-key-file "$dir/deployer.key" --out "$dir/deployer.json" --password-file "$dir/password" >/dev/null
rm -f "$dir/deployer.key"
say "deploying the manager contracts"
$cohort --quiet manager deploy --keystore "$dir/deployer.json" --password-file "$dir/password" >/dev/null
manager=$(sed -n 's/.*"address": *"\(0x[0-9a-fA-F]*\)".*/\1/p' "$dir/manager.json" | tr 'A-F' 'a-f')
say "manager at $manager"

# register_node I: node-I's key (made here, funded by the owner), registered at 127.0.0.1 and
# its port block (BASE + 2048 (I - 1)); sets `address`.
register_node() {
  address=$($cohort --quiet --json key new --out "$dir/node$1.json" --password-file "$dir/password" | sed -n 's/.*"address":[[:space:]]*"\(0x[0-9a-fA-F]*\)".*/\1/p')
  node_modules/.bin/cast send --rpc-url "$rpc" --private-key "$owner_key" --value 10ether "$address" >/dev/null
  say "registering node-$1 ($address) at 127.0.0.1:$((base + 2048 * ($1 - 1)))"
  $cohort --quiet node register --name "node-$1" --ip 127.0.0.1 --port "$((base + 2048 * ($1 - 1)))" \
    --keystore "$dir/node$1.json" --password-file "$dir/password" >/dev/null
}
# start_core I [FLAGS...]: node-I's cohort-core, in the background (its PID in pids and core_pids).
start_core() {
  local i=$1
  shift
  "$build/bin/cohort-core" --node-id "$i" --manager-rpc "$rpc" --manager-file "$dir/manager.json" \
    --state-dir "$dir/core$i" --api-port $((api + i)) --base-port "$((base + 2048 * (i - 1)))" --image "$image" \
    --keystore "$dir/node$i.json" --password-file "$dir/password" "$@" \
    --confirmations 0 --poll-ms 300 >"$dir/core$i.log" 2>&1 &
  pids+=($!)
  core_pids+=($!)
}

addresses=()
for i in $(seq 1 "$nodes"); do
  register_node "$i"
  addresses+=("$address")
done

# ---- The cluster: the node-cores keep their shared configuration in one config store ----
# (docs/cohort-core.md "Config store"): each node's key is a member, node i's BFT endpoint
# is 127.0.0.1:(CLUSTER_PORT + i), and the deployer's key is the cluster's admin.
cluster_port=${COHORT_DEVNET_CLUSTER_PORT:-$((api + 30))}
cluster_args=()
if [[ $nodes -ge 4 ]]; then  # a config store needs n = 3f+1 >= 4 members
cluster_args=(--cluster-file "$dir/cluster.json")
deployer_address=0x$(sed -n 's/.*"address":[[:space:]]*"\(0x\)\{0,1\}\([0-9a-fA-F]*\)".*/\2/p' "$dir/deployer.json" | head -1)
{ echo '{'
  echo '  "instance": 1,'
  echo '  "members": ['
  for i in $(seq 1 "$nodes"); do
    sep=,; [[ $i -eq $nodes ]] && sep=
    echo "    {\"address\": \"${addresses[$((i - 1))]}\", \"endpoint\": \"127.0.0.1:$((cluster_port + i))\"}$sep"
  done
  echo '  ],'
  echo "  \"admins\": [\"$deployer_address\"]"
  echo '}'
} > "$dir/cluster.json"
say "cluster config store: $nodes members, BFT on 127.0.0.1:$((cluster_port + 1))-$((cluster_port + nodes))"
else
  say "no cluster config store: it needs at least 4 nodes"
fi

upgrade_args=()
$upgrade && upgrade_args=(--upgrade-deadline-ms 15000)  # the failed upgrade below fails in 15 s, not 180
# The volume of a chain a node left goes in 5 s, not 10 min; a member silent for 5 s, not 11 min, is
# reported absent (the manager still wants 600 s by its clock: the test moves anvil's clock).
$rotation && upgrade_args=(--left-volume-grace-ms 5000 --absence-report-ms 5000)
for i in $(seq 1 "$nodes"); do start_core "$i" "${cluster_args[@]}" "${upgrade_args[@]}"; done

tiny_nodes=2
$upgrade && tiny_nodes=$nodes  # the upgrade's test: two chains of four members
say "creating chains: 'demo' (medium, on all $nodes nodes) and 'tiny' (small, on $tiny_nodes nodes)"
$cohort --quiet chain create --name demo --size medium --nodes "$nodes" --keystore "$dir/deployer.json" --password-file "$dir/password" >/dev/null
$cohort --quiet chain create --name tiny --size small --nodes "$tiny_nodes" --keystore "$dir/deployer.json" --password-file "$dir/password" >/dev/null

# Wait until every member of every chain answers on its port.
ports=$($cohort --json chain show demo | sed -n 's/.*"rpc_port":[[:space:]]*\([0-9]*\).*/\1/p')
ports+=" $($cohort --json chain show tiny | sed -n 's/.*"rpc_port":[[:space:]]*\([0-9]*\).*/\1/p')"
ok=false
for _ in $(seq 1 120); do
  ok=true
  for p in $ports; do curl -sf -o /dev/null "http://127.0.0.1:$p/healthz" || ok=false; done
  $ok && break
  sleep 0.5
done

$cohort node ls
echo
$cohort chain ls
echo
$cohort chain show demo
echo
$cohort chain status demo
echo
for i in $(seq 1 "$nodes"); do echo "node-$i:"; $cohort subnodes --api "http://127.0.0.1:$((api + i))"; echo; done

if ! $ok; then
  say "some subnodes did not answer; logs are in $dir"
  exit 1
fi

# ---- Metrics: every subnode sampled with live figures, history in PostgreSQL, Prometheus scraping ----
subnodes=$(echo $ports | wc -w)
metrics_ok=false
for _ in $(seq 1 60); do
  sampled=0
  for i in $(seq 1 "$nodes"); do
    sampled=$((sampled + $($cohort --json status --api "http://127.0.0.1:$((api + i))" 2>/dev/null | grep -cE '"usage_ok":[[:space:]]*true' || true)))
  done
  rows=$(PGPASSWORD=devnet psql -X -q -t -A -h 127.0.0.1 -p "$pg_port" -U cohort -d postgres \
    -c "SELECT count(DISTINCT (node_id, chain)) FROM cohort_samples" 2>/dev/null || echo 0)
  scraped=$subnodes
  if command -v prometheus >/dev/null; then
    scraped=$(curl -sf "http://127.0.0.1:$prom_port/api/v1/query?query=count(cohort_subnode_cpu_usage_seconds_total)" |
      sed -n 's/.*"value":\[[0-9.]*,"\([0-9]*\)"\].*/\1/p')
  fi
  if [[ $sampled -eq $subnodes && ${rows:-0} -eq $subnodes && ${scraped:-0} -eq $subnodes ]]; then metrics_ok=true; break; fi
  sleep 1
done
$cohort status --api "http://127.0.0.1:$((api + 1))"
echo
$cohort health --api "http://127.0.0.1:$((api + 1))" || true
echo
if ! $metrics_ok; then
  say "metrics: $sampled of $subnodes subnodes sampled, ${rows:-0} in PostgreSQL, ${scraped:-0} in Prometheus; logs are in $dir"
  exit 1
fi
say "metrics: all $subnodes subnodes sampled, in PostgreSQL and scraped by Prometheus"
say "every subnode answers: $(echo $ports | wc -w) of them"
if [[ ${#cluster_args[@]} -gt 0 ]]; then
  # One cluster: a setting written once to the store reaches every node's cohort-core
  # (docs/cohort-core.md "Settings from the cluster"); then it is deleted again.
  COHORT_STATE_DIR=$dir/core1 $cohort --quiet config put cohort/settings/log_level debug \
    --api "http://127.0.0.1:$((api + 1))" >/dev/null
  for i in $(seq 1 "$nodes"); do
    seen=false
    for _ in $(seq 1 100); do
      curl -sf "http://127.0.0.1:$((api + i))/api/v1/settings" | grep -q '"log_level":{"value":"debug","source":"cluster"' &&
        { seen=true; break; }
      sleep 0.1
    done
    $seen || { say "cluster: node-$i did not follow cohort/settings/log_level within 10 s; logs are in $dir"; exit 1; }
  done
  COHORT_STATE_DIR=$dir/core1 $cohort --quiet config del cohort/settings/log_level --api "http://127.0.0.1:$((api + 1))" >/dev/null
  say "cluster: one config store for the $nodes node-cores; a setting written once reached every node"
  if ! $faults && ! $upgrade && ! $rotation; then
    # Limits from the cluster's settings: every running subnode's memory and CPU quota change
    # in place (the same container, not restarted), and come back when the keys go.
    installs=$(for s in "$dir"/core*/node.json; do sed -n 's/.*"install_id": *"\([0-9a-f]*\)".*/\1/p' "$s"; done)
    # "ID STARTED MEMORY QUOTA" of this devnet's subnodes, by container name.
    limits_now() {
      docker ps -q --filter "label=cohort.chain" | xargs -r docker inspect --format \
        '{{.Name}} {{.Id}} {{.State.StartedAt}} {{.HostConfig.Memory}} {{.HostConfig.CpuQuota}} {{index .Config.Labels "cohort.install"}}' |
        grep -F "$installs" | cut -d' ' -f1-5 | sort
    }
    # The memory each node's API wants for each subnode, and whether it says it is applied.
    api_limits() {
      for i in $(seq 1 "$nodes"); do
        $cohort --json subnodes --api "http://127.0.0.1:$((api + i))" | tr -d ' \n\t' |
          sed 's/},{"chain"/}\n{"chain"/g; $a\\' | sed -n 's/.*"container":"\([^"]*\)".*"cpu_quota_us":\([0-9]*\).*"memory_bytes":\([0-9]*\).*"limits_applied":\([a-z]*\).*/\/\1 \3 \2 \4/p'
      done | sort
    }
    before=$(limits_now)
    [[ $(echo "$before" | grep -c .) -eq $subnodes ]] || { say "limits: $subnodes subnodes expected, docker shows: $before"; exit 1; }
    # agree WANT_QUOTA: docker's limits equal what every API wants, all applied, the same containers running since before.
    agree() {
      local now want; now=$(limits_now); want=$(api_limits)
      [[ $(echo "$want" | grep -c ' true$') -eq $subnodes ]] || return 1
      [[ "$(echo "$now" | awk '{print $1, $4, ($5 > 0 ? $5 : 0)}')" == "$(echo "$want" | awk '{print $1, $2, $3}')" ]] || return 1
      [[ "$(echo "$now" | cut -d' ' -f1-3)" == "$(echo "$before" | cut -d' ' -f1-3)" ]] || return 1
      [[ $1 == 0 ]] && echo "$now" | awk '$5 > 0 {bad = 1} END {exit bad}' && return 0
      [[ $1 == 1 ]] && echo "$now" | awk '$5 <= 0 {bad = 1} END {exit bad}' && return 0
      return 1
    }
    wait_agree() {
      for _ in $(seq 1 100); do agree "$1" && return 0; sleep 0.1; done
      say "limits: not applied in place within 10 s ($2)"; echo "docker:"; limits_now; echo "API:"; api_limits; exit 1
    }
    a1="--api http://127.0.0.1:$((api + 1))"
    COHORT_STATE_DIR=$dir/core1 $cohort --quiet config put cohort/settings/memory_factor 0.6 $a1 >/dev/null
    COHORT_STATE_DIR=$dir/core1 $cohort --quiet config put cohort/settings/cpu_quota_percent 12800 $a1 >/dev/null
    wait_agree 1 "memory_factor 0.6, cpu_quota_percent 12800"
    $cohort cluster settings --api "http://127.0.0.1:$((api + 2))" | tee "$dir/settings.txt"
    grep -qE '^memory_factor +0\.6 +cluster +[1-9]' "$dir/settings.txt" ||
      { say "cohort cluster settings: node-2 does not show memory_factor 0.6 from the cluster"; exit 1; }
    changed=$(limits_now)
    [[ "$(echo "$changed" | awk '{print $4}')" != "$(echo "$before" | awk '{print $4}')" ]] ||
      { say "limits: memory did not change"; exit 1; }
    COHORT_STATE_DIR=$dir/core1 $cohort --quiet config del cohort/settings/memory_factor $a1 >/dev/null
    COHORT_STATE_DIR=$dir/core1 $cohort --quiet config del cohort/settings/cpu_quota_percent $a1 >/dev/null
    wait_agree 0 "the keys deleted"
    [[ "$(limits_now | awk '{print $4}')" == "$(echo "$before" | awk '{print $4}')" ]] ||
      { say "limits: memory did not come back"; exit 1; }
    say "cluster: memory and CPU limits set in the store reached all $subnodes subnodes in place, and went back"

    # A node registered later joins the cluster (docs/cohort-core.md "Membership"): an admin
    # (the deployer) adds its key through the log, and on the new node one command puts the
    # signed document in its state dir; its cohort-core then fetches the store from the others.
    j=$((nodes + 1))
    register_node "$j"
    COHORT_STATE_DIR=$dir/core1 $cohort --quiet cluster member add "$address" "127.0.0.1:$((cluster_port + j))" \
      --keystore "$dir/deployer.json" --password-file "$dir/password" --out "$dir/join$j.doc" $a1 >/dev/null
    $cohort cluster join "$dir/join$j.doc" --state-dir "$dir/core$j" --cluster-file "$dir/cluster.json"
    start_core "$j" "${cluster_args[@]}"
    digest_of() { curl -sf "http://127.0.0.1:$((api + $1))/api/v1/config/status" | sed -n 's/.*"digest":"\(0x[0-9a-f]*\)".*/\1/p'; }
    joined=false  # a member of the running epoch, a write through it, and the same store as node-1's
    for _ in $(seq 1 200); do
      curl -sf "http://127.0.0.1:$((api + j))/api/v1/config/status" | grep -q '"member":true,"running":true' && break
      sleep 0.1
    done
    if COHORT_STATE_DIR=$dir/core$j $cohort --quiet config put cohort/joined "node-$j" --api "http://127.0.0.1:$((api + j))" >/dev/null; then
      for _ in $(seq 1 100); do
        [[ -n "$(digest_of "$j")" && "$(digest_of "$j")" == "$(digest_of 1)" ]] && { joined=true; break; }
        sleep 0.1
      done
    fi
    $cohort cluster members $a1
    $joined || { say "cluster: node-$j did not join the cluster's store (a write through it, the same digest) in 30 s; logs are in $dir"; exit 1; }
    say "cluster: node-$j, registered later, joined the cluster's store with one command (epoch 1, $j members)"
  fi
fi
if $upgrade; then
  # Images: a second one (the same files and one more label, so another digest) and one whose
  # subnode cannot start; both built from the local image (no registry).
  variant_tag=cohort-subnode:upgrade-test-$$ broken_tag=cohort-subnode:upgrade-broken-$$
  printf 'FROM %s\nLABEL cohort.test=upgrade-%s\n' "$image" "$$" | docker build -q --label cohort.test=upgrade -t "$variant_tag" - >/dev/null
  printf 'FROM %s\nENTRYPOINT ["/usr/bin/cohort-subnode", "--no-such-flag"]\n' "$image" |
    docker build -q --label cohort.test=upgrade -t "$broken_tag" - >/dev/null
  id_of() { docker image inspect --format '{{.Id}}' "$1"; }
  a1="--api http://127.0.0.1:$((api + 1))"
  installs=$(for s in "$dir"/core*/node.json; do sed -n 's/.*"install_id": *"\([0-9a-f]*\)".*/\1/p' "$s"; done)
  # This devnet's subnodes as "IMAGE NODE CHAIN" lines (one replaced between ps and inspect is not counted this time).
  subnode_images() {
    docker ps -q --filter "label=cohort.chain" | xargs -r docker inspect --format \
      '{{.Image}} {{index .Config.Labels "cohort.node"}} {{index .Config.Labels "cohort.chain"}} {{index .Config.Labels "cohort.install"}}' \
      2>/dev/null | grep -F "$installs" | cut -d' ' -f1-3 || true
  }
  declare -A chain_ports chain_nonce chain_last chain_at
  longest=0
  for c in demo tiny; do
    chain_ports[$c]=$($cohort --json chain show "$c" | sed -n 's/.*"rpc_port":[[:space:]]*\([0-9]*\).*/\1/p' | tr '\n' ' ')
    chain_nonce[$c]=$(node_modules/.bin/cast nonce --rpc-url "http://127.0.0.1:$(echo ${chain_ports[$c]} | cut -d' ' -f1)" \
      "$(node_modules/.bin/cast wallet address --private-key "$owner_key")")
    chain_last[$c]=0 chain_at[$c]=$(date +%s)
  done
  # One transaction to each chain (to the first member that takes it), then each chain's
  # height: the longest time either went without a block (a lost quorum shows as a long one).
  tick() {
    local c p h best now
    for c in demo tiny; do
      for p in ${chain_ports[$c]}; do
        node_modules/.bin/cast send --async --rpc-url "http://127.0.0.1:$p" --private-key "$owner_key" --nonce "${chain_nonce[$c]}" \
          --value 1 0x000000000000000000000000000000000000dEaD >/dev/null 2>&1 && { chain_nonce[$c]=$((chain_nonce[$c] + 1)); break; }
      done
      best=0
      for p in ${chain_ports[$c]}; do
        h=$(node_modules/.bin/cast block-number --rpc-url "http://127.0.0.1:$p" 2>/dev/null || echo 0)
        [[ $h =~ ^[0-9]+$ && $h -gt $best ]] && best=$h
      done
      now=$(date +%s)
      if (( best > chain_last[$c] )); then chain_last[$c]=$best chain_at[$c]=$now; fi
      if (( now - chain_at[$c] > longest )); then longest=$((now - chain_at[$c])); fi
    done
    return 0
  }
  sign() {  # an admin (the deployer) signs TAG into the cluster's store
    say "upgrade: an admin signs $1 ($(id_of "$1")) into the cluster's store"
    COHORT_STATE_DIR=$dir/core1 $cohort cluster image set "$1" --keystore "$dir/deployer.json" --password-file "$dir/password" $a1 >/dev/null
  }
  status() { COHORT_STATE_DIR=$dir/core1 $cohort cluster upgrade status $a1 "$@"; }
  # wait_for WHAT TEST: ticks until TEST (a command) holds, for 300 s at most.
  wait_for() {
    local start=$(date +%s)
    while (( $(date +%s) - start < 300 )); do
      tick
      if $2; then say "upgrade: $1 after $(( $(date +%s) - start )) s; longest wait for a block so far: $longest s"; return 0; fi
      sleep 1
    done
    status || true
    say "upgrade: not within 300 s: $1; logs are in $dir"
    exit 1
  }
  all_on() { [[ $(subnode_images | grep -c "^$want ") -eq $subnodes ]] && status 2>/dev/null | grep -q "^$subnodes subnodes on the cluster's image $want, 0 not yet"; }
  all_but_node2_on() {
    local lines; lines=$(subnode_images)
    [[ $(echo "$lines" | grep -c " [^2] ") -eq $(echo "$lines" | grep " [^2] " | grep -c "^$want ") &&
       $(echo "$lines" | grep -c .) -eq $subnodes && $(echo "$lines" | grep " 2 " | grep -c "^$want ") -eq 0 ]] &&
      status 2>/dev/null | grep -qE '^2 +demo +maintenance' && status 2>/dev/null | grep -qE '^2 +tiny +maintenance'
  }

  # 1. Node 2 in maintenance: the others move to the second image, node 2 keeps its subnodes
  #    and says why; out of maintenance, it moves too.
  COHORT_STATE_DIR=$dir/core1 $cohort config put cohort/nodes/2/maintenance true $a1 >/dev/null
  sign "$variant_tag"; want=$(id_of "$variant_tag")
  wait_for "every subnode but node 2's on the second image, node 2 in maintenance" all_but_node2_on
  status
  COHORT_STATE_DIR=$dir/core1 $cohort config del cohort/nodes/2/maintenance $a1 >/dev/null
  wait_for "every subnode on the second image" all_on
  $cohort cluster image show --api "http://127.0.0.1:$((api + 2))"
  # 2. Back to the first image: a new decision, so the next serial (the CLI takes it).
  sign "$image"; want=$(id_of "$image")
  wait_for "every subnode back on the first image" all_on
  # 3. A member's key is no admin's: the document is written (members may write) but every node refuses it.
  COHORT_STATE_DIR=$dir/core1 $cohort cluster image set "$variant_tag" --keystore "$dir/node1.json" --password-file "$dir/password" $a1 >/dev/null
  refused() { curl -sf "http://127.0.0.1:$((api + 3))/api/v1/image" | grep -q 'not an admin'; }
  wait_for "node 3 refuses an image signed by a member's key" refused
  # 4. An image whose subnode never starts: the first replacement of each chain is not ready
  #    within the deadline, the upgrade stops (cohort/upgrade/failed) and the chains keep their
  #    other members on the first image and their quorum.
  sign "$broken_tag"
  failed() { ! status >"$dir/upgrade-status.txt" 2>&1 && grep -q "FAILED" "$dir/upgrade-status.txt"; }
  wait_for "the upgrade to the broken image stopped" failed
  for _ in 1 2 3 4 5; do tick; sleep 1; done  # had it gone on, more members would take the broken image now
  cat "$dir/upgrade-status.txt"
  broken=$(id_of "$broken_tag")
  for c in demo tiny; do
    n=$(docker ps -aq --filter "label=cohort.chain=$c" | xargs -r docker inspect --format '{{.Image}} {{index .Config.Labels "cohort.install"}}' |
      grep -F "$installs" | grep -c "^$broken" || true)
    (( n <= 1 )) || { say "upgrade: $n members of $c took the broken image: the upgrade did not stop"; exit 1; }
  done
  # 5. A new signed image clears the failure and the cluster goes on.
  sign "$image"; want=$(id_of "$image")
  wait_for "every subnode on the first image again" all_on
  (( longest <= 30 )) || { say "upgrade: a chain made no block for $longest s: it lost its quorum"; exit 1; }
  say "upgrade: done; neither chain waited more than $longest s for a block (heights: demo ${chain_last[demo]}, tiny ${chain_last[tiny]})"
  exit 0
fi
if $rotation; then
  # Rotation (docs/chain.md "Rotation"): a fifth node registers with room; node $nodes, a member
  # of 'demo', starts its exit under load. The manager picks the fifth for its place; the
  # members' cohort-cores vouch for it in the chain's log, the chain moves to its next epoch,
  # the fifth node's subnode installs the state, the members sign that it is done and one of
  # them completes the rotation on the manager; node $nodes's subnode and volume go, and its
  # exit completes.
  j=$((nodes + 1)) leaving=$nodes
  register_node "$j"
  start_core "$j" "${upgrade_args[@]}"
  say "rotation: node-$j registered with room, its cohort-core runs"
  installs=$(for s in "$dir"/core*/node.json; do sed -n 's/.*"install_id": *"\([0-9a-f]*\)".*/\1/p' "$s"; done)
  demo_ports() { $cohort --json chain show demo | sed -n 's/.*"rpc_port":[[:space:]]*\([0-9]*\).*/\1/p' | tr '\n' ' '; }
  ports_now=$(demo_ports)
  nonce=$(node_modules/.bin/cast nonce --rpc-url "http://127.0.0.1:$(echo $ports_now | cut -d' ' -f1)" \
    "$(node_modules/.bin/cast wallet address --private-key "$owner_key")")
  last=0 at=$(date +%s) longest=0 sent=0
  tick() {  # one transfer to 'demo' (the first member that takes it), and the longest wait for a block
    local p h best=0 now
    for p in $ports_now; do
      node_modules/.bin/cast send --async --rpc-url "http://127.0.0.1:$p" --private-key "$owner_key" --nonce "$nonce" \
        --value 1 0x000000000000000000000000000000000000dEaD >/dev/null 2>&1 && { nonce=$((nonce + 1)); sent=$((sent + 1)); break; }
    done
    for p in $ports_now; do
      h=$(node_modules/.bin/cast block-number --rpc-url "http://127.0.0.1:$p" 2>/dev/null || echo 0)
      [[ $h =~ ^[0-9]+$ && $h -gt $best ]] && best=$h
    done
    now=$(date +%s)
    if (( best > last )); then last=$best at=$now; fi
    if (( now - at > longest )); then longest=$((now - at)); fi
    return 0
  }
  wait_for() {  # wait_for WHAT TEST: ticks until TEST holds, for 300 s at most
    local start=$(date +%s)
    while (( $(date +%s) - start < 300 )); do
      tick
      if $2; then say "rotation: $1 after $(( $(date +%s) - start )) s; longest wait for a block so far: $longest s"; return 0; fi
      sleep 1
    done
    $cohort chain show demo || true
    say "rotation: not within 300 s: $1; logs are in $dir"
    exit 1
  }
  for _ in 1 2 3; do tick; sleep 1; done
  $cohort node exit "$leaving" --keystore "$dir/node$leaving.json" --password-file "$dir/password"
  joiner_runs() { $cohort subnodes --api "http://127.0.0.1:$((api + j))" 2>/dev/null | grep -qE '^demo .*running'; }
  wait_for "node-$j's subnode of demo runs" joiner_runs
  # The joining subnode is killed as soon as it runs (mid-rotation, or just after): its
  # cohort-core starts it again and it still ends in step with the others (checked below).
  install_j=$(sed -n 's/.*"install_id": *"\([0-9a-f]*\)".*/\1/p' "$dir/core$j/node.json")
  joiner=$(docker ps -q --filter "label=cohort.chain=demo" --filter "label=cohort.install=$install_j" | head -1)
  [[ -n "$joiner" ]] || { say "rotation: node-$j's subnode of demo is not among the running containers"; exit 1; }
  docker kill "$joiner" >/dev/null
  say "rotation: node-$j's subnode of demo killed (SIGKILL)"
  completed() { $cohort chain show demo >"$dir/demo-show.txt" 2>&1 && ! grep -q "rotation in flight" "$dir/demo-show.txt" &&
                grep -qE "^epoch [1-9]" "$dir/demo-show.txt" && grep -qE "^ *$j +node-$j " "$dir/demo-show.txt"; }
  wait_for "the rotation of demo completed on the manager (node-$j a member, epoch 1)" completed
  cat "$dir/demo-show.txt"
  ports_now=$(demo_ports)
  leaving_gone() {
    ! docker ps -aq --filter "label=cohort.chain=demo" --filter "label=cohort.node=$leaving" | xargs -r docker inspect \
        --format '{{index .Config.Labels "cohort.install"}}' | grep -qF "$installs" &&
    ! docker volume ls -q --filter "label=cohort.chain=demo" --filter "label=cohort.node=$leaving" | xargs -r docker volume inspect \
        --format '{{index .Labels "cohort.install"}}' | grep -qF "$installs"
  }
  wait_for "node-$leaving's subnode and volume of demo are gone" leaving_gone
  # The four members of the new epoch agree on a block made after the change: same hash, so same state root.
  same_head() {
    local p h min=0 hashes
    for p in $ports_now; do h=$(node_modules/.bin/cast block-number --rpc-url "http://127.0.0.1:$p" 2>/dev/null || echo 0)
      (( min == 0 || h < min )) && min=$h; done
    (( min > last_before )) || return 1
    hashes=$(for p in $ports_now; do node_modules/.bin/cast block "$min" --field stateRoot --rpc-url "http://127.0.0.1:$p" 2>/dev/null; done | sort -u | grep -c .)
    [[ $hashes -eq 1 ]]
  }
  last_before=$last
  wait_for "demo's four members (node-$j among them) agree on the state root of block $((last_before + 1)) or later" same_head
  $cohort chain status demo | tee "$dir/status.txt"
  grep -q "4 of 4 members answer" "$dir/status.txt" || { say "rotation: not every member of demo answers"; exit 1; }
  exited() { $cohort --quiet node exit "$leaving" --complete --keystore "$dir/node$leaving.json" --password-file "$dir/password" >/dev/null 2>&1; }
  wait_for "node-$leaving's exit completed (every rotation it started is done)" exited
  (( longest <= 15 )) || { say "rotation: demo made no block for $longest s"; exit 1; }
  say "rotation: done; $sent transfers sent during it, demo never waited more than $longest s for a block"

  # Absence (docs/chain.md "Absence"): node 3 dies for good (its cohort-core and its
  # subnodes). The other members' subnodes stop hearing it; their cohort-cores sign that it
  # is absent since then, the statements meet in the chain's log, and once the manager's
  # clock is 600 s past that time (anvil's clock is moved), one of them reports it; a sixth
  # node takes its place as in an exit.
  k=$((j + 1)) dead=3
  register_node "$k"
  start_core "$k" "${upgrade_args[@]}"
  say "absence: node-$k registered with room, its cohort-core runs"
  kill "${core_pids[$((dead - 1))]}"
  wait "${core_pids[$((dead - 1))]}" 2>/dev/null || true
  install_dead=$(sed -n 's/.*"install_id": *"\([0-9a-f]*\)".*/\1/p' "$dir/core$dead/node.json")
  ids=$(docker ps -q --filter "label=cohort.install=$install_dead")
  [[ -n "$ids" ]] && docker kill $ids >/dev/null
  say "absence: node-$dead killed for good (its cohort-core and its subnodes)"
  ports_now=$(demo_ports)
  signed() { [[ $(grep -l "signs that a member of its chain is absent.*chain=demo node=$dead " "$dir"/core*.log | wc -l) -ge 3 ]]; }
  wait_for "the three other members' nodes signed that node-$dead is absent" signed
  node_modules/.bin/cast rpc --rpc-url "$rpc" evm_increaseTime 700 >/dev/null
  node_modules/.bin/cast rpc --rpc-url "$rpc" evm_mine >/dev/null
  reported() { grep -q "a member's absence reported to the manager.*chain=demo node=$dead " "$dir"/core*.log; }
  wait_for "a member reported node-$dead absent to the manager" reported
  replaced() { $cohort chain show demo >"$dir/demo-show.txt" 2>&1 && ! grep -q "rotation in flight" "$dir/demo-show.txt" &&
               grep -qE "^ *$k +node-$k " "$dir/demo-show.txt" && ! grep -qE "^ *$dead +node-$dead " "$dir/demo-show.txt"; }
  wait_for "the rotation of demo completed: node-$k in node-$dead's place" replaced
  cat "$dir/demo-show.txt"
  ports_now=$(demo_ports)
  last_before=$last
  wait_for "demo's four members (node-$k among them) agree on the state root of block $((last_before + 1)) or later" same_head
  say "absence: done; demo never waited more than $longest s for a block"
  exit 0
fi
if $faults; then
  # A Byzantine variant of the subnode image (equivocates as leader, names wrong heads,
  # sends garbage frames: the cohort-subnode-byzantine test build), for the last step.
  byzantine_tag=cohort-subnode:byzantine-test-$$
  ctx=$(mktemp -d)
  cp "$build/bin/cohort-subnode-byzantine" "$ctx/"
  printf 'FROM %s\nCOPY cohort-subnode-byzantine /usr/bin/cohort-subnode-byzantine\nENTRYPOINT ["/usr/bin/cohort-subnode-byzantine", "--equivocate", "--lie-about-head", "--garbage"]\n' \
    "$image" >"$ctx/Dockerfile"
  docker build -q --label cohort.test=faults -t "$byzantine_tag" "$ctx" >/dev/null
  rm -rf "$ctx"
  # The cohort-cores' PIDs, node 1 first.
  COHORT_BYZANTINE_IMAGE=$byzantine_tag node scripts/chain-faults.mjs "$cohort" "$dir" "$api" demo "$owner_key" "${core_pids[@]}"
  exit 0
fi
if $check; then
  node scripts/devnet-chains.mjs "$cohort" "$dir" "$owner_key" --check node_modules/.bin/cast
  # What a new user does next, with the printed URL and key: ethers and cast deploy and use a
  # contract (tests/integration/chain/clients.mjs) on 'demo', through its second member's
  # HTTP and WebSocket, so that every transaction reaches the others through the log.
  read -r demo_rpc demo_ws demo_id < <(node -e 'const d = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).find((c) => c.name === "demo");
      console.log(d.rpc[1], d.ws[1], d.evm_chain_id)' "$dir/chains.json")
  say "ethers and cast on demo through $demo_rpc"
  node tests/integration/chain/clients.mjs --rpc "$demo_rpc" --ws "$demo_ws" --key "$owner_key" --chain-id "$demo_id" \
    --cast node_modules/.bin/cast || { say "ethers and cast: a check failed on demo"; exit 1; }
  $cohort chain status demo | tee "$dir/status.txt"
  grep -q "$nodes of $nodes members answer; height" "$dir/status.txt" || { say "cohort chain status: not every member of demo answers"; exit 1; }
  # Every member knows where the others are (behind_known) and is in step with them.
  $cohort --json chain status demo > "$dir/status.json"
  node -e 'for (const r of JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")))
             if (typeof r.behind !== "number" || r.behind > 16) { console.error(`member ${r.member}: behind ${r.behind}`); process.exit(1); }' \
    "$dir/status.json" || { say "cohort chain status: a member of demo is behind, or does not know"; exit 1; }
  exit 0
fi
echo
node scripts/devnet-chains.mjs "$cohort" "$dir" "$owner_key"
cat <<EOT

The devnet runs. Try:
  export COHORT_MANAGER_RPC=$rpc COHORT_MANAGER_FILE=$dir/manager.json
  $cohort chain create --name mine --size small --nodes 3 --keystore $dir/deployer.json --password-file $dir/password
  $cohort subnodes --api http://127.0.0.1:$((api + 1))
  curl -s http://127.0.0.1:$(echo $ports | cut -d' ' -f1)/status
Ctrl-C stops it and removes its containers.
EOT
if [[ ${#cluster_args[@]} -gt 0 ]]; then cat <<EOT
The cluster's config store, shared by the $((nodes + 1)) node-cores (node-$((nodes + 1)) joined later; docs/cohort-core.md "Config store"):
  export COHORT_STATE_DIR=$dir/core1      (where the CLI finds node-1's API token)
  $cohort config put cohort/settings/poll_ms 500 --api http://127.0.0.1:$((api + 1))
  curl -s http://127.0.0.1:$((api + 2))/api/v1/settings
  $cohort config status --api http://127.0.0.1:$((api + 1))
  $cohort cluster members --api http://127.0.0.1:$((api + 1))
EOT
fi
cat <<EOT
Metrics (docs/metrics.md):
  $cohort status --api http://127.0.0.1:$((api + 1))      (also: health, metrics, usage)
  the page:    http://127.0.0.1:$((api + 1))/
  Prometheus:  $(command -v prometheus >/dev/null && echo "http://127.0.0.1:$prom_port" || echo "not installed")
  PostgreSQL:  PGPASSWORD=devnet psql -h 127.0.0.1 -p $pg_port -U cohort -d postgres
EOT
wait
