/*
 * manager.c - typed bindings of the CohortManager contract (see manager_client.h).
 *
 * The function, event and error signatures are parsed once into a process-wide arena. The
 * custom errors come from the embedded artifact's ABI, so a new error in the contract is
 * decoded without touching this file; test_manager checks that every signature used here
 * exists in that ABI.
 */
#include <assert.h>
#include <errno.h>
#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hex.h"
#include "common/keccak.h"
#include "common/secp.h"
#include "contracts-abi/abi.h"
#include "contracts-abi/manager_artifact.h"
#include "manager_client.h"

#define DOMAIN "manager-client"
#define MAX_ERRORS 64
#define DEPLOYMENT_MAX_BYTES 4096

enum fn {
    FN_REGISTER_NODE, FN_INIT_EXIT, FN_COMPLETE_EXIT, FN_CREATE_CHAIN, FN_DELETE_CHAIN, FN_GET_NODE,
    FN_NODE_ID_BY_NAME, FN_NODE_COUNT, FN_CHAIN_COUNT, FN_GET_CHAIN, FN_GET_CHAIN_BY_NAME, FN_ROTATE_MEMBER,
    FN_ROTATE_LEAVING, FN_GET_ROTATION, FN_COMPLETE_ROTATION, FN_REPORT_ABSENT, FN_COUNT
};
static const char *const fn_text[FN_COUNT] = {
    "registerNode(string,bytes4,uint16,bytes,string)", "initExit(uint256)", "completeExit(uint256)",
    "createChain(string,uint8,uint16)", "deleteChain(uint256)", "getNode(uint256)", "getNodeIdByName(string)",
    "getNodeCount()", "getChainCount()", "getChain(uint256)", "getChainByName(string)",
    "rotateMember(uint256,uint256)", "rotateLeaving(uint256,uint256)", "getRotation(uint256)",
    "completeRotation(uint256,uint32,uint64,bytes[])", "reportAbsent(uint256,uint256,uint256,bytes[])",
};
/* Return types of the getters. */
#define NODE_INFO "(uint256,string,bytes4,uint16,bytes,string,address,uint8,uint128,uint256,uint64)"
#define CHAIN_INFO "(uint256,string,address,uint8,uint64,uint64,uint256[],uint8[])"
#define ROTATION_INFO "(uint32,bool,uint256,uint256,uint8,uint8,uint8,uint64)"

enum ev { EV_NODE_REGISTERED, EV_NODE_EXIT_INITIATED, EV_NODE_EXITED, EV_CHAIN_CREATED, EV_NODE_ASSIGNED,
          EV_NODE_RELEASED, EV_CHAIN_DELETED, EV_ROTATION_STARTED, EV_ROTATION_WAITING, EV_ROTATION_COMPLETED,
          EV_COUNT };
static const char *const ev_text[EV_COUNT] = {
    ("NodeRegistered(uint256 indexed nodeId,address indexed owner,string name,bytes4 ip,uint16 port,bytes publicKey,"
     "string domain)"),
    "NodeExitInitiated(uint256 indexed nodeId,address indexed owner,uint256 usedSlots)",
    "NodeExited(uint256 indexed nodeId,address indexed owner)",
    "ChainCreated(uint256 indexed chainId,string name,address indexed owner,uint8 size,uint256[] nodeIds)",
    "NodeAssigned(uint256 indexed chainId,uint256 indexed nodeId,uint8 firstSlot)",
    "NodeReleased(uint256 indexed chainId,uint256 indexed nodeId,uint8 firstSlot)",
    "ChainDeleted(uint256 indexed chainId,string name,address indexed owner)",
    ("RotationStarted(uint256 indexed chainId,uint256 indexed leavingNodeId,uint256 indexed joiningNodeId,"
     "uint32 epoch,uint8 memberIndex,uint8 joiningFirstSlot,uint8 reason)"),
    "RotationWaiting(uint256 indexed chainId,uint256 indexed leavingNodeId)",
    ("RotationCompleted(uint256 indexed chainId,uint256 indexed leavingNodeId,uint256 indexed joiningNodeId,"
     "uint32 epoch,uint64 height)"),
};
static const enum mc_event_kind ev_kind[EV_COUNT] = {
    MC_EVENT_NODE_REGISTERED, MC_EVENT_NODE_EXIT_INITIATED, MC_EVENT_NODE_EXITED, MC_EVENT_CHAIN_CREATED,
    MC_EVENT_NODE_ASSIGNED, MC_EVENT_NODE_RELEASED, MC_EVENT_CHAIN_DELETED, MC_EVENT_ROTATION_STARTED,
    MC_EVENT_ROTATION_WAITING, MC_EVENT_ROTATION_COMPLETED,
};

struct contract_error {
    char signature[256];
    const struct abi_type *params; /* a tuple with names */
    uint8_t selector[4];
};

static struct {
    struct abi_arena arena;
    struct abi_function fn[FN_COUNT];
    struct abi_event ev[EV_COUNT];
    const struct abi_type *node_info, *chain_info, *rotation_info, *uint_result, *uint_array_pair;
    uint8_t topics[EV_COUNT][32];
    struct contract_error errors[MAX_ERRORS];
    size_t nerrors;
    const char *bytecode_hex; /* inside the artifact JSON */
    cJSON *artifact;
    int status;
} B;
static pthread_once_t bindings_once = PTHREAD_ONCE_INIT;

