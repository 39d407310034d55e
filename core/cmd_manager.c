/* cmd_manager.c - `cohort manager deploy`, `cohort node ...` and `cohort chain ...`. */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cmd_common.h"
#include "commands.h"
#include "common/chain_config.h"
#include "common/hex.h"
#include "common/secp.h"
#include "slots.h"

static void ensure_parent_dir(const char *path)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        mkdir(dir, 0755);
    }
}

int cmd_manager_deploy(const struct cli_command *self, int argc, char **argv, struct cli_globals *g)
{
    (void)self;
    struct manager_flags f = {0};
    bool force = false;
    const struct cli_flag extra[] = {{.name = "force", .present = &force}, {.name = NULL}};
    int rc = manager_parse(g, argc, argv, &f, extra, NULL, 0, NULL);
    if (rc != 0) return rc;
    char manager_file[1024];
    if (f.manager == NULL) f.manager = default_manager_file(manager_file, sizeof manager_file);
    if (!force && access(f.manager, F_OK) == 0)
        return cli_fail(g, COHORT_EXIT_USAGE, "%s already exists; give another --manager FILE or --force to replace it",
                        f.manager);
    struct manager_session s;
    if ((rc = manager_open(g, &f, false, &s)) != 0 || (rc = manager_sign(g, &f, &s)) != 0) {
        manager_close(&s);
        return rc;
    }
    struct mc_deployment d = {0};
    struct cohort_error err = {0};
    if (!g->quiet) fprintf(g->err, "deploying CohortManager...\n");
    rc = mc_manager_deploy(s.rpc, s.key, &d, &err);
    manager_close(&s);
    if (rc < 0) return cli_fail_error(g, &err);
    ensure_parent_dir(f.manager);
    if (mc_deployment_save(f.manager, &d, &err) < 0) return cli_fail_error(g, &err);
    char address[43], chain[24], block[24];
    address_to_checksum(d.address, address);
    snprintf(chain, sizeof chain, "%llu", (unsigned long long)d.chain_id);
    snprintf(block, sizeof block, "%llu", (unsigned long long)d.block);
    const char *keys[] = {"address", "chain_id", "block", "deployment_file"};
    const char *values[] = {address, chain, block, f.manager};
    print_fields(g, keys, values, 4);
    return COHORT_EXIT_OK;
}

/* ---- nodes ---- */

int cmd_node_register(const struct cli_command *self, int argc, char **argv, struct cli_globals *g)
{
    (void)self;
    struct manager_flags f = {0};
    const char *name = NULL, *ip_text = NULL, *port_text = NULL, *domain = "";
    const struct cli_flag extra[] = {{.name = "name", .takes_value = true, .value = &name},
                                     {.name = "ip", .takes_value = true, .value = &ip_text},
                                     {.name = "port", .takes_value = true, .value = &port_text},
                                     {.name = "domain", .takes_value = true, .value = &domain},
                                     {.name = NULL}};
    int rc = manager_parse(g, argc, argv, &f, extra, NULL, 0, NULL);
    if (rc != 0) return rc;
    if (name == NULL || ip_text == NULL || port_text == NULL)
        return cli_fail(g, COHORT_EXIT_USAGE, "node register: give --name, --ip and --port");
    uint8_t ip[4];
    if (inet_pton(AF_INET, ip_text, ip) != 1) return cli_fail(g, COHORT_EXIT_USAGE, "--ip %s is not an IPv4 address", ip_text);
    char *end;
    long port = strtol(port_text, &end, 10);
    if (*end || port < 1024 || port > 65535 - 128 * 8 + 1)
        return cli_fail(g, COHORT_EXIT_USAGE, "--port %s: the base port must be 1024..%d so 128 slots of 8 ports fit",
                        port_text, 65535 - 128 * 8 + 1);

    struct manager_session s;
    if ((rc = manager_open(g, &f, true, &s)) != 0 || (rc = manager_sign(g, &f, &s)) != 0) goto out;
    struct mc_rpc *rpc = s.rpc;
    const struct mc_deployment *d = &s.deployment;
    struct cohort_error err = {0};
    /* Say plainly what is wrong before anything is paid for. */
    u256 balance;
    char from_text[43];
    address_to_checksum(s.address, from_text);
    if (mc_eth_get_balance(rpc, s.address, MC_LATEST, &balance, &err) < 0) {
        rc = cli_fail_error(g, &err);
        goto out;
    }
    if (u256_is_zero(balance)) {
        rc = cli_fail(g, COHORT_EXIT_FAILURE, "%s has no funds on chain %llu to pay for the registration: fund it first",
                      from_text, (unsigned long long)d->chain_id);
        goto out;
    }
    uint64_t taken = 0;
    if (mc_manager_node_id_by_name(rpc, d, name, &taken, &err) < 0) {
        rc = cli_fail_error(g, &err);
        goto out;
    }
    if (taken != 0) {
        rc = cli_fail(g, COHORT_EXIT_FAILURE, "the node name '%s' is taken (node %llu): choose another --name", name,
                      (unsigned long long)taken);
        goto out;
    }
    uint64_t node_id = 0;
    if (!g->quiet) fprintf(g->err, "registering node '%s' at %s:%ld from %s...\n", name, ip_text, port, from_text);
    if (mc_manager_register_node(rpc, s.key, d, name, ip, (uint16_t)port, domain, &node_id, &err) < 0) {
        rc = cli_fail_error(g, &err);
        goto out;
    }
    char id[24];
    snprintf(id, sizeof id, "%llu", (unsigned long long)node_id);
    const char *keys[] = {"node_id", "name", "owner"};
    const char *values[] = {id, name, from_text};
    print_fields(g, keys, values, 3);
    rc = COHORT_EXIT_OK;
out:
    manager_close(&s);
    return rc;
}

