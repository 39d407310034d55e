/*
 * rotation_prep.c - what bench/rotation_bench.sh needs besides the subnodes themselves
 * (docs/PERFORMANCE.md "Rotation"): it plays cohort-core and the manager for one chain of
 * four members whose member 3 a fifth node replaces.
 *
 *   rotation_prep volumes DIR BASE_PORT   node keys (DIR/node-keys), volumes DIR/m0..m3 (epoch 0:
 *                                          chain.json, subnode.key, subnode.cert) and DIR/m4 (the
 *                                          joining node's, epoch 1); member i serves on
 *                                          BASE_PORT + 16 i
 *   rotation_prep fill VOLUME ACCOUNTS     ACCOUNTS accounts into the volume's store, in blocks
 *                                          after its head (bench_state.h): the same bytes in
 *                                          every volume, so the members agree on them
 *   rotation_prep vouch DIR BASE_PORT      each member's node vouches for the rotation
 *                                          (rotation.vouch in DIR/m0..m3): the change starts
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bench_state.h"
#include "common/chain_config.h"
#include "common/chain_rotation.h"
#include "common/hex.h"
#include "common/secp.h"

#define MEMBERS 4
/* anvil's first key: funded in the genesis, so cast can send to the chain. */
static const char funded_key[] = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

_Noreturn static void die(const char *what, const char *detail)
{
    fprintf(stderr, "rotation_prep: %s: %s\n", what, detail ? detail : "");
    exit(1);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0) die("cannot write", path);
}

static void load_keys(const char *dir, uint8_t keys[MEMBERS + 1][32])
{
    char path[1100], line[100];
    snprintf(path, sizeof path, "%s/node-keys", dir);
    FILE *f = fopen(path, "r");
    if (f == NULL) die("cannot read", path);
    for (int i = 0; i <= MEMBERS; i++) {
        if (fgets(line, sizeof line, f) == NULL) die("too few keys in", path);
        line[strcspn(line, "\n")] = '\0';
        if (hex_decode_exact(line, keys[i], 32, NULL) != 0) die("a damaged key in", path);
    }
    fclose(f);
}

static struct chain_config base_config(uint8_t keys[MEMBERS + 1][32], unsigned base_port)
{
    struct cohort_error err = {0};
    struct chain_config c;
    memset(&c, 0, sizeof c);
    c.version = CHAIN_CONFIG_VERSION;
    snprintf(c.name, sizeof c.name, "rotating");
    c.chain_id = 1;
    c.evm_chain_id = 4323;
    c.slots = 1;
    c.manager_chain_id = 31337;
    c.nmembers = MEMBERS;
    for (int m = 0; m < MEMBERS; m++) {
        c.members[m].node_id = 101 + (uint64_t)m;
        snprintf(c.members[m].ip, sizeof c.members[m].ip, "127.0.0.1");
        c.members[m].base_port = (uint16_t)(base_port + 16 * m);
        if (secp_pubkey(keys[m], c.members[m].public_key, &err) != 0) die("public key", err.message);
    }
    c.genesis_gas_limit = 30000000;
    c.nalloc = 1;
    uint8_t key[32];
    if (hex_decode_exact(funded_key, key, 32, &err) != 0 || secp_address_from_secret(key, c.alloc[0].address, &err) != 0)
        die("funded key", err.message);
    c.alloc[0].balance = u256_mul(u256_from_u64(1000000), u256_from_u64(1000000000000000000ull));
    c.disk_bytes = 4ull << 30;
    c.txpool_max_transactions = 10000;
    c.txpool_max_bytes = 64u << 20;
    return c;
}

/* The manager's rotation: node 105 takes member 3's place (node 104), at epoch 1. */
static struct rotation_record the_rotation(uint8_t keys[MEMBERS + 1][32], unsigned base_port)
{
    struct cohort_error err = {0};
    struct rotation_record r;
    memset(&r, 0, sizeof r);
    r.epoch = 1;
    r.member_index = 3;
    r.leaving_node_id = 104;
    r.joining.node_id = 105;
    snprintf(r.joining.ip, sizeof r.joining.ip, "127.0.0.1");
    r.joining.base_port = (uint16_t)(base_port + 16 * MEMBERS);
    if (secp_pubkey(keys[MEMBERS], r.joining.public_key, &err) != 0) die("public key", err.message);
    return r;
}