/* Reads the custom errors of the artifact's ABI: {"type":"error","name":..,"inputs":[{"type","name"}]}. */
static void load_errors(void)
{
    const cJSON *abi = cJSON_GetObjectItemCaseSensitive(B.artifact, "abi"), *item;
    cJSON_ArrayForEach(item, abi)
    {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(item, "type");
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(item, "name");
        if (!cJSON_IsString(type) || strcmp(type->valuestring, "error") != 0 || !cJSON_IsString(name)) continue;
        if (B.nerrors == MAX_ERRORS) break;
        struct contract_error *e = &B.errors[B.nerrors];
        char tuple[512] = "(", canonical[256];
        int n = snprintf(canonical, sizeof canonical, "%s(", name->valuestring);
        const cJSON *input;
        bool first = true;
        cJSON_ArrayForEach(input, cJSON_GetObjectItemCaseSensitive(item, "inputs"))
        {
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(input, "type");
            const cJSON *in = cJSON_GetObjectItemCaseSensitive(input, "name");
            if (!cJSON_IsString(t)) continue;
            /* Enums appear in the ABI as their internalType; their type is uint8. */
            size_t used = strlen(tuple);
            snprintf(tuple + used, sizeof tuple - used, "%s%s %s", first ? "" : ",", t->valuestring,
                     cJSON_IsString(in) ? in->valuestring : "");
            n += snprintf(canonical + n, sizeof canonical - (size_t)n, "%s%s", first ? "" : ",", t->valuestring);
            first = false;
        }
        strncat(tuple, ")", sizeof tuple - strlen(tuple) - 1);
        snprintf(canonical + n, sizeof canonical - (size_t)n, ")");
        if (abi_type_parse(&B.arena, tuple, &e->params, NULL) != 0) continue;
        snprintf(e->signature, sizeof e->signature, "%s", canonical);
        abi_selector(canonical, strlen(canonical), e->selector);
        B.nerrors++;
    }
}

static void init_bindings(void)
{
    abi_arena_init(&B.arena, 4u << 20);
    for (int i = 0; i < FN_COUNT; i++)
        if (abi_function_parse(&B.arena, fn_text[i], &B.fn[i], NULL) != 0) B.status = -1;
    for (int i = 0; i < EV_COUNT; i++) {
        if (abi_event_parse(&B.arena, ev_text[i], &B.ev[i], NULL) != 0) B.status = -1;
        memcpy(B.topics[i], B.ev[i].topic0, 32);
    }
    if (abi_type_parse(&B.arena, "(" NODE_INFO ")", &B.node_info, NULL) != 0 ||
        abi_type_parse(&B.arena, "(" CHAIN_INFO ")", &B.chain_info, NULL) != 0 ||
        abi_type_parse(&B.arena, "(" ROTATION_INFO ")", &B.rotation_info, NULL) != 0 ||
        abi_type_parse(&B.arena, "(uint256)", &B.uint_result, NULL) != 0)
        B.status = -1;
    B.artifact = cJSON_ParseWithLength((const char *)manager_artifact_json, manager_artifact_json_len);
    const cJSON *bytecode = cJSON_GetObjectItemCaseSensitive(B.artifact, "bytecode");
    if (cJSON_IsString(bytecode)) B.bytecode_hex = bytecode->valuestring;
    else B.status = -1;
    load_errors();
    assert(B.status == 0); /* our own signatures and artifact: a failure is a build defect */
}

static void bindings(void) { pthread_once(&bindings_once, init_bindings); }

const uint8_t (*mc_manager_event_topics(size_t *n))[32]
{
    bindings();
    *n = EV_COUNT;
    return (const uint8_t(*)[32])B.topics;
}

const char *mc_node_status_name(enum mc_node_status status)
{
    switch (status) {
    case MC_NODE_NONE: return "none";
    case MC_NODE_ACTIVE: return "active";
    case MC_NODE_LEAVING: return "leaving";
    case MC_NODE_LEFT: return "left";
    }
    return "unknown";
}

uint64_t mc_evm_chain_id_of(const char *name)
{
    uint8_t h[32];
    keccak256(name, strlen(name), h);
    uint64_t low = 0;
    for (int i = 24; i < 32; i++) low = low << 8 | h[i];
    return low & ((1ull << 53) - 1);
}

/* ---- Deployment file ---- */

int mc_deployment_save(const char *path, const struct mc_deployment *d, struct cohort_error *err)
{
    char address[43], text[512];
    address_to_checksum(d->address, address);
    int n = snprintf(text, sizeof text,
                     "{\n  \"contract\": \"CohortManager\",\n  \"chain_id\": %llu,\n  \"address\": \"%s\",\n"
                     "  \"block\": %llu\n}\n",
                     (unsigned long long)d->chain_id, address, (unsigned long long)d->block);
    return mc_write_file_atomic(path, text, (size_t)n, 0644, err);
}

int mc_deployment_load(const char *path, struct mc_deployment *out, struct cohort_error *err)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return cohort_error_errno(err, MC_E_IO, DOMAIN, errno, "deployment file %s (write it with 'cohort manager deploy')",
                                  path);
    char text[DEPLOYMENT_MAX_BYTES + 1];
    size_t len = fread(text, 1, sizeof text, f);
    fclose(f);
    if (len > DEPLOYMENT_MAX_BYTES) return cohort_error_set(err, MC_E_INPUT, DOMAIN, "deployment file %s is too large", path);
    cJSON *j = cJSON_ParseWithLength(text, len);
    const cJSON *chain = cJSON_GetObjectItemCaseSensitive(j, "chain_id");
    const cJSON *address = cJSON_GetObjectItemCaseSensitive(j, "address");
    const cJSON *block = cJSON_GetObjectItemCaseSensitive(j, "block");
    int rc = 0;
    memset(out, 0, sizeof *out);
    if (!cJSON_IsNumber(chain) || !cJSON_IsString(address) || !cJSON_IsNumber(block) || chain->valuedouble < 1 ||
        block->valuedouble < 0 || chain->valuedouble > 9007199254740991.0 || block->valuedouble > 9007199254740991.0)
        rc = cohort_error_set(err, MC_E_INPUT, DOMAIN, "deployment file %s needs chain_id, address and block", path);
    else if (address_parse(address->valuestring, out->address, err) < 0) {
        cohort_error_wrap(err, "deployment file %s", path);
        if (err) err->code = MC_E_INPUT;
        rc = MC_E_INPUT;
    } else {
        out->chain_id = (uint64_t)chain->valuedouble;
        out->block = (uint64_t)block->valuedouble;
    }
    cJSON_Delete(j);
    return rc;
}