/* Resolves "ID" or "NAME" to a node id. */
static int resolve_node(struct cli_globals *g, struct mc_rpc *rpc, const struct mc_deployment *d, const char *text,
                        uint64_t *id)
{
    char *end;
    unsigned long long v = strtoull(text, &end, 10);
    if (*end == '\0' && text[0] != '\0') {
        *id = v;
        return 0;
    }
    struct cohort_error err = {0};
    if (mc_manager_node_id_by_name(rpc, d, text, id, &err) < 0) return cli_fail_error(g, &err);
    if (*id == 0) return cli_fail(g, COHORT_EXIT_FAILURE, "there is no node named '%s'", text);
    return 0;
}

static void node_row(const struct mc_node_info *n, char cells[8][140])
{
    char owner[43];
    address_to_checksum(n->owner, owner);
    snprintf(cells[0], 140, "%llu", (unsigned long long)n->id);
    snprintf(cells[1], 140, "%s", n->name);
    snprintf(cells[2], 140, "%u.%u.%u.%u:%u", n->ip[0], n->ip[1], n->ip[2], n->ip[3], (unsigned)n->port);
    snprintf(cells[3], 140, "%s", mc_node_status_name(n->status));
    snprintf(cells[4], 140, "%u", n->free_slots);
    snprintf(cells[5], 140, "%s", owner);
    snprintf(cells[6], 140, "%.139s", n->domain);
    snprintf(cells[7], 140, "%llu", (unsigned long long)n->registered_block);
}

static const char *node_columns[] = {"id", "name", "endpoint", "status", "free_slots", "owner", "domain", "block"};

int cmd_node_info(const struct cli_command *self, int argc, char **argv, struct cli_globals *g)
{
    (void)self;
    struct manager_flags f = {0};
    const char *which[1];
    int rc = manager_parse(g, argc, argv, &f, NULL, which, 1, "node info: give a node id or name");
    if (rc != 0) return rc;
    struct manager_session s;
    uint64_t id;
    struct mc_node_info info;
    struct cohort_error err = {0};
    if ((rc = manager_open(g, &f, true, &s)) == 0 && (rc = resolve_node(g, s.rpc, &s.deployment, which[0], &id)) == 0) {
        if (mc_manager_get_node(s.rpc, &s.deployment, id, &info, &err) < 0) {
            rc = cli_fail_error(g, &err);
        } else {
            char cells[8][140], key[132];
            node_row(&info, cells);
            hex_encode(info.public_key, 64, key, sizeof key);
            const char *keys[] = {"id", "name", "endpoint", "status", "free_slots", "owner", "domain", "block", "public_key"};
            const char *values[] = {cells[0], cells[1], cells[2], cells[3], cells[4], cells[5], cells[6], cells[7], key};
            print_fields(g, keys, values, 9);
        }
    }
    manager_close(&s);
    return rc;
}

