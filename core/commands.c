/* commands.c - the root of the `cohort` command tree. Later groups add an entry each. */
#include "commands.h"

#include <stdio.h>
#include <string.h>

static int cmd_version(const struct cli_command *self, int argc, char **argv, struct cli_globals *g)
{
    if (cli_parse_flags(argc, argv, NULL, NULL, 0, NULL, g) != 0) return COHORT_EXIT_USAGE;
    if (g->json) fprintf(g->out, "{\"version\":\"%s\"}\n", COHORT_VERSION);
    else fprintf(g->out, "cohort %s\n", COHORT_VERSION);
    return COHORT_EXIT_OK;
}

#define MANAGER_OPTIONS                                                                                               \
    "  --rpc URL              JSON-RPC of the manager chain (or $COHORT_MANAGER_RPC)\n"                                   \
    "  --manager FILE         deployment file (or $COHORT_MANAGER_FILE; default ~/.cohort/manager.json)\n"
#define SIGNER_OPTIONS                                                                                                \
    "  --keystore FILE        the V3 keystore of the signing key\n"                                              \
    "  --password-file FILE   its password (first line); without it, a prompt on the terminal\n"

static const struct cli_command key_children[] = {
    {.name = "new", .summary = "make a new key in a V3 keystore file", .handler = cmd_key_new,
     .usage = "Usage: cohort key new --out FILE [--password-file FILE]\n\n"
              "Writes a fresh secp256k1 key, encrypted (scrypt, aes-128-ctr) the way geth, ethers and\n"
              "cast do, with mode 0600. An existing file is never replaced. Prints the address.\n"},
    {.name = "import", .summary = "put an existing private key into a V3 keystore file", .handler = cmd_key_import,
     .usage = "Usage: cohort key import --private-key-file FILE --out FILE [--password-file FILE]\n\n"
              "The private key (64 hex digits, 0x optional) is read from a file, never from the\n"
              "command line.\n"},
    {.name = NULL},
};

static const struct cli_command manager_children[] = {
    {.name = "deploy", .summary = "deploy the manager contracts and write the deployment file",
     .handler = cmd_manager_deploy,
     .usage = "Usage: cohort manager deploy --rpc URL --keystore FILE [--manager FILE] [--force]\n\n" MANAGER_OPTIONS
              SIGNER_OPTIONS "  --force                replace an existing deployment file\n"},
    {.name = NULL},
};

static const struct cli_command node_children[] = {
    {.name = "register", .summary = "register this server as a node on the manager", .handler = cmd_node_register,
     .usage = "Usage: cohort node register --name NAME --ip IP --port PORT [--domain DOMAIN]\n"
              "                            --rpc URL --keystore FILE\n\n"
              "Registers a node owned by the keystore's address, with its public key. PORT is the\n"
              "node's base port: slot s of the node uses PORT + 8s .. PORT + 8s + 7. Checks the chain,\n"
              "the balance and the name first; prints the node id.\n\n" MANAGER_OPTIONS SIGNER_OPTIONS},
    {.name = "info", .summary = "show one node", .handler = cmd_node_info,
     .usage = "Usage: cohort node info ID|NAME --rpc URL\n\n" MANAGER_OPTIONS},
    {.name = "ls", .summary = "list the nodes", .handler = cmd_node_ls,
     .usage = "Usage: cohort node ls [--owner ADDRESS] --rpc URL\n\n" MANAGER_OPTIONS},
    {.name = "exit", .summary = "start (or with --complete, finish) a node's exit", .handler = cmd_node_exit,
     .usage = "Usage: cohort node exit ID|NAME [--complete] --rpc URL --keystore FILE\n\n"
              "A node that still serves chains cannot leave: delete them first (rotation to other\n"
              "nodes is not built yet).\n\n" MANAGER_OPTIONS SIGNER_OPTIONS},
    {.name = NULL},
};