/* ---- Reverts ---- */

static void render_value(const struct abi_type *t, const struct abi_value *v, char *out, size_t size)
{
    switch (v->kind) {
    case ABI_KIND_UINT:
    case ABI_KIND_INT: u256_to_dec(v->as.word, out, size); return;
    case ABI_KIND_BOOL: snprintf(out, size, "%s", v->as.boolean ? "true" : "false"); return;
    case ABI_KIND_ADDRESS: {
        char a[43];
        address_to_checksum(v->as.address, a);
        snprintf(out, size, "%s", a);
        return;
    }
    case ABI_KIND_FIXED_BYTES:
        if (v->as.fixed.len == 4) { /* bytes4 in this contract is an IPv4 address */
            snprintf(out, size, "%u.%u.%u.%u", v->as.fixed.data[0], v->as.fixed.data[1], v->as.fixed.data[2],
                     v->as.fixed.data[3]);
            return;
        }
        hex_encode(v->as.fixed.data, v->as.fixed.len, out, size > 67 ? 67 : size);
        return;
    case ABI_KIND_STRING: snprintf(out, size, "'%.*s'", (int)v->as.bytes.len, (const char *)v->as.bytes.data); return;
    default: snprintf(out, size, "(%s)", t ? "value" : "?"); return;
    }
}

/* Plain sentences for the errors an operator meets; "%1".."%4" are the arguments. */
static const struct {
    const char *name;
    const char *sentence;
} plain[] = {
    {"NodeNameTaken", "the node name %1 is taken (node %2): choose another --name"},
    {"EndpointTaken", "the endpoint %1:%2 overlaps node %3's ports (base %4): use another --ip or --port"},
    {"PublicKeyNotSender", "the public key belongs to %1, not to the sender %2"},
    {"InvalidNodeName", "the node name %1 is not 1..63 printable characters without spaces"},
    {"InvalidPort", "port %1 is outside %2..%3 (128 slots of 8 ports must fit above it)"},
    {"InvalidIp", "%1 is not a usable IPv4 address"},
    {"ChainNameTaken", "the chain name %1 is taken (chain %2)"},
    {"InvalidChainName", "the chain name %1 is not 1..63 of [a-z0-9-] without a leading or trailing '-'"},
    {"InvalidChainSize", "size %1 is not small (1), medium (16) or large (128)"},
    {"InvalidNodeCount", "%1 nodes is not in 1..%2"},
    {"NotEnoughNodes", "not enough capacity: %2 nodes with %1 free contiguous slots are needed, %3 have them"},
    {"NotChainOwner", "chain %1 belongs to %2, not to %3"},
    {"NotNodeOwner", "node %1 belongs to %2, not to %3"},
    {"NodeServesChains", "node %1 still serves chains (%2 slots used): wait for their rotations to complete "
                         "(`cohort chain show NAME`) or have their owners delete them"},
    {"RotationInFlight", "chain %1 is already rotating node %2 out for node %3: one rotation at a time"},
    {"NoReplacement", "no active node outside chain %1 has %2 contiguous free slots for it"},
    {"NotChainMember", "node %2 is not a member of chain %1"},
    {"NoRotation", "chain %1 has no rotation in flight"},
    {"WrongNodeStatus", "node %1 has status %2 where %3 is needed (1 active, 2 leaving, 3 left)"},
    {"ChainNotFound", "there is no chain %1"},
    {"ChainNameNotFound", "there is no chain named %1"},
    {"NodeNotFound", "there is no node %1"},
    {"EvmChainIdTaken", "the name %1 gives EVM chain id %2, already used by chain %3: choose another name"},
};

void mc_manager_explain_revert(struct mc_rpc *rpc, struct cohort_error *err)
{
    if (err == NULL || err->code != MC_E_REVERTED) return;
    size_t len;
    const uint8_t *data = mc_rpc_last_revert_data(rpc, &len);
    if (len < 4) return;
    bindings();
    for (size_t i = 0; i < B.nerrors; i++) {
        const struct contract_error *e = &B.errors[i];
        if (memcmp(e->selector, data, 4) != 0) continue;
        struct abi_arena arena;
        abi_arena_init(&arena, 1u << 20);
        struct abi_value args;
        char rendered[4][160] = {"", "", "", ""}, message[COHORT_ERROR_MESSAGE_MAX];
        if (abi_decode(&arena, e->params, data + 4, len - 4, NULL, &args, NULL) == 0) {
            for (size_t k = 0; k < args.as.list.count && k < 4; k++)
                render_value(e->params->components[k], &args.as.list.items[k], rendered[k], sizeof rendered[k]);
        }
        const char *name_end = strchr(e->signature, '(');
        size_t name_len = name_end ? (size_t)(name_end - e->signature) : strlen(e->signature);
        const char *sentence = NULL;
        for (size_t k = 0; k < sizeof plain / sizeof plain[0]; k++)
            if (strlen(plain[k].name) == name_len && strncmp(plain[k].name, e->signature, name_len) == 0)
                sentence = plain[k].sentence;
        size_t n = 0;
        if (sentence) {
            for (const char *p = sentence; *p && n + 1 < sizeof message; p++) {
                if (p[0] == '%' && p[1] >= '1' && p[1] <= '4') {
                    n += (size_t)snprintf(message + n, sizeof message - n, "%s", rendered[p[1] - '1']);
                    if (n >= sizeof message) n = sizeof message - 1;
                    p++;
                } else {
                    message[n++] = *p;
                }
            }
            message[n] = '\0';
        } else {
            n = (size_t)snprintf(message, sizeof message, "%.*s(", (int)name_len, e->signature);
            for (size_t k = 0; k < args.as.list.count && k < 4 && n < sizeof message; k++)
                n += (size_t)snprintf(message + n, sizeof message - n, "%s%s", k ? ", " : "", rendered[k]);
            if (n < sizeof message) snprintf(message + n, sizeof message - n, ")");
        }
        abi_arena_free(&arena);
        cohort_error_set(err, MC_E_REVERTED, DOMAIN, "the manager refused: %s", message);
        return;
    }
}