int cmd_node_ls(const struct cli_command *self, int argc, char **argv, struct cli_globals *g)
{
    (void)self;
    struct manager_flags f = {0};
    const char *owner_text = NULL;
    const struct cli_flag extra[] = {{.name = "owner", .takes_value = true, .value = &owner_text}, {.name = NULL}};
    int rc = manager_parse(g, argc, argv, &f, extra, NULL, 0, NULL);
    if (rc != 0) return rc;
    uint8_t owner[20];
    struct cohort_error err = {0};
    if (owner_text && address_parse(owner_text, owner, &err) < 0) return cli_fail(g, COHORT_EXIT_USAGE, "--owner: %s", err.message);
    struct manager_session s;
    uint64_t count;
    if ((rc = manager_open(g, &f, true, &s)) != 0 ||
        (mc_manager_node_count(s.rpc, &s.deployment, &count, &err) < 0 && (rc = cli_fail_error(g, &err)) != 0)) {
        manager_close(&s);
        return rc;
    }
    struct cli_table *t = cli_table_new(8, node_columns);
    cli_table_set_numeric(t, 0);
    cli_table_set_numeric(t, 4);
    cli_table_set_numeric(t, 7);
    for (uint64_t id = 1; id <= count; id++) {
        struct mc_node_info info;
        if (mc_manager_get_node(s.rpc, &s.deployment, id, &info, &err) < 0) {
            rc = cli_fail_error(g, &err);
            break;
        }
        if (owner_text && memcmp(owner, info.owner, 20) != 0) continue;
        char cells[8][140];
        node_row(&info, cells);
        const char *row[8] = {cells[0], cells[1], cells[2], cells[3], cells[4], cells[5], cells[6], cells[7]};
        cli_table_add_row(t, row);
    }
    if (rc == 0) cli_table_print(t, g);
    cli_table_free(t);
    manager_close(&s);
    return rc;
}

/* One line per rotation a transaction started or left waiting. */
static void print_rotations(struct cli_globals *g, const struct mc_rotation_events *r)
{
    for (size_t i = 0; i < r->n; i++) {
        const struct mc_event *e = &r->events[i];
        if (e->kind == MC_EVENT_ROTATION_STARTED)
            fprintf(g->err, "chain %llu: rotation started, node %llu -> node %llu (member %u, epoch %u)\n",
                    (unsigned long long)e->chain_id, (unsigned long long)e->node_id,
                    (unsigned long long)e->joining_node_id, e->member_index, e->epoch);
        else
            fprintf(g->err,
                    "chain %llu: no node has room to take node %llu's place yet; once one has: cohort chain rotate "
                    "%llu --leaving %llu\n",
                    (unsigned long long)e->chain_id, (unsigned long long)e->node_id, (unsigned long long)e->chain_id,
                    (unsigned long long)e->node_id);
    }
    if (r->n)
        fprintf(g->err, "the chains' nodes carry rotations out and confirm them with completeRotation "
                        "(docs/chain.md \"Rotation\"); `cohort chain show NAME` says when it is done\n");
}

int cmd_node_exit(const struct cli_command *self, int argc, char **argv, struct cli_globals *g)
{
    (void)self;
    struct manager_flags f = {0};
    bool complete = false;
    const char *which[1];
    const struct cli_flag extra[] = {{.name = "complete", .present = &complete}, {.name = NULL}};
    int rc = manager_parse(g, argc, argv, &f, extra, which, 1, "node exit: give a node id or name");
    if (rc != 0) return rc;
    struct manager_session s;
    uint64_t id;
    struct cohort_error err = {0};
    if ((rc = manager_open(g, &f, true, &s)) == 0 && (rc = resolve_node(g, s.rpc, &s.deployment, which[0], &id)) == 0 &&
        (rc = manager_sign(g, &f, &s)) == 0) {
        struct mc_rotation_events rotations = {0};
        rc = complete ? mc_manager_complete_exit(s.rpc, s.key, &s.deployment, id, &err)
                      : mc_manager_init_exit(s.rpc, s.key, &s.deployment, id, &rotations, &err);
        rc = rc < 0 ? cli_fail_error(g, &err) : COHORT_EXIT_OK;
        if (rc == 0 && !g->quiet) {
            fprintf(g->err, "node %llu: %s\n", (unsigned long long)id, complete ? "exit completed" : "exit started");
            print_rotations(g, &rotations);
        }
    }
    manager_close(&s);
    return rc;
}

/* ---- chains ---- */