static const struct cli_command chain_children[] = {
    {.name = "create", .summary = "create a chain on N nodes", .handler = cmd_chain_create,
     .usage = "Usage: cohort chain create --name NAME --size small|medium|large --nodes N\n"
              "                           --rpc URL --keystore FILE\n\n"
              "small takes 1 of a node's 128 slots, medium 16, large all 128. The manager picks N\n"
              "nodes with room and emits the events that make their cohort-cores start subnodes.\n\n" MANAGER_OPTIONS
                  SIGNER_OPTIONS},
    {.name = "ls", .summary = "list the chains", .handler = cmd_chain_ls,
     .usage = "Usage: cohort chain ls --rpc URL\n\n" MANAGER_OPTIONS},
    {.name = "show", .summary = "show a chain and where its subnodes listen", .handler = cmd_chain_show,
     .usage = "Usage: cohort chain show NAME|ID --rpc URL\n\n" MANAGER_OPTIONS},
    {.name = "status", .summary = "a chain's height and each member's view of it", .handler = cmd_chain_status,
     .usage = "Usage: cohort chain status NAME|ID --rpc URL\n\n"
              "Asks every member's subnode for its status: health, height, head, the age of its last\n"
              "block, connected peers, its BFT view, how many heights it is behind the others (\"?\"\n"
              "until enough of them told it where they are), its pool. A member that does not answer\n"
              "is shown as unreachable. The leader of a view is member view mod members.\n\n" MANAGER_OPTIONS},
    {.name = "delete", .summary = "delete a chain (its owner only)", .handler = cmd_chain_delete,
     .usage = "Usage: cohort chain delete NAME|ID --rpc URL --keystore FILE\n\n" MANAGER_OPTIONS SIGNER_OPTIONS},
    {.name = "rotate", .summary = "replace a member of a chain by another node", .handler = cmd_chain_rotate,
     .usage = "Usage: cohort chain rotate NAME|ID --node N|--leaving N --rpc URL --keystore FILE\n\n"
              "--node N: the chain's owner replaces member N (id or name) by a node the manager picks.\n"
              "--leaving N: anyone starts the rotation of this chain off member N, a node whose exit\n"
              "started (initExit rotates 4 of a node's chains itself, and none while no node has room).\n"
              "One rotation per chain at a time; `cohort chain show` shows the one in flight.\n\n" MANAGER_OPTIONS
                  SIGNER_OPTIONS},
    {.name = NULL},
};

#define API_OPTION "  --api URL              cohort-core's local API (http://127.0.0.1:9100)\n"
/* The store's data routes need the API's token (core/api_token.h). */
#define TOKEN_OPTION                                                                                        \
    API_OPTION "  --token-file PATH      that cohort-core's API token (else $COHORT_API_TOKEN_FILE, else\n"    \
               "                         $COHORT_STATE_DIR/api.token, else /var/lib/cohort/api.token)\n"

static const struct cli_command cluster_image_children[] = {
    {.name = "set", .summary = "sign an image's digest as an admin and make it the cluster's", .handler = cmd_cluster_image_set,
     .usage = "Usage: cohort cluster image set IMAGE --keystore ADMIN.json [--password-file F] [--serial N] [--api URL]\n\n"
              "IMAGE is a digest (sha256:...) or a tag the local dockerd has. Signs (digest, serial) with an admin key\n"
              "of the cluster file and writes it to cohort/image; every cohort-core of the cluster then makes\n"
              "its new subnodes from that image only and replaces the others chain by chain, at most f members\n"
              "of a chain at a time (docs/cohort-core.md \"The image from the cluster\"). The serial defaults\n"
              "to the one in the store plus one; a node refuses a lower serial than the one it follows.\n"},
    {.name = "show", .summary = "the image this node runs and wants, and each subnode's upgrade state", .handler = cmd_cluster_image_show,
     .usage = "Usage: cohort cluster image show [--api URL] [--json]\n"},
    {.name = NULL}};

static const struct cli_command cluster_upgrade_children[] = {
    {.name = "status", .summary = "every node's subnodes: on the cluster's image or not yet", .handler = cmd_cluster_upgrade_status,
     .usage = "Usage: cohort cluster upgrade status [--api URL] [--json]\n\n"
              "Reads the reports the nodes write to cohort/upgrade/nodes/ and a failure in cohort/upgrade/failed\n"
              "(exit 1 when there is one). Put a node in maintenance (skipped by upgrades) with\n"
              "`cohort config put cohort/nodes/ID/maintenance true`.\n"},
    {.name = NULL}};

static const struct cli_command cluster_member_children[] = {
    {.name = "add", .summary = "add a node-core to the cluster's members (an admin signs)", .handler = cmd_cluster_member_add,
     .usage = "Usage: cohort cluster member add ADDRESS ENDPOINT --keystore ADMIN.json [--password-file F] [--out FILE]\n"
              "       [--api URL]\n\n"
              "Makes the next epoch of the cluster's membership: the current members and ADDRESS (the new\n"
              "node's key) at ENDPOINT (its BFT ip:port), signed by an admin of the cluster file, written\n"
              "through the log (docs/cohort-core.md \"Membership\"). Once committed, every member moves to\n"
              "the new epoch. --out writes the signed document; on the new node run\n"
              "`cohort cluster join FILE`, then start its cohort-core: it fetches the store from the others.\n\n"
              TOKEN_OPTION},
    {.name = "remove", .summary = "remove a node-core from the cluster's members (an admin signs)",
     .handler = cmd_cluster_member_remove,
     .usage = "Usage: cohort cluster member remove ADDRESS --keystore ADMIN.json [--password-file F] [--api URL]\n\n"
              "Makes the next epoch without ADDRESS. A cluster keeps at least 4 members: to replace one,\n"
              "add the new one first, then remove the old one. The removed node keeps its copy of the\n"
              "store and orders nothing more.\n\n" TOKEN_OPTION},
    {.name = NULL}};