/* ---- Calls ---- */

/* Encodes fn(args) into a malloc'd buffer. */
static int encode_call(enum fn f, const struct abi_value *args, size_t nargs, uint8_t **out, size_t *out_len,
                       struct cohort_error *err)
{
    bindings();
    struct abi_value tuple = abi_value_tuple(args, nargs);
    size_t size;
    int rc = abi_encoded_size(B.fn[f].params, &tuple, &size, err);
    if (rc < 0) return rc;
    *out = malloc(size + 4);
    if (*out == NULL) return cohort_error_set(err, MC_E_NOMEM, DOMAIN, "out of memory");
    if ((rc = abi_encode_call(&B.fn[f], &tuple, *out, size + 4, out_len, err)) < 0) {
        free(*out);
        *out = NULL;
    }
    return rc;
}

/* eth_call of a getter; decodes the result as `type` into arena. */
static int get(struct mc_rpc *rpc, const struct mc_deployment *d, enum fn f, const struct abi_value *args, size_t nargs,
               const struct abi_type *type, struct abi_arena *arena, struct abi_value *out, struct cohort_error *err)
{
    uint8_t *data, *result = NULL;
    size_t len, result_len;
    int rc = encode_call(f, args, nargs, &data, &len, err);
    if (rc < 0) return rc;
    struct mc_call call = {.to = d->address, .data = data, .data_len = len};
    rc = mc_eth_call(rpc, &call, MC_LATEST, &result, &result_len, err);
    free(data);
    if (rc == MC_E_REVERTED) {
        mc_manager_explain_revert(rpc, err);
        if (strstr(err->message, "there is no")) err->code = MC_E_NOT_FOUND;
        return err->code;
    }
    if (rc < 0) return rc;
    if (result_len == 0) {
        free(result);
        return cohort_error_set(err, MC_E_NOT_FOUND, DOMAIN,
                                "no CohortManager answers at the deployment's address: is --rpc the right chain?");
    }
    rc = abi_decode(arena, type, result, result_len, NULL, out, err);
    free(result);
    if (rc < 0) {
        cohort_error_wrap(err, "decode %s", B.fn[f].signature);
        err->code = MC_E_MALFORMED;
        return MC_E_MALFORMED;
    }
    return 0;
}

static uint64_t word64(const struct abi_value *v) { return u256_fits_u64(v->as.word) ? v->as.word.w[0] : UINT64_MAX; }

static void copy_text(const struct abi_value *v, char *out, size_t size)
{
    size_t n = v->as.bytes.len < size - 1 ? v->as.bytes.len : size - 1;
    memcpy(out, v->as.bytes.data, n);
    out[n] = '\0';
}

int mc_manager_get_node(struct mc_rpc *rpc, const struct mc_deployment *d, uint64_t node_id, struct mc_node_info *out,
                        struct cohort_error *err)
{
    bindings(); /* the result types below are read before get() would initialise them */
    struct abi_arena arena;
    abi_arena_init(&arena, 1u << 20);
    struct abi_value arg = abi_value_uint64(node_id), result;
    int rc = get(rpc, d, FN_GET_NODE, &arg, 1, B.node_info, &arena, &result, err);
    if (rc == 0) {
        const struct abi_value *f = result.as.list.items[0].as.list.items;
        memset(out, 0, sizeof *out);
        out->id = word64(&f[0]);
        copy_text(&f[1], out->name, sizeof out->name);
        memcpy(out->ip, f[2].as.fixed.data, 4);
        out->port = (uint16_t)word64(&f[3]);
        if (f[4].as.bytes.len == 64) memcpy(out->public_key, f[4].as.bytes.data, 64);
        copy_text(&f[5], out->domain, sizeof out->domain);
        memcpy(out->owner, f[6].as.address, 20);
        out->status = (enum mc_node_status)word64(&f[7]);
        out->free_slots = (unsigned)word64(&f[9]);
        out->registered_block = word64(&f[10]);
    }
    abi_arena_free(&arena);
    return rc;
}

static int get_uint(struct mc_rpc *rpc, const struct mc_deployment *d, enum fn f, const struct abi_value *args,
                    size_t nargs, uint64_t *out, struct cohort_error *err)
{
    bindings(); /* the result types below are read before get() would initialise them */
    struct abi_arena arena;
    abi_arena_init(&arena, 1u << 16);
    struct abi_value result;
    int rc = get(rpc, d, f, args, nargs, B.uint_result, &arena, &result, err);
    if (rc == 0) *out = word64(&result.as.list.items[0]);
    abi_arena_free(&arena);
    return rc;
}