int cmd_chain_create(const struct cli_command *self, int argc, char **argv, struct cli_globals *g)
{
    (void)self;
    struct manager_flags f = {0};
    const char *name = NULL, *size_text = NULL, *nodes_text = NULL;
    const struct cli_flag extra[] = {{.name = "name", .takes_value = true, .value = &name},
                                     {.name = "size", .takes_value = true, .value = &size_text},
                                     {.name = "nodes", .takes_value = true, .value = &nodes_text},
                                     {.name = NULL}};
    int rc = manager_parse(g, argc, argv, &f, extra, NULL, 0, NULL);
    if (rc != 0) return rc;
    if (name == NULL || size_text == NULL || nodes_text == NULL)
        return cli_fail(g, COHORT_EXIT_USAGE, "chain create: give --name, --size small|medium|large and --nodes N");
    unsigned size = slots_of_size_name(size_text);
    if (size == 0) return cli_fail(g, COHORT_EXIT_USAGE, "--size %s: use small, medium or large", size_text);
    char *end;
    long nodes = strtol(nodes_text, &end, 10);
    if (*end || nodes < 1 || nodes > MC_CHAIN_MAX_NODES)
        return cli_fail(g, COHORT_EXIT_USAGE, "--nodes %s: give 1..%d", nodes_text, MC_CHAIN_MAX_NODES);
    if (!chain_name_valid(name))
        return cli_fail(g, COHORT_EXIT_USAGE, "--name %s: use 1..63 of a-z, 0-9 and '-', not starting or ending with '-'", name);
    struct manager_session s;
    struct cohort_error err = {0};
    uint64_t chain_id = 0;
    if ((rc = manager_open(g, &f, true, &s)) == 0 && (rc = manager_sign(g, &f, &s)) == 0) {
        if (!g->quiet) fprintf(g->err, "creating %s chain '%s' on %ld nodes...\n", size_text, name, nodes);
        if (mc_manager_create_chain(s.rpc, s.key, &s.deployment, name, size, (unsigned)nodes, &chain_id, &err) < 0) {
            rc = cli_fail_error(g, &err);
        } else {
            char id[24], evm[24];
            snprintf(id, sizeof id, "%llu", (unsigned long long)chain_id);
            snprintf(evm, sizeof evm, "%llu", (unsigned long long)mc_evm_chain_id_of(name));
            const char *keys[] = {"chain_id", "name", "size", "evm_chain_id"};
            const char *values[] = {id, name, size_text, evm};
            print_fields(g, keys, values, 4);
        }
    }
    manager_close(&s);
    return rc;
}

static const char *chain_columns[] = {"id", "name", "size", "evm_chain_id", "nodes", "owner", "block"};

static void chain_row(const struct mc_chain_info *c, char cells[7][200])
{
    char owner[43];
    address_to_checksum(c->owner, owner);
    snprintf(cells[0], 200, "%llu", (unsigned long long)c->id);
    snprintf(cells[1], 200, "%s", c->name);
    snprintf(cells[2], 200, "%s", size_name_of_slots(c->size) ? size_name_of_slots(c->size) : "?");
    snprintf(cells[3], 200, "%llu", (unsigned long long)c->evm_chain_id);
    size_t n = 0;
    cells[4][0] = '\0';
    for (unsigned i = 0; i < c->nnodes && n < 180; i++)
        n += (size_t)snprintf(cells[4] + n, 200 - n, "%s%llu", i ? "," : "", (unsigned long long)c->node_ids[i]);
    snprintf(cells[5], 200, "%s", owner);
    snprintf(cells[6], 200, "%llu", (unsigned long long)c->created_block);
}

int cmd_chain_ls(const struct cli_command *self, int argc, char **argv, struct cli_globals *g)
{
    (void)self;
    struct manager_flags f = {0};
    int rc = manager_parse(g, argc, argv, &f, NULL, NULL, 0, NULL);
    if (rc != 0) return rc;
    struct manager_session s;
    uint64_t count;
    struct cohort_error err = {0};
    if ((rc = manager_open(g, &f, true, &s)) != 0 ||
        (mc_manager_chain_count(s.rpc, &s.deployment, &count, &err) < 0 && (rc = cli_fail_error(g, &err)) != 0)) {
        manager_close(&s);
        return rc;
    }
    struct cli_table *t = cli_table_new(7, chain_columns);
    cli_table_set_numeric(t, 0);
    cli_table_set_numeric(t, 3);
    cli_table_set_numeric(t, 6);
    for (uint64_t id = 1; id <= count; id++) {
        struct mc_chain_info c;
        int grc = mc_manager_get_chain(s.rpc, &s.deployment, id, &c, &err);
        if (grc == MC_E_NOT_FOUND) continue; /* deleted */
        if (grc < 0) {
            rc = cli_fail_error(g, &err);
            break;
        }
        char cells[7][200];
        chain_row(&c, cells);
        const char *row[7] = {cells[0], cells[1], cells[2], cells[3], cells[4], cells[5], cells[6]};
        cli_table_add_row(t, row);
    }
    if (rc == 0) cli_table_print(t, g);
    cli_table_free(t);
    manager_close(&s);
    return rc;
}