static const struct cli_command cluster_children[] = {
    {.name = "members", .summary = "the cluster's current membership epoch and its members", .handler = cmd_cluster_members,
     .usage = "Usage: cohort cluster members [--api URL]\n"},
    {.name = "member", .summary = "change the members: add, remove", .children = cluster_member_children},
    {.name = "join", .summary = "make this node a member of a running cluster from a members document",
     .handler = cmd_cluster_join,
     .usage = "Usage: cohort cluster join FILE --state-dir DIR --cluster-file FILE\n\n"
              "Checks the members document `cohort cluster member add --out` wrote (an admin of the cluster\n"
              "file signed it) and puts it in the state dir, so that cohort-core starts as a member of that\n"
              "epoch: it fetches the store's state from the other members, and follows any later epoch.\n"},
    {.name = "image", .summary = "the image the cluster runs: set, show", .children = cluster_image_children},
    {.name = "upgrade", .summary = "the rolling upgrade: status", .children = cluster_upgrade_children},
    {.name = "settings", .summary = "the node settings this node runs with, and where each came from",
     .handler = cmd_cluster_settings,
     .usage = "Usage: cohort cluster settings [--api URL] [--json]\n\n"
              "Each setting cohort-core follows from the cluster's store (docs/cohort-core.md \"Settings from\n"
              "the cluster\"): its value, where it came from (local: the node's own configuration;\n"
              "cluster: cohort/settings/NAME; node: cohort/nodes/ID/settings/NAME) and the store\n"
              "revision of that key; then the keys refused, and why. Change one with\n"
              "`cohort config put cohort/settings/NAME VALUE`.\n"},
    {.name = NULL}};

static const struct cli_command config_children[] = {
    {.name = "get", .summary = "read a key, or every key under a prefix", .handler = cmd_config_get,
     .usage = "Usage: cohort config get KEY [--prefix] [--serializable] [--limit N] [--api URL] [--json]\n\n"
              "A linearizable read: it is ordered through the cluster's log like a write, so it sees\n"
              "every write that finished before it began. --serializable reads this node's copy\n"
              "instead: faster, and possibly behind the cluster.\n\n"
              "  --prefix               every key that starts with KEY, in byte order\n"
              "  --limit N              at most N keys (10000)\n" TOKEN_OPTION},
    {.name = "put", .summary = "write a key (optionally only if it is unchanged)", .handler = cmd_config_put,
     .usage = "Usage: cohort config put KEY VALUE [--if-mod-revision N | --if-value V | --if-absent] [--api URL]\n\n"
              "Writes KEY once the cluster commits it and prints the store's new revision. With a\n"
              "condition, the write is a compare-and-swap: it happens only if KEY was last changed at\n"
              "revision N (0: absent), holds V, or does not exist; otherwise nothing is written and\n"
              "the command fails, saying what KEY holds. Keys are 1-512 bytes, values up to 64 KiB.\n\n" TOKEN_OPTION},
    {.name = "del", .summary = "delete a key, or every key under a prefix", .handler = cmd_config_del,
     .usage = "Usage: cohort config del KEY [--prefix] [--api URL]\n\nPrints how many keys went and the revision.\n\n"
              TOKEN_OPTION},
    {.name = "watch", .summary = "print changes under a prefix as they are committed", .handler = cmd_config_watch,
     .usage = "Usage: cohort config watch [PREFIX] [--from-revision N] [--count N] [--api URL] [--json]\n\n"
              "One line per change: revision, put or delete, key, value. From --from-revision N (which\n"
              "may be in the past, as far as the node's history reaches), else from now. Runs until\n"
              "interrupted, or until --count changes were printed.\n\n" TOKEN_OPTION},
    {.name = "status", .summary = "this member's view of the config store's log", .handler = cmd_config_status,
     .usage = "Usage: cohort config status [--api URL] [--json]\n\n"
              "Every field of GET /api/v1/config/status (docs/cohort-core.md lists them): member\n"
              "index, leader, connected peers, height, committed entries, revision, the store's\n"
              "digest (equal on members that hold the same store), the WAL, snapshots, syncs.\n"
              "--json prints the API's object as it is.\n\n" API_OPTION},
    {.name = NULL},
};