int mc_manager_node_id_by_name(struct mc_rpc *rpc, const struct mc_deployment *d, const char *name, uint64_t *node_id,
                               struct cohort_error *err)
{
    struct abi_value arg = abi_value_string(name);
    return get_uint(rpc, d, FN_NODE_ID_BY_NAME, &arg, 1, node_id, err);
}

int mc_manager_node_count(struct mc_rpc *rpc, const struct mc_deployment *d, uint64_t *count, struct cohort_error *err)
{
    return get_uint(rpc, d, FN_NODE_COUNT, NULL, 0, count, err);
}

int mc_manager_chain_count(struct mc_rpc *rpc, const struct mc_deployment *d, uint64_t *count, struct cohort_error *err)
{
    return get_uint(rpc, d, FN_CHAIN_COUNT, NULL, 0, count, err);
}

static void fill_chain(const struct abi_value *result, struct mc_chain_info *out)
{
    const struct abi_value *f = result->as.list.items[0].as.list.items;
    memset(out, 0, sizeof *out);
    out->id = word64(&f[0]);
    copy_text(&f[1], out->name, sizeof out->name);
    memcpy(out->owner, f[2].as.address, 20);
    out->size = (unsigned)word64(&f[3]);
    out->evm_chain_id = word64(&f[4]);
    out->created_block = word64(&f[5]);
    size_t n = f[6].as.list.count < MC_CHAIN_MAX_NODES ? f[6].as.list.count : MC_CHAIN_MAX_NODES;
    for (size_t i = 0; i < n && i < f[7].as.list.count; i++) {
        out->node_ids[i] = word64(&f[6].as.list.items[i]);
        out->first_slots[i] = (unsigned)word64(&f[7].as.list.items[i]);
    }
    out->nnodes = (unsigned)n;
}

int mc_manager_get_chain(struct mc_rpc *rpc, const struct mc_deployment *d, uint64_t chain_id, struct mc_chain_info *out,
                         struct cohort_error *err)
{
    bindings(); /* the result types below are read before get() would initialise them */
    struct abi_arena arena;
    abi_arena_init(&arena, 1u << 20);
    struct abi_value arg = abi_value_uint64(chain_id), result;
    int rc = get(rpc, d, FN_GET_CHAIN, &arg, 1, B.chain_info, &arena, &result, err);
    if (rc == 0) fill_chain(&result, out);
    abi_arena_free(&arena);
    return rc;
}

int mc_manager_get_chain_by_name(struct mc_rpc *rpc, const struct mc_deployment *d, const char *name,
                                 struct mc_chain_info *out, struct cohort_error *err)
{
    bindings(); /* the result types below are read before get() would initialise them */
    struct abi_arena arena;
    abi_arena_init(&arena, 1u << 20);
    struct abi_value arg = abi_value_string(name), result;
    int rc = get(rpc, d, FN_GET_CHAIN_BY_NAME, &arg, 1, B.chain_info, &arena, &result, err);
    if (rc == 0) fill_chain(&result, out);
    abi_arena_free(&arena);
    return rc;
}

/* ---- Transactions ---- */

static int send_with(struct mc_rpc *rpc, const uint8_t key[32], const struct mc_deployment *d, enum fn f,
                     const struct abi_value *args, size_t nargs, const struct mc_send_options *options,
                     struct mc_receipt *receipt, struct cohort_error *err)
{
    uint8_t *data;
    size_t len;
    int rc = encode_call(f, args, nargs, &data, &len, err);
    if (rc < 0) return rc;
    struct mc_tx tx = {.has_to = true, .data = data, .data_len = len};
    memcpy(tx.to, d->address, 20);
    rc = mc_send_transaction(rpc, key, d->chain_id, &tx, options, receipt, err);
    free(data);
    if (rc == MC_E_REVERTED) mc_manager_explain_revert(rpc, err);
    return rc;
}

static int send(struct mc_rpc *rpc, const uint8_t key[32], const struct mc_deployment *d, enum fn f,
                const struct abi_value *args, size_t nargs, struct mc_receipt *receipt, struct cohort_error *err)
{
    return send_with(rpc, key, d, f, args, nargs, NULL, receipt, err);
}

/* The first event of kind ev in the receipt, decoded. */
static int find_event(const struct mc_receipt *r, const struct mc_deployment *d, enum ev which, struct mc_event *out,
                      struct cohort_error *err)
{
    for (size_t i = 0; i < r->logs.count; i++) {
        const struct mc_log *l = &r->logs.logs[i];
        if (memcmp(l->address, d->address, 20) != 0 || l->ntopics == 0 || memcmp(l->topics[0], B.topics[which], 32) != 0)
            continue;
        return mc_manager_decode_event(l, out, err);
    }
    return cohort_error_set(err, MC_E_MALFORMED, DOMAIN, "the receipt has no %s event", B.ev[which].name);
}

int mc_manager_register_node(struct mc_rpc *rpc, const uint8_t key[32], const struct mc_deployment *d, const char *name,
                             const uint8_t ip[4], uint16_t port, const char *domain, uint64_t *node_id,
                             struct cohort_error *err)
{
    uint8_t pub[64];
    int rc = secp_pubkey(key, pub, err);
    if (rc < 0) return rc;
    struct abi_value args[5] = {abi_value_string(name), abi_value_fixed_bytes(ip, 4), abi_value_uint64(port),
                                abi_value_bytes(pub, 64), abi_value_string(domain ? domain : "")};
    struct mc_receipt r;
    if ((rc = send(rpc, key, d, FN_REGISTER_NODE, args, 5, &r, err)) < 0) return rc;
    struct mc_event e;
    rc = find_event(&r, d, EV_NODE_REGISTERED, &e, err);
    if (rc == 0) *node_id = e.node_id;
    mc_receipt_free(&r);
    return rc;
}