static int get_chain(struct cli_globals *g, struct mc_rpc *rpc, const struct mc_deployment *d, const char *which,
                     struct mc_chain_info *c)
{
    struct cohort_error err = {0};
    char *end;
    unsigned long long id = strtoull(which, &end, 10);
    int rc = *end == '\0' && which[0] ? mc_manager_get_chain(rpc, d, id, c, &err)
                                      : mc_manager_get_chain_by_name(rpc, d, which, c, &err);
    return rc < 0 ? cli_fail_error(g, &err) : 0;
}

/* The commands about one chain: parse `NAME|ID` and the manager flags, open the session, read the chain. */
static int open_chain(struct cli_globals *g, int argc, char **argv, const char *usage, struct manager_session *s,
                      struct mc_chain_info *c)
{
    struct manager_flags f = {0};
    const char *which[1];
    int rc = manager_parse(g, argc, argv, &f, NULL, which, 1, usage);
    if (rc != 0) return rc;
    if ((rc = manager_open(g, &f, true, s)) == 0) rc = get_chain(g, s->rpc, &s->deployment, which[0], c);
    return rc;
}

/* Member i of chain c: its node, and where its subnode's RPC listens (the node's base port and the chain's first slot). */
static int member_endpoint(struct cli_globals *g, struct manager_session *s, const struct mc_chain_info *c, unsigned i,
                           struct mc_node_info *node, char endpoint[32], unsigned *rpc_port)
{
    struct cohort_error err = {0};
    if (mc_manager_get_node(s->rpc, &s->deployment, c->node_ids[i], node, &err) < 0) return cli_fail_error(g, &err);
    *rpc_port = (unsigned)(node->port + c->first_slots[i] * PORTS_PER_SLOT);
    snprintf(endpoint, 32, "%u.%u.%u.%u:%u", node->ip[0], node->ip[1], node->ip[2], node->ip[3], *rpc_port);
    return 0;
}

int cmd_chain_show(const struct cli_command *self, int argc, char **argv, struct cli_globals *g)
{
    (void)self;
    struct manager_session s = {0};
    struct mc_chain_info c;
    int rc = open_chain(g, argc, argv, "chain show: give a chain name or id", &s, &c);
    if (rc == 0) {
        /* One row per member: where its subnode listens, from the node's base port and the chain's first slot. */
        const char *columns[] = {"node", "name", "endpoint", "first_slot", "rpc_port"};
        struct cli_table *t = cli_table_new(5, columns);
        cli_table_set_numeric(t, 0);
        cli_table_set_numeric(t, 3);
        cli_table_set_numeric(t, 4);
        if (!g->json) {
            char cells[7][200];
            chain_row(&c, cells);
            fprintf(g->out, "chain %s (id %s, %s, EVM chain id %s, owner %s, block %s)\n\n", cells[1], cells[0], cells[2],
                    cells[3], cells[5], cells[6]);
        }
        for (unsigned i = 0; i < c.nnodes && rc == 0; i++) {
            struct mc_node_info node;
            /* endpoint is IP:PORT as in `node ls`: here the subnode's, whose port is rpc_port. */
            char id[24], endpoint[32], slot[8], port[8];
            unsigned rpc_port;
            if ((rc = member_endpoint(g, &s, &c, i, &node, endpoint, &rpc_port)) != 0) break;
            snprintf(id, sizeof id, "%llu", (unsigned long long)node.id);
            snprintf(slot, sizeof slot, "%u", c.first_slots[i]);
            snprintf(port, sizeof port, "%u", rpc_port);
            const char *row[5] = {id, node.name, endpoint, slot, port};
            cli_table_add_row(t, row);
        }
        if (rc == 0) cli_table_print(t, g);
        cli_table_free(t);
        struct mc_rotation_info r;
        struct cohort_error err = {0};
        if (rc == 0 && !g->json) {
            if (mc_manager_get_rotation(s.rpc, &s.deployment, c.id, &r, &err) < 0) {
                rc = cli_fail_error(g, &err);
            } else {
                fprintf(g->out, "\nepoch %u\n", r.epoch);
                static const char *const reasons[] = {"?", "exit", "owner", "absent"};
                if (r.pending)
                    fprintf(g->out, "rotation in flight since block %llu (%s): member %u, node %llu -> node %llu, "
                                    "first slot %u there\n",
                            (unsigned long long)r.started_block, reasons[r.reason <= 3 ? r.reason : 0], r.member_index,
                            (unsigned long long)r.leaving_node_id, (unsigned long long)r.joining_node_id,
                            r.joining_first_slot);
            }
        }
    }
    manager_close(&s);
    return rc;
}