/* Volume DIR/m<v>: chain.json (c), a subnode key and node v's certificate for it. */
static void write_volume(const char *dir, int v, const struct chain_config *c, const uint8_t node_key[32])
{
    struct cohort_error err = {0};
    char vol[1100], path[1200], *json = NULL;
    snprintf(vol, sizeof vol, "%s/m%d", dir, v);
    if (mkdir(vol, 0700) != 0 && errno != EEXIST) die("cannot make", vol);
    if (chain_config_encode(c, &json, &err) != 0) die("chain config", err.message);
    snprintf(path, sizeof path, "%s/chain.json", vol);
    write_text(path, json);
    free(json);
    uint8_t key[32], address[20], digest[32], sig[65];
    if (secp_key_generate(key, &err) != 0 || secp_address_from_secret(key, address, &err) != 0) die("key", err.message);
    chain_subnode_cert_digest(c, c->node_id, address, digest);
    if (secp_sign(node_key, digest, sig, &err) != 0) die("cert", err.message);
    char text[140];
    hex_encode(key, 32, text, sizeof text);
    strcat(text, "\n");
    snprintf(path, sizeof path, "%s/subnode.key", vol);
    write_text(path, text);
    hex_encode(sig, 65, text, sizeof text);
    strcat(text, "\n");
    snprintf(path, sizeof path, "%s/subnode.cert", vol);
    write_text(path, text);
}

static void volumes(const char *dir, unsigned base_port)
{
    struct cohort_error err = {0};
    uint8_t keys[MEMBERS + 1][32];
    char path[1100], text[80];
    snprintf(path, sizeof path, "%s/node-keys", dir);
    FILE *f = fopen(path, "w");
    if (f == NULL) die("cannot write", path);
    for (int i = 0; i <= MEMBERS; i++) {
        if (secp_key_generate(keys[i], &err) != 0) die("key", err.message);
        hex_encode(keys[i], 32, text, sizeof text);
        fprintf(f, "%s\n", text);
    }
    if (fclose(f) != 0) die("cannot write", path);
    for (int i = 0; i < MEMBERS; i++) {
        struct chain_config c = base_config(keys, base_port);
        c.node_id = c.members[i].node_id;
        c.member_index = (unsigned)i;
        write_volume(dir, i, &c, keys[i]);
    }
    struct chain_config joiner = base_config(keys, base_port), next;
    joiner.node_id = 105;
    struct rotation_record r = the_rotation(keys, base_port);
    rotation_apply(&joiner, &r, &next);
    write_volume(dir, MEMBERS, &next, keys[MEMBERS]);
}

static void fill(const char *volume, uint64_t accounts)
{
    struct cohort_error err = {0};
    char path[1100];
    snprintf(path, sizeof path, "%s/chain", volume);
    /* The map the subnode opens it with: 80% of the chain's disk budget (chain_node.c). */
    struct store_options so = {.dir = path, .map_bytes = (4ull << 30) / 100 * 80};
    struct store *s;
    if (store_open(&so, &s, &err) != 0) die("store", err.message);
    uint64_t slots;
    uint64_t head = bench_state_fill(s, accounts, true, &slots);
    if (store_sync(s, &err) != 0) die("sync", err.message);
    store_close(s);
    printf("rotation_prep fill volume=%s accounts=%llu slots=%llu head=%llu\n", volume, (unsigned long long)accounts,
           (unsigned long long)slots, (unsigned long long)head);
}

static void vouch(const char *dir, unsigned base_port)
{
    uint8_t keys[MEMBERS + 1][32];
    load_keys(dir, keys);
    struct chain_config c = base_config(keys, base_port);
    struct rotation_record r = the_rotation(keys, base_port);
    uint8_t bytes[ROTATION_RECORD_BYTES + ROTATION_SIGNATURE_BYTES], digest[32];
    rotation_record_encode(&r, bytes);
    rotation_vouch_digest(&c, bytes, digest);
    for (int i = 0; i < MEMBERS; i++) {
        struct cohort_error err = {0};
        if (secp_sign(keys[i], digest, bytes + ROTATION_RECORD_BYTES, &err) != 0) die("vouch", err.message);
        char text[2 * sizeof bytes + 4], path[1200];
        hex_encode(bytes, sizeof bytes, text, sizeof text);
        strcat(text, "\n");
        snprintf(path, sizeof path, "%s/m%d/" ROTATION_FILE, dir, i);
        write_text(path, text);
    }
}

int main(int argc, char **argv)
{
    struct cohort_error err = {0};
    if (secp_init(&err) != 0) die("secp", err.message);
    if (argc == 4 && strcmp(argv[1], "volumes") == 0) volumes(argv[2], (unsigned)strtoul(argv[3], NULL, 10));
    else if (argc == 4 && strcmp(argv[1], "fill") == 0) fill(argv[2], strtoull(argv[3], NULL, 10));
    else if (argc == 4 && strcmp(argv[1], "vouch") == 0) vouch(argv[2], (unsigned)strtoul(argv[3], NULL, 10));
    else {
        fputs("usage: rotation_prep volumes DIR BASE_PORT | fill VOLUME ACCOUNTS | vouch DIR BASE_PORT\n", stderr);
        return 2;
    }
    return 0;
}