static int send_id(struct mc_rpc *rpc, const uint8_t key[32], const struct mc_deployment *d, enum fn f, uint64_t id,
                   struct cohort_error *err)
{
    struct abi_value arg = abi_value_uint64(id);
    struct mc_receipt r;
    int rc = send(rpc, key, d, f, &arg, 1, &r, err);
    if (rc == 0) mc_receipt_free(&r);
    return rc;
}

/* The rotation events of a receipt, in order (at most MC_ROTATION_EVENTS_MAX). */
static int collect_rotations(const struct mc_receipt *r, const struct mc_deployment *d,
                             struct mc_rotation_events *out, struct cohort_error *err)
{
    out->n = 0;
    for (size_t i = 0; i < r->logs.count && out->n < MC_ROTATION_EVENTS_MAX; i++) {
        const struct mc_log *l = &r->logs.logs[i];
        if (memcmp(l->address, d->address, 20) != 0 || l->ntopics == 0) continue;
        if (memcmp(l->topics[0], B.topics[EV_ROTATION_STARTED], 32) != 0 &&
            memcmp(l->topics[0], B.topics[EV_ROTATION_WAITING], 32) != 0)
            continue;
        int rc = mc_manager_decode_event(l, &out->events[out->n], err);
        if (rc < 0) return rc;
        out->n++;
    }
    return 0;
}

/* Sends a call that may start rotations and hands back those its receipt names (rotations may be NULL). */
static int send_rotating(struct mc_rpc *rpc, const uint8_t key[32], const struct mc_deployment *d, enum fn f,
                         const struct abi_value *args, size_t nargs, uint64_t gas_extra,
                         struct mc_rotation_events *rotations, struct cohort_error *err)
{
    struct mc_receipt r;
    /* The replacement is scanned for from a point that depends on the including block's
       prevrandao, so the estimate (made at another) can be short: docs/manager-contracts.md "Gas". */
    struct mc_send_options options = {.gas_extra = gas_extra};
    int rc = send_with(rpc, key, d, f, args, nargs, &options, &r, err);
    if (rc < 0) return rc;
    if (rotations) rc = collect_rotations(&r, d, rotations, err);
    mc_receipt_free(&r);
    return rc;
}

int mc_manager_init_exit(struct mc_rpc *rpc, const uint8_t key[32], const struct mc_deployment *d, uint64_t node_id,
                         struct mc_rotation_events *rotations, struct cohort_error *err)
{
    struct abi_value arg = abi_value_uint64(node_id);
    return send_rotating(rpc, key, d, FN_INIT_EXIT, &arg, 1, MC_ROTATION_GAS_EXTRA * MC_EXIT_ROTATIONS, rotations,
                         err);
}

int mc_manager_rotate_member(struct mc_rpc *rpc, const uint8_t key[32], const struct mc_deployment *d,
                             uint64_t chain_id, uint64_t node_id, struct mc_rotation_events *rotations,
                             struct cohort_error *err)
{
    struct abi_value args[2] = {abi_value_uint64(chain_id), abi_value_uint64(node_id)};
    return send_rotating(rpc, key, d, FN_ROTATE_MEMBER, args, 2, MC_ROTATION_GAS_EXTRA, rotations, err);
}

int mc_manager_rotate_leaving(struct mc_rpc *rpc, const uint8_t key[32], const struct mc_deployment *d,
                              uint64_t chain_id, uint64_t node_id, struct mc_rotation_events *rotations,
                              struct cohort_error *err)
{
    struct abi_value args[2] = {abi_value_uint64(chain_id), abi_value_uint64(node_id)};
    return send_rotating(rpc, key, d, FN_ROTATE_LEAVING, args, 2, MC_ROTATION_GAS_EXTRA, rotations, err);
}

/* ---- What members sign (docs/manager-contracts.md "Rotation") ---- */

static void word_u64(uint8_t w[32], uint64_t v)
{
    memset(w, 0, 32);
    for (int i = 0; i < 8; i++) w[31 - i] = (uint8_t)(v >> (8 * i));
}

/* keccak256(abi.encode(keccak256(tag), chainid, manager, v[0], v[1], ...)): all static words. */
static void statement_digest(const char *tag, const struct mc_deployment *d, const uint64_t *v, size_t n,
                             uint8_t out[32])
{
    uint8_t words[10][32];
    assert(n + 3 <= 10);
    keccak256(tag, strlen(tag), words[0]);
    word_u64(words[1], d->chain_id);
    memset(words[2], 0, 12);
    memcpy(words[2] + 12, d->address, 20);
    for (size_t i = 0; i < n; i++) word_u64(words[3 + i], v[i]);
    keccak256(words, 32 * (n + 3), out);
}

void mc_rotation_digest(const struct mc_deployment *d, uint64_t chain_id, uint32_t epoch, uint64_t height,
                        uint64_t leaving_node_id, uint64_t joining_node_id, uint8_t out[32])
{
    const uint64_t v[5] = {chain_id, epoch, height, leaving_node_id, joining_node_id};
    statement_digest("cohort rotation done v1", d, v, 5, out);
}

void mc_absence_digest(const struct mc_deployment *d, uint64_t chain_id, uint32_t epoch, uint64_t node_id,
                       uint64_t since, uint8_t out[32])
{
    const uint64_t v[4] = {chain_id, epoch, node_id, since};
    statement_digest("cohort member absent v1", d, v, 4, out);
}