/* A number from a subnode's /status document (its chain figures), or -1. */
static double status_number(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

int cmd_chain_status(const struct cli_command *self, int argc, char **argv, struct cli_globals *g)
{
    (void)self;
    struct manager_session s = {0};
    struct mc_chain_info c;
    int rc = open_chain(g, argc, argv, "chain status: give a chain name or id", &s, &c);
    if (rc == 0) {
        /* One row per member, from its subnode's own /status: what it has and what it sees. */
        const char *columns[] = {"member", "node", "endpoint", "health", "height", "head", "last_block_age_s",
                                 "peers", "view", "behind", "txpool_pending"};
        struct cli_table *t = cli_table_new(11, columns);
        for (size_t k = 0; k < 11; k++)
            if (k == 0 || k == 1 || (k >= 4 && k != 5)) cli_table_set_numeric(t, k);
        double best_height = -1, best_time = -1, view = -1;
        unsigned answering = 0;
        for (unsigned i = 0; i < c.nnodes && rc == 0; i++) {
            struct mc_node_info node;
            char url[96], endpoint[32];
            unsigned rpc_port;
            if ((rc = member_endpoint(g, &s, &c, i, &node, endpoint, &rpc_port)) != 0) break;
            snprintf(url, sizeof url, "http://%s/status", endpoint);
            long status = 0;
            char error[256] = "";
            char *body = http_fetch(url, 2000, &status, error, sizeof error);
            cJSON *doc = body ? cJSON_Parse(body) : NULL;
            free(body);
            const cJSON *chain = cJSON_GetObjectItemCaseSensitive(doc, "chain");
            char cells[11][80];
            snprintf(cells[0], sizeof cells[0], "%u", i);
            snprintf(cells[1], sizeof cells[1], "%llu", (unsigned long long)node.id);
            snprintf(cells[2], sizeof cells[2], "%s", endpoint);
            const char *health = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "health"));
            snprintf(cells[3], sizeof cells[3], "%s", doc == NULL ? "unreachable" : health ? health : "?");
            double height = status_number(chain, "height"), last = status_number(chain, "last_block_timestamp_ms");
            double peers = status_number(chain, "peers_connected"), member_view = status_number(chain, "view");
            double pending = status_number(chain, "txpool_pending");
            /* Heights behind f+1 other members; "?" until f+1 of them told it where they are. */
            double behind = cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(chain, "behind_known"))
                                ? -3
                                : status_number(chain, "behind");
            const char *head = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(chain, "head_hash"));
            struct timespec now;
            clock_gettime(CLOCK_REALTIME, &now);
            double now_ms = (double)now.tv_sec * 1000 + (double)now.tv_nsec / 1e6;
            /* The genesis block's timestamp is 0: no age to show before the first block. */
            const double values[] = {height, -2, last > 0 ? (now_ms - last) / 1000 : -1, peers, member_view, behind,
                                     pending};
            for (int k = 0; k < 7; k++) {
                char *cell = cells[4 + k];
                if (k == 1) snprintf(cell, 80, "%.10s", head ? head : "-");
                else if (values[k] == -3) snprintf(cell, 80, "?");
                else if (values[k] < 0) snprintf(cell, 80, "-");
                else if (k == 2) snprintf(cell, 80, "%.1f", values[k]);
                else snprintf(cell, 80, "%.0f", values[k]);
            }
            if (chain != NULL) {
                answering++;
                if (height > best_height) {
                    best_height = height;
                    best_time = last;
                }
                if (member_view > view) view = member_view;
            }
            const char *row[11];
            for (int k = 0; k < 11; k++) row[k] = cells[k];
            cli_table_add_row(t, row);
            cJSON_Delete(doc);
        }
        if (rc == 0 && !g->json) {
            struct timespec now;
            clock_gettime(CLOCK_REALTIME, &now);
            double age = best_time >= 0 ? ((double)now.tv_sec * 1000 + (double)now.tv_nsec / 1e6 - best_time) / 1000 : -1;
            fprintf(g->out, "chain %s (EVM chain id %llu): %u of %u members answer", c.name,
                    (unsigned long long)c.evm_chain_id, answering, c.nnodes);
            if (best_height >= 0 && best_time > 0)
                fprintf(g->out, "; height %.0f, last block %.1f s ago", best_height, age);
            else if (best_height >= 0) fprintf(g->out, "; height %.0f (no block since genesis)", best_height);
            /* The BFT log's leader of a view is member view mod n (bft/core_internal.h leader_of). */
            if (view >= 0 && c.nnodes > 0)
                fprintf(g->out, "; view %.0f is led by member %u", view, (unsigned)((uint64_t)view % c.nnodes));
            fprintf(g->out, "\n\n");
        }
        if (rc == 0) cli_table_print(t, g);
        cli_table_free(t);
    }
    manager_close(&s);
    return rc;
}