static const struct cli_command root_children[] = {
    {.name = "key", .summary = "make or import signing keys (V3 keystores)", .children = key_children},
    {.name = "manager", .summary = "deploy the manager contracts", .children = manager_children},
    {.name = "node", .summary = "register and inspect validator nodes", .children = node_children},
    {.name = "chain", .summary = "create, list and delete chains", .children = chain_children},
    {.name = "config", .summary = "the cluster's config store: get, put, del, watch, status", .children = config_children},
    {.name = "cluster", .summary = "the cluster's members, the image it runs, the rolling upgrade, the node settings", .children = cluster_children},
    {.name = "subnodes",
     .summary = "list this node's subnodes: chain, state, slots, limits, restarts",
     .usage = "Usage: cohort subnodes [--api URL] [--json]\n"
              "\n"
              "Asks the local cohort-core (its API, http://127.0.0.1:9100 by default) for the\n"
              "subnodes it runs: container state, slot and port, limits, restarts, disk use and\n"
              "the last error of each. --json prints the API's array (GET /api/v1/subnodes) as it is.\n",
     .handler = cmd_subnodes},
    /* The node's metrics (cmd_metrics.c, docs/metrics.md). */
    {.name = "status", .summary = "the node at a glance: slots, dockerd, manager, host, each subnode's figures",
     .usage = "Usage: cohort status [--api URL] [--json]\n\n"
              "The latest sample of the local cohort-core: slots used and free, dockerd, the manager\n"
              "chain's head and the watcher's lag, the config store, the host's CPU, memory and disk,\n"
              "and per subnode its state, CPU seconds, memory, disk, height, peers and restarts.\n\n" API_OPTION,
     .handler = cmd_status},
    {.name = "health", .summary = "run the health checks; exits 1 when one fails",
     .usage = "Usage: cohort health [--api URL] [--json]\n\n"
              "Per node: dockerd reachable, manager RPC reachable and in sync, keystore readable, config\n"
              "store member healthy, clock sane, history database. Per subnode: container running,\n"
              "config current, volume under budget, RPC answering, blocks advancing, peers connected,\n"
              "restarts in the last hour. Each says why it failed; exit status 1 when one did.\n\n" API_OPTION,
     .handler = cmd_health},
    {.name = "metrics", .summary = "series over time per chain: a table, and a text chart on a terminal",
     .usage = "Usage: cohort metrics [--chain NAME] [--since 1h] [--until TIME] [--step 1m] [--chart|--no-chart]\n"
              "                      [--api URL] [--json]\n\n"
              "Per chain: points, mean CPU use, memory, disk, height and transactions per second over the\n"
              "window, then (on a terminal, or with --chart) one line per series. TIME is a duration\n"
              "before now (90s, 15m, 24h, 7d), UNIX seconds, or RFC 3339 (2026-12-04T10:00:00Z).\n\n"
              "  --chain NAME           one chain (default: all)\n"
              "  --since TIME           start of the window (1h)\n"
              "  --until TIME           end of the window (now)\n"
              "  --step DURATION        bucket width (default: about 1500 points per window)\n" API_OPTION,
     .handler = cmd_metrics},
    {.name = "usage", .summary = "what each chain used: CPU, memory, disk, network, gas, transactions",
     .usage = "Usage: cohort usage [--chain NAME] [--since 24h] [--until TIME] [--api URL] [--json]\n\n"
              "Metering from the history: CPU seconds, memory average and peak, disk, network and block\n"
              "I/O bytes, gas used and transactions per chain in the window; exact at the raw\n"
              "resolution, from the 1-minute or 1-hour rollups for windows older than the raw retention.\n\n"
              "  --chain NAME           one chain (default: all)\n"
              "  --since TIME           start of the window (24h)\n"
              "  --until TIME           end of the window (now)\n" API_OPTION,
     .handler = cmd_usage},
    {.name = "version", .summary = "print the version of cohort", .usage = "Usage: cohort version [--json]\n",
     .handler = cmd_version},
    {.name = NULL},
};

const struct cli_command cohort_root_command = {
    .name = "cohort",
    .summary = "operate a cohort validator node",
    .usage = "Usage: cohort [--json] [--quiet] COMMAND [ARGS...]\n"
             "       cohort --version\n"
             "\n"
             "cohort is the operator CLI of a cohort validator node: it talks to the local\n"
             "cohort-core daemon and to the manager contracts on the manager chain.\n"
             "\n"
             "Exit codes:\n"
             "  0  done\n"
             "  1  the operation failed (the message says why)\n"
             "  2  bad command line (unknown command or option, missing value)\n"
             "  3  a service did not answer (manager RPC, dockerd, cohort-core)\n"
             "  4  a file, key or value given is unusable (corrupt file, wrong password)\n"
             "\n"
             "With --json a failure also prints {\"error\", \"code\", \"library\", \"kind\"} on stdout.\n",
    .children = root_children,
};