int mc_sign_statement(const uint8_t key[32], const uint8_t digest[32], uint8_t signature[MC_STATEMENT_SIGNATURE_BYTES],
                      struct cohort_error *err)
{
    int rc = secp_sign(key, digest, signature, err); /* low s, v 0 or 1 */
    if (rc < 0) return rc;
    signature[64] = (uint8_t)(signature[64] + 27);
    return 0;
}

static int send_signed(struct mc_rpc *rpc, const uint8_t key[32], const struct mc_deployment *d, enum fn f,
                       struct abi_value *args, size_t nargs, const uint8_t (*signatures)[MC_STATEMENT_SIGNATURE_BYTES],
                       size_t nsignatures, struct mc_rotation_events *rotations, struct cohort_error *err)
{
    if (nsignatures > MC_CHAIN_MAX_NODES)
        return cohort_error_set(err, MC_E_INVALID, DOMAIN, "%zu signatures: a chain has at most %d members",
                                nsignatures, MC_CHAIN_MAX_NODES);
    struct abi_value items[MC_CHAIN_MAX_NODES];
    for (size_t i = 0; i < nsignatures; i++) items[i] = abi_value_bytes(signatures[i], MC_STATEMENT_SIGNATURE_BYTES);
    args[nargs - 1] = abi_value_array(items, nsignatures);
    return send_rotating(rpc, key, d, f, args, nargs, MC_ROTATION_GAS_EXTRA, rotations, err);
}

int mc_manager_complete_rotation(struct mc_rpc *rpc, const uint8_t key[32], const struct mc_deployment *d,
                                 uint64_t chain_id, uint32_t epoch, uint64_t height,
                                 const uint8_t (*signatures)[MC_STATEMENT_SIGNATURE_BYTES], size_t nsignatures,
                                 struct mc_rotation_events *rotations, struct cohort_error *err)
{
    struct abi_value args[4] = {abi_value_uint64(chain_id), abi_value_uint64(epoch), abi_value_uint64(height)};
    return send_signed(rpc, key, d, FN_COMPLETE_ROTATION, args, 4, signatures, nsignatures, rotations, err);
}

int mc_manager_report_absent(struct mc_rpc *rpc, const uint8_t key[32], const struct mc_deployment *d,
                             uint64_t chain_id, uint64_t node_id, uint64_t since,
                             const uint8_t (*signatures)[MC_STATEMENT_SIGNATURE_BYTES], size_t nsignatures,
                             struct mc_rotation_events *rotations, struct cohort_error *err)
{
    struct abi_value args[4] = {abi_value_uint64(chain_id), abi_value_uint64(node_id), abi_value_uint64(since)};
    return send_signed(rpc, key, d, FN_REPORT_ABSENT, args, 4, signatures, nsignatures, rotations, err);
}

int mc_manager_get_rotation(struct mc_rpc *rpc, const struct mc_deployment *d, uint64_t chain_id,
                            struct mc_rotation_info *out, struct cohort_error *err)
{
    bindings(); /* the result types below are read before get() would initialise them */
    struct abi_arena arena;
    abi_arena_init(&arena, 1u << 16);
    struct abi_value arg = abi_value_uint64(chain_id), result;
    int rc = get(rpc, d, FN_GET_ROTATION, &arg, 1, B.rotation_info, &arena, &result, err);
    if (rc == 0) {
        const struct abi_value *f = result.as.list.items[0].as.list.items;
        memset(out, 0, sizeof *out);
        out->epoch = (uint32_t)word64(&f[0]);
        out->pending = f[1].as.boolean;
        out->leaving_node_id = word64(&f[2]);
        out->joining_node_id = word64(&f[3]);
        out->joining_first_slot = (unsigned)word64(&f[4]);
        out->member_index = (unsigned)word64(&f[5]);
        out->reason = (enum mc_rotation_reason)word64(&f[6]);
        out->started_block = word64(&f[7]);
    }
    abi_arena_free(&arena);
    return rc;
}

int mc_manager_complete_exit(struct mc_rpc *rpc, const uint8_t key[32], const struct mc_deployment *d, uint64_t node_id,
                             struct cohort_error *err)
{
    return send_id(rpc, key, d, FN_COMPLETE_EXIT, node_id, err);
}

int mc_manager_delete_chain(struct mc_rpc *rpc, const uint8_t key[32], const struct mc_deployment *d, uint64_t chain_id,
                            struct cohort_error *err)
{
    return send_id(rpc, key, d, FN_DELETE_CHAIN, chain_id, err);
}

int mc_manager_create_chain(struct mc_rpc *rpc, const uint8_t key[32], const struct mc_deployment *d, const char *name,
                            unsigned size, unsigned node_count, uint64_t *chain_id, struct cohort_error *err)
{
    struct abi_value args[3] = {abi_value_string(name), abi_value_uint64(size), abi_value_uint64(node_count)};
    struct mc_receipt r;
    /* Which nodes are picked depends on the including block's prevrandao, so the estimate
       (made at another) can be short by up to ~17,100 gas per member: add 25,000 each. */
    struct mc_send_options options = {.gas_extra = 25000ull * node_count};
    int rc = send_with(rpc, key, d, FN_CREATE_CHAIN, args, 3, &options, &r, err);
    if (rc < 0) return rc;
    struct mc_event e;
    rc = find_event(&r, d, EV_CHAIN_CREATED, &e, err);
    if (rc == 0) *chain_id = e.chain_id;
    mc_receipt_free(&r);
    return rc;
}