int cmd_chain_rotate(const struct cli_command *self, int argc, char **argv, struct cli_globals *g)
{
    (void)self;
    struct manager_flags f = {0};
    const char *which[1], *member = NULL, *leaving = NULL;
    const struct cli_flag extra[] = {{.name = "node", .takes_value = true, .value = &member},
                                     {.name = "leaving", .takes_value = true, .value = &leaving},
                                     {.name = NULL}};
    int rc = manager_parse(g, argc, argv, &f, extra, which, 1, "chain rotate: give a chain name or id");
    if (rc != 0) return rc;
    if ((member == NULL) == (leaving == NULL))
        return cli_fail(g, COHORT_EXIT_USAGE, "chain rotate: give --node N (the owner replaces a member) or --leaving N "
                                              "(a leaving member's chain, anyone)");
    struct manager_session s;
    struct mc_chain_info c;
    uint64_t node_id;
    struct cohort_error err = {0};
    if ((rc = manager_open(g, &f, true, &s)) == 0 && (rc = get_chain(g, s.rpc, &s.deployment, which[0], &c)) == 0 &&
        (rc = resolve_node(g, s.rpc, &s.deployment, member ? member : leaving, &node_id)) == 0 &&
        (rc = manager_sign(g, &f, &s)) == 0) {
        struct mc_rotation_events rotations = {0};
        rc = member ? mc_manager_rotate_member(s.rpc, s.key, &s.deployment, c.id, node_id, &rotations, &err)
                    : mc_manager_rotate_leaving(s.rpc, s.key, &s.deployment, c.id, node_id, &rotations, &err);
        rc = rc < 0 ? cli_fail_error(g, &err) : COHORT_EXIT_OK;
        if (rc == 0 && !g->quiet) print_rotations(g, &rotations);
    }
    manager_close(&s);
    return rc;
}

int cmd_chain_delete(const struct cli_command *self, int argc, char **argv, struct cli_globals *g)
{
    (void)self;
    struct manager_flags f = {0};
    const char *which[1];
    int rc = manager_parse(g, argc, argv, &f, NULL, which, 1, "chain delete: give a chain name or id");
    if (rc != 0) return rc;
    struct manager_session s;
    struct mc_chain_info c;
    struct cohort_error err = {0};
    if ((rc = manager_open(g, &f, true, &s)) == 0 && (rc = get_chain(g, s.rpc, &s.deployment, which[0], &c)) == 0 &&
        (rc = manager_sign(g, &f, &s)) == 0) {
        rc = mc_manager_delete_chain(s.rpc, s.key, &s.deployment, c.id, &err) < 0 ? cli_fail_error(g, &err)
                                                                                  : COHORT_EXIT_OK;
        if (rc == 0 && !g->quiet) fprintf(g->err, "chain %s (id %llu) deleted\n", c.name, (unsigned long long)c.id);
    }
    manager_close(&s);
    return rc;
}