int mc_manager_deploy(struct mc_rpc *rpc, const uint8_t key[32], struct mc_deployment *d, struct cohort_error *err)
{
    bindings();
    size_t hex_len = strlen(B.bytecode_hex), len;
    uint8_t *code = malloc(hex_len / 2 + 1);
    if (code == NULL) return cohort_error_set(err, MC_E_NOMEM, DOMAIN, "out of memory");
    int rc = hex_decode(B.bytecode_hex, code, hex_len / 2, &len, err);
    if (rc < 0) {
        free(code);
        return cohort_error_wrap(err, "embedded bytecode");
    }
    struct mc_tx tx = {.has_to = false, .data = code, .data_len = len};
    struct mc_receipt r;
    rc = mc_send_transaction(rpc, key, 0, &tx, NULL, &r, err);
    free(code);
    if (rc < 0) return cohort_error_wrap(err, "deploy CohortManager");
    if (!r.has_contract_address) {
        mc_receipt_free(&r);
        return cohort_error_set(err, MC_E_MALFORMED, DOMAIN, "deploy: the receipt has no contract address");
    }
    memcpy(d->address, r.contract_address, 20);
    d->block = r.block_number;
    mc_receipt_free(&r);
    return mc_eth_chain_id(rpc, &d->chain_id, err);
}

/* ---- Events ---- */

int mc_manager_decode_event(const struct mc_log *log, struct mc_event *out, struct cohort_error *err)
{
    bindings();
    memset(out, 0, sizeof *out);
    if (log->ntopics == 0) return cohort_error_set(err, MC_E_NOT_FOUND, DOMAIN, "log without topics");
    int which = -1;
    for (int i = 0; i < EV_COUNT; i++)
        if (memcmp(log->topics[0], B.topics[i], 32) == 0) which = i;
    if (which < 0) return cohort_error_set(err, MC_E_NOT_FOUND, DOMAIN, "not a manager event");
    struct abi_arena arena;
    abi_arena_init(&arena, 1u << 20);
    struct abi_value v;
    int rc = abi_event_decode(&arena, &B.ev[which], (const uint8_t(*)[32])log->topics, log->ntopics, log->data,
                              log->data_len, NULL, &v, err);
    if (rc < 0) {
        abi_arena_free(&arena);
        cohort_error_wrap(err, "event %s in block %llu", B.ev[which].name, (unsigned long long)log->block_number);
        err->code = MC_E_MALFORMED;
        return MC_E_MALFORMED;
    }
    const struct abi_value *a = v.as.list.items;
    out->kind = ev_kind[which];
    out->block_number = log->block_number;
    out->log_index = log->log_index;
    switch (which) {
    case EV_NODE_REGISTERED:
        out->node_id = word64(&a[0]);
        memcpy(out->owner, a[1].as.address, 20);
        copy_text(&a[2], out->name, sizeof out->name);
        memcpy(out->ip, a[3].as.fixed.data, 4);
        out->port = (uint16_t)word64(&a[4]);
        if (a[5].as.bytes.len == 64) memcpy(out->public_key, a[5].as.bytes.data, 64);
        else rc = cohort_error_set(err, MC_E_MALFORMED, DOMAIN, "NodeRegistered: public key of %zu bytes", a[5].as.bytes.len);
        copy_text(&a[6], out->domain, sizeof out->domain);
        break;
    case EV_NODE_EXIT_INITIATED:
    case EV_NODE_EXITED:
        out->node_id = word64(&a[0]);
        memcpy(out->owner, a[1].as.address, 20);
        break;
    case EV_CHAIN_CREATED:
        out->chain_id = word64(&a[0]);
        copy_text(&a[1], out->name, sizeof out->name);
        memcpy(out->owner, a[2].as.address, 20);
        out->size = (unsigned)word64(&a[3]);
        if (a[4].as.list.count > MC_CHAIN_MAX_NODES) {
            rc = cohort_error_set(err, MC_E_MALFORMED, DOMAIN, "ChainCreated: %zu nodes", a[4].as.list.count);
            break;
        }
        for (size_t i = 0; i < a[4].as.list.count; i++) out->node_ids[i] = word64(&a[4].as.list.items[i]);
        out->nnodes = (unsigned)a[4].as.list.count;
        break;
    case EV_NODE_ASSIGNED:
    case EV_NODE_RELEASED:
        out->chain_id = word64(&a[0]);
        out->node_id = word64(&a[1]);
        out->first_slot = (unsigned)word64(&a[2]);
        break;
    case EV_CHAIN_DELETED:
        out->chain_id = word64(&a[0]);
        copy_text(&a[1], out->name, sizeof out->name);
        memcpy(out->owner, a[2].as.address, 20);
        break;
    case EV_ROTATION_STARTED:
        out->chain_id = word64(&a[0]);
        out->node_id = word64(&a[1]);
        out->joining_node_id = word64(&a[2]);
        out->epoch = (uint32_t)word64(&a[3]);
        out->member_index = (unsigned)word64(&a[4]);
        out->first_slot = (unsigned)word64(&a[5]);
        out->reason = (enum mc_rotation_reason)word64(&a[6]);
        if (out->member_index >= MC_CHAIN_MAX_NODES)
            rc = cohort_error_set(err, MC_E_MALFORMED, DOMAIN, "RotationStarted: member index %u", out->member_index);
        break;
    case EV_ROTATION_WAITING:
        out->chain_id = word64(&a[0]);
        out->node_id = word64(&a[1]);
        break;
    case EV_ROTATION_COMPLETED:
        out->chain_id = word64(&a[0]);
        out->node_id = word64(&a[1]);
        out->joining_node_id = word64(&a[2]);
        out->epoch = (uint32_t)word64(&a[3]);
        out->height = word64(&a[4]);
        break;
    }
    abi_arena_free(&arena);
    return rc;
}
