/*
 * chain_node.c - a chain member's life: the genesis, the subnode's key, the BFT node, the
 * RPC server, the head and the status (chain_node.h).
 */
#include "subnode/node/node_internal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/hex.h"
#include "common/keccak.h"
#include "common/log.h"
#include "common/secp.h"
#include "subnode/chain/txpool.h"
#include "subnode/evm/evm.h"
#include "subnode/rpc/rpc.h"

#define DOMAIN "subnode"
/* The genesis base fee and the floor under every later one: 1 gwei, as a new geth devnet. */
#define MIN_BASE_FEE_WEI 1000000000u
/* The part of the disk budget the store's map may take; the WAL and the rest keep the remainder. */
#define STORE_SHARE_PERCENT 80u

int64_t cn_monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t cn_monotonic_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t cn_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int cn_block_hash(struct chain_node *n, uint64_t number, uint8_t out[32])
{
    struct store_view *v;
    struct cohort_error err = {0};
    if (store_view_begin(n->store, &v, &err) != 0) return -1;
    int rc = store_block_hash(v, number, out, &err);
    store_view_end(v);
    return rc;
}

/* ---- Files in the volume ---- */

/*
 * Writes a file the way nothing can swap or half-write it: a fresh name (O_EXCL,
 * O_NOFOLLOW: a link planted there is refused), mode 0600, fsync, rename over path, fsync
 * of the folder.
 */
int cn_write_file(const char *path, const char *text, size_t len, struct cohort_error *err)
{
    char tmp[1300];
    if (snprintf(tmp, sizeof tmp, "%s.%d.new", path, (int)getpid()) >= (int)sizeof tmp)
        return cohort_error_set(err, COMMON_E_RANGE, DOMAIN, "path %s is too long", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return cohort_error_errno(err, COMMON_E_IO, DOMAIN, errno, "cannot write %s", tmp);
    bool ok = write(fd, text, len) == (ssize_t)len && fsync(fd) == 0;
    int saved = errno;
    close(fd);
    if (!ok || rename(tmp, path) != 0) {
        saved = ok ? errno : saved;
        unlink(tmp);
        return cohort_error_errno(err, COMMON_E_IO, DOMAIN, saved, "cannot write %s", path);
    }
    char dir[1300];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    int dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

/*
 * Loads the subnode's signing key from path, or makes one there on first start. The file
 * holds "0x", 64 hex digits and a newline; it is read with O_NOFOLLOW, so a link planted
 * at the path is refused.
 */
static int load_or_make_key(const char *path, uint8_t key[32], struct cohort_error *err)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) {
        char text[80];
        ssize_t got = read(fd, text, sizeof text - 1);
        close(fd);
        if (got < 66) return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "key %s is damaged (%zd bytes)", path, got);
        text[66] = '\0';
        if (hex_decode_exact(text, key, 32, err) != 0 || secp_private_key_check(key, err) != 0)
            return cohort_error_wrap(err, "key %s is damaged: move it away to make a new one", path);
        return 0;
    }
    if (errno != ENOENT) return cohort_error_errno(err, COMMON_E_IO, DOMAIN, errno, "cannot read key %s", path);
    if (secp_key_generate(key, err) != 0) return cohort_error_wrap(err, "making the subnode key");
    char text[68];
    hex_encode(key, 32, text, sizeof text);
    text[66] = '\n';
    int rc = cn_write_file(path, text, 67, err);
    explicit_bzero(text, sizeof text);
    return rc;
}

/* ---- The genesis ---- */

/* The genesis header the config implies, with its state root computed in memory. */
static int genesis_header(const struct chain_config *c, struct state **state_out, struct block_header *h,
                          uint8_t hash[32], struct cohort_error *err)
{
    struct state *st = state_new();
    if (st == NULL) return cohort_error_set(err, COMMON_E_NOMEM, DOMAIN, "out of memory");
    for (unsigned i = 0; i < c->nalloc; i++) {
        if (state_put_account(st, c->alloc[i].address, 0, c->alloc[i].balance, NULL, 0, err) != 0) {
            state_free(st);
            return err->code;
        }
    }
    memset(h, 0, sizeof *h);
    if (state_root(st, h->state_root, err) != 0) {
        state_free(st);
        return err->code;
    }
    memcpy(h->ommers_hash, block_empty_ommers_hash, 32);
    memcpy(h->transactions_root, trie_empty_root, 32);
    memcpy(h->receipts_root, trie_empty_root, 32);
    h->number = 0;
    h->gas_limit = c->genesis_gas_limit;
    h->timestamp = c->genesis_timestamp;
    h->has_base_fee = true;
    h->base_fee = u256_from_u64(MIN_BASE_FEE_WEI);
    h->has_withdrawals_root = true;
    memcpy(h->withdrawals_root, trie_empty_root, 32);
    h->has_blob_gas = true;
    h->has_parent_beacon_root = true;
    block_header_hash(h, hash);
    *state_out = st;
    return 0;
}

/* Writes the genesis into an empty store, or checks the store holds this chain. */
static int open_chain(struct chain_node *n, struct cohort_error *err)
{
    struct state *st = NULL;
    struct block_header h;
    uint8_t hash[32];
    if (genesis_header(&n->config, &st, &h, hash, err) != 0) return err->code;
    struct store_txn *t;
    int rc = store_write_begin(n->store, &t, err);
    if (rc != 0) {
        state_free(st);
        return rc;
    }
    rc = store_txn_bind_chain(t, hash, n->config.evm_chain_id, err);
    struct store_view *probe = NULL;
    bool empty = true;
    if (rc == 0) {
        uint8_t head_hash[32];
        uint64_t head;
        empty = store_txn_head(t, &head, head_hash) == false;
    }
    if (rc == 0 && empty) {
        /* The store's incremental trie must give the root the in-memory trie gave. */
        uint8_t root[32];
        rc = store_txn_apply_state(t, st, 0, root, err);
        if (rc == 0 && memcmp(root, h.state_root, 32) != 0)
            rc = cohort_error_set(err, STORE_E_CORRUPT, DOMAIN, "genesis: the store's state root differs from the trie's");
        struct store_block b = {.header = &h, .hash = hash};
        if (rc == 0) rc = store_txn_put_block(t, &b, err);
        if (rc == 0) rc = store_write_commit(t, err);
        else store_write_abort(t);
        if (rc == 0) {
            char hex[67];
            hex_encode(hash, 32, hex, sizeof hex);
            log_info("genesis written", "chain=%s hash=%s accounts=%u", n->config.name, hex, n->config.nalloc);
        }
    } else if (rc == 0) {
        store_write_abort(t);
    } else {
        store_write_abort(t);
    }
    (void)probe;
    state_free(st);
    return rc;
}

/* Loads the head from the store into the node. */
static int load_head(struct chain_node *n, struct cohort_error *err)
{
    struct store_view *v;
    int rc = store_view_begin(n->store, &v, err);
    if (rc != 0) return rc;
    if (!store_view_head(v, &n->head_number, n->head_hash)) {
        store_view_end(v);
        return cohort_error_set(err, STORE_E_CORRUPT, DOMAIN, "the store has no head after the genesis");
    }
    rc = store_header(v, n->head_number, &n->head_header, NULL, err);
    store_view_end(v);
    if (rc != 1) return rc == 0 ? cohort_error_set(err, STORE_E_CORRUPT, DOMAIN, "the head's header is missing") : rc;
    if (store_applied(n->store, &n->applied_index, err) != 0) return err->code;
    return 0;
}

/* ---- After a block ---- */

void cn_block_done(struct chain_node *n, uint64_t index, const struct block_input *input,
                     const struct executed_block *block, bool replaying)
{
    pthread_mutex_lock(&n->lock);
    n->head_number = block->header.number;
    memcpy(n->head_hash, block->hash, 32);
    n->head_header = block->header;
    n->applied_index = index;
    n->last_block_wall_ms = cn_wall_ms();
    n->gas_used_total += block->header.gas_used;
    n->transactions_total += block->result.included_count;
    n->transactions_dropped += block->result.dropped_count;
    for (size_t i = 0; i < block->result.dropped_count; i++) {
        unsigned reason = (unsigned)block->result.dropped[i].reason;
        if (reason < sizeof n->dropped_by_reason / sizeof n->dropped_by_reason[0]) n->dropped_by_reason[reason]++;
    }
    pthread_mutex_unlock(&n->lock);
    cn_pool_block(n, input, block);
    if (!replaying && n->rpc) rpc_publish_block(n->rpc, block->header.number);
    cn_propose(n);
}

/* ---- BFT snapshots: the store is the state; a snapshot names the head it reached ---- */

/* The BFT thread ends: the VM its commits executed blocks with goes with it. */
static void on_bft_thread_exit(void *arg)
{
    cn_exec_drain(arg); /* the block the executor's thread runs was committed by this log */
    evm_thread_release();
}

/* layout: version u8 | head number u64 | head hash 32 */
static int on_snapshot(void *arg, uint64_t index, uint8_t **bytes, size_t *len)
{
    struct chain_node *n = arg;
    (void)index;
    cn_exec_drain(n); /* the snapshot names the head after commit index */
    /* The WAL is about to drop the commits before index: the store must hold them durably. */
    struct cohort_error err = {0};
    if (store_sync(n->store, &err) != 0) {
        log_error("snapshot refused: the store could not sync", "error=\"%s\"", err.message);
        return -1;
    }
    uint8_t *b = malloc(41);
    if (b == NULL) return -1;
    b[0] = 1;
    pthread_mutex_lock(&n->lock);
    for (int i = 0; i < 8; i++) b[1 + i] = (uint8_t)(n->head_number >> (56 - 8 * i));
    memcpy(b + 9, n->head_hash, 32);
    pthread_mutex_unlock(&n->lock);
    *bytes = b;
    *len = 41;
    return 0;
}

/*
 * The BFT log hands over a snapshot: at start (the WAL's own), or fetched from the others
 * because this member is behind every peer's log (f+1 of them vouched for it). When the
 * store holds the block it names, nothing moves; else the state at that block is installed
 * from the other members (state_sync.c).
 */
static int on_restore(void *arg, uint64_t index, const uint8_t *bytes, size_t len, struct cohort_error *err)
{
    struct chain_node *n = arg;
    cn_exec_drain(n); /* the head it compares with is the one after every commit so far */
    if (len != 41 || bytes[0] != 1)
        return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "snapshot at log index %llu: %zu bytes, not a chain head",
                                (unsigned long long)index, len);
    uint64_t number = 0;
    for (int i = 0; i < 8; i++) number = number << 8 | bytes[1 + i];
    const uint8_t *hash = bytes + 9;
    uint8_t ours[32];
    int held = number <= n->head_number ? cn_block_hash(n, number, ours) : 0;
    if (held == 1 && memcmp(ours, hash, 32) == 0) {
        if (index > n->applied_index) n->applied_index = index;
        return 0;
    }
    if (held == 1)
        log_warn("this member's block differs from the one the chain's snapshot names: its state is replaced",
                 "chain=%s block=%llu", n->config.name, (unsigned long long)number);
    else if (index <= n->applied_index && number <= n->head_number)
        return 0; /* an older snapshot, below what an import installed: nothing to do */
    return cn_state_transfer(n, index, number, hash, err);
}

/* ---- Members and keys (docs/chain.md "Members and keys") ---- */

bool cn_vouches(struct chain_node *n, uint32_t member, const uint8_t address[20], const uint8_t *proof,
                size_t proof_len)
{
    if (member >= n->config.nmembers || proof_len != 65) return false;
    uint8_t digest[32], signer[20];
    chain_subnode_cert_digest(&n->config, n->config.members[member].node_id, address, digest);
    /* The same digest, proof and vouching node as the last accepted: the same answer, without
       the recovery (a member's every batch carries its cert). */
    struct cn_vouched *c = &n->vouched[member];
    pthread_mutex_lock(&n->vouch_lock);
    bool known = c->valid && memcmp(c->digest, digest, 32) == 0 && memcmp(c->proof, proof, 65) == 0 &&
                 memcmp(c->node_address, n->member_address[member], 20) == 0;
    pthread_mutex_unlock(&n->vouch_lock);
    if (known) return true;
    if (secp_recover_address(digest, proof, SECP_S_LOW, signer, NULL) < 0) return false;
    if (memcmp(signer, n->member_address[member], 20) != 0) return false;
    pthread_mutex_lock(&n->vouch_lock);
    *c = (struct cn_vouched){.valid = true};
    memcpy(c->digest, digest, 32);
    memcpy(c->proof, proof, 65);
    memcpy(c->node_address, signer, 20);
    pthread_mutex_unlock(&n->vouch_lock);
    return true;
}

static int on_vouch(void *arg, uint32_t member, const uint8_t address[20], const uint8_t *proof, size_t proof_len)
{
    return cn_vouches(arg, member, address, proof, proof_len) ? 0 : -1;
}

/*
 * The members' keys learned so far, kept in the volume (members.json) so a restart knows
 * them before anyone connects: {"members": [{"index": 1, "address": "0x..", "proof":
 * "0x.."}, ...]}. Each is checked again when read.
 */
static void learned_path(const struct chain_node *n, char *out, size_t size)
{
    snprintf(out, size, "%s/members.json", n->data_dir);
}

static void load_learned(struct chain_node *n, struct bft_members *members)
{
    char path[1200];
    learned_path(n, path, sizeof path);
    FILE *f = fopen(path, "r");
    if (f == NULL) return;
    char text[16384];
    size_t len = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[len] = '\0';
    cJSON *root = cJSON_Parse(text);
    const cJSON *m;
    cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(root, "members"))
    {
        const cJSON *index = cJSON_GetObjectItemCaseSensitive(m, "index");
        const char *address = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, "address"));
        const char *proof = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, "proof"));
        uint8_t a[20], p[65];
        if (!cJSON_IsNumber(index) || address == NULL || proof == NULL || hex_decode_exact(address, a, 20, NULL) != 0 ||
            hex_decode_exact(proof, p, 65, NULL) != 0)
            continue;
        uint32_t i = (uint32_t)index->valuedouble;
        if (i == n->config.member_index || !cn_vouches(n, i, a, p, 65)) {
            log_warn("a learned member key is refused", "path=%s member=%u", path, i);
            continue;
        }
        memcpy(members->address[i], a, 20);
        memcpy(n->learned[i].proof, p, 65);
        n->learned[i].known = true;
    }
    cJSON_Delete(root);
}

static void on_learned(void *arg, uint32_t member, const uint8_t address[20], const uint8_t *proof, size_t proof_len)
{
    struct chain_node *n = arg;
    if (member >= n->config.nmembers || proof_len != 65) return;
    memcpy(n->learned[member].address, address, 20);
    memcpy(n->learned[member].proof, proof, 65);
    n->learned[member].known = true;
    char hex[67];
    hex_encode(address, 20, hex, sizeof hex);
    log_info("member key learned", "chain=%s member=%u address=%s", n->config.name, member, hex);
    cn_learned_save(n);
}

void cn_learned_save(struct chain_node *n)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *list = cJSON_AddArrayToObject(root, "members");
    for (uint32_t i = 0; i < n->config.nmembers; i++) {
        if (!n->learned[i].known) continue;
        cJSON *m = cJSON_CreateObject();
        char a[43], p[133];
        hex_encode(n->learned[i].address, 20, a, sizeof a);
        hex_encode(n->learned[i].proof, 65, p, sizeof p);
        cJSON_AddNumberToObject(m, "index", i);
        cJSON_AddStringToObject(m, "address", a);
        cJSON_AddStringToObject(m, "proof", p);
        cJSON_AddItemToArray(list, m);
    }
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    char path[1200];
    learned_path(n, path, sizeof path);
    struct cohort_error err = {0};
    if (text == NULL || cn_write_file(path, text, strlen(text), &err) != 0)
        log_warn("learned member keys not kept", "path=%s error=\"%s\"", path, err.message);
    free(text);
}

/*
 * The subnode's key (subnode.key) and its node's word for it (subnode.cert: 65 bytes of
 * hex, the node's signature over chain_subnode_cert_digest), both written into the volume
 * by cohort-core. A chain of one member started without cohort-core (a test, by hand)
 * makes its own key and needs no cert: nobody else must believe it.
 */
static int load_identity(struct chain_node *n, struct cohort_error *err)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/subnode.key", n->data_dir);
    int rc = load_or_make_key(path, n->key, err);
    if (rc == 0) rc = secp_address_from_secret(n->key, n->self_address, err);
    if (rc != 0) return rc;
    snprintf(path, sizeof path, "%s/subnode.cert", n->data_dir);
    FILE *f = fopen(path, "r");
    if (f != NULL) {
        char text[200] = "";
        size_t len = fread(text, 1, sizeof text - 1, f);
        fclose(f);
        text[len] = '\0';
        char *nl = strchr(text, '\n');
        if (nl) *nl = '\0';
        if (hex_decode_exact(text, n->cert, 65, err) != 0)
            return cohort_error_wrap(err, "%s is damaged: cohort-core writes it again when the subnode is recreated", path);
        if (!cn_vouches(n, n->config.member_index, n->self_address, n->cert, 65))
            return cohort_error_set(err, COMMON_E_INVALID, DOMAIN,
                                    "%s does not vouch for this subnode's key with node %llu's key (the member's public "
                                    "key in chain.json): the volume holds another node's files",
                                    path, (unsigned long long)n->config.node_id);
        n->has_cert = true;
    } else if (n->config.nmembers > 1) {
        return cohort_error_errno(err, COMMON_E_IO, DOMAIN, errno,
                                  "%s: the chain has %u members and this subnode has no word from its node for its key; "
                                  "cohort-core writes it (with --keystore)",
                                  path, n->config.nmembers);
    }
    return 0;
}

/* ---- The BFT node of the running epoch ---- */

static int make_dir(const char *path, struct cohort_error *err)
{
    if (mkdir(path, 0700) != 0 && errno != EEXIST)
        return cohort_error_errno(err, COMMON_E_IO, DOMAIN, errno, "cannot make %s", path);
    return 0;
}

int cn_bft_start(struct chain_node *n, bool fresh, struct cohort_error *err)
{
    int rc = 0;
    char path[1200];
    if (n->config.epoch != 0) {
        snprintf(path, sizeof path, "%s/bft/epoch-%u", n->data_dir, n->config.epoch);
        if ((rc = make_dir(path, err)) != 0) return rc;
    }
    struct bft_node_config nc;
    memset(&nc, 0, sizeof nc);
    nc.core.instance = rotation_instance(n->config.name, n->config.epoch);
    nc.core.members.count = n->config.nmembers;
    nc.core.self = n->config.member_index;
    memcpy(nc.core.members.address[nc.core.self], n->self_address, 20);
    memcpy(nc.core.private_key, n->key, 32);
    nc.core.payload_max_bytes = (uint32_t)n->payload_max_bytes;
    nc.core.window_heights = BFT_WINDOW_MAX;
    nc.core.timeout_ms = 1000;
    nc.core.idle_delay_ms = 100;
    for (unsigned i = 0; i < n->config.nmembers; i++) {
        const struct chain_member *m = &n->config.members[i];
        unsigned port = chain_member_rpc_port(m) + 1;
        if (i == nc.core.self) port = n->bft_port;
        snprintf(nc.endpoint[i], sizeof nc.endpoint[i], "%s:%u", i == nc.core.self ? n->bind_address : m->ip, port);
    }
    if (n->config.nmembers > 1) {
        /* The others' keys: learned when they connect and their nodes vouch for them. */
        nc.vouch = on_vouch;
        nc.learned = on_learned;
        memcpy(nc.proof, n->cert, 65);
        nc.proof_len = 65;
        load_learned(n, &nc.core.members);
    }
    if (cn_epoch_wal_path(n, n->config.epoch, nc.wal_path, sizeof nc.wal_path) != 0)
        rc = cohort_error_set(err, COMMON_E_RANGE, DOMAIN, "data folder %s is too long", n->data_dir);
    nc.on_commit = cn_on_commit;
    /* Snapshots every snapshot_every commits, with 4x that kept for members that lag: the
       block a snapshot names stays within the store's history window (1024 blocks) long
       enough for another member to install the state at it (docs/chain.md). */
    nc.snapshot_every = n->snapshot_every ? n->snapshot_every : CHAIN_SNAPSHOT_EVERY;
    nc.retain_commits = 4 * nc.snapshot_every;
    nc.snapshot = on_snapshot;
    nc.restore = on_restore;
    nc.tick = cn_tick;
    nc.thread_exit = on_bft_thread_exit;
    nc.held = cn_on_held;
    /* Members of an older epoch are shown the change that ended it; this member, when it
       dialled into an older one, follows the proof a later member shows it (epochs.c). */
    nc.pointer = cn_epochs_pointer;
    nc.pointed = cn_epochs_pointed;
    nc.arg = n;
    nc.equivocate = n->equivocate;
    nc.garbage = n->garbage;
    /* A member that lost what it signed signs nothing until it rejoins (rejoin.c); one that
       enters an epoch it never ran in has nothing to lose there. */
    if (rc == 0 && !fresh && cn_rejoin_needed(n, nc.wal_path)) nc.core.vote_from = UINT64_MAX;
    struct bft_node *node = NULL;
    if (rc == 0) rc = bft_node_start(&nc, &node, err);
    explicit_bzero(nc.core.private_key, sizeof nc.core.private_key);
    if (rc != 0) return cohort_error_wrap(err, "the chain's BFT log (epoch %u)", n->config.epoch);
    pthread_rwlock_wrlock(&n->bft_lock);
    n->bft = node;
    pthread_rwlock_unlock(&n->bft_lock);
    pthread_mutex_lock(&n->lock);
    n->epochs.node_started_ms = cn_wall_ms();
    bool left = n->epochs.left;
    pthread_mutex_unlock(&n->lock);
    atomic_store(&n->started, !left); /* a member that left lingers: it submits nothing */
    return 0;
}

int cn_bft_submit(struct chain_node *n, const uint8_t *entry, size_t len, struct cohort_error *err)
{
    pthread_rwlock_rdlock(&n->bft_lock);
    int rc = n->bft != NULL ? bft_node_submit(n->bft, entry, len, err)
                            : cohort_error_set(err, BFT_E_INVALID, DOMAIN, "the chain's log is between two epochs");
    pthread_rwlock_unlock(&n->bft_lock);
    return rc;
}

void cn_bft_status(struct chain_node *n, struct bft_node_status *out)
{
    pthread_rwlock_rdlock(&n->bft_lock);
    if (n->bft != NULL) bft_node_get_status(n->bft, out);
    else memset(out, 0, sizeof *out);
    pthread_rwlock_unlock(&n->bft_lock);
}

/* ---- Start and stop ---- */

int chain_node_start(const struct chain_node_options *o, struct chain_node **out, struct cohort_error *err)
{
    *out = NULL;
    struct chain_node *n = calloc(1, sizeof *n);
    if (n == NULL) return cohort_error_set(err, COMMON_E_NOMEM, DOMAIN, "out of memory");
    n->config = *o->config;
    snprintf(n->data_dir, sizeof n->data_dir, "%s", o->data_dir);
    if (o->over_budget_path) snprintf(n->over_budget_path, sizeof n->over_budget_path, "%s", o->over_budget_path);
    pthread_mutex_init(&n->lock, NULL);
    pthread_mutex_init(&n->pool_lock, NULL);
    pthread_mutex_init(&n->vouch_lock, NULL);
    n->sync_since = UINT64_MAX;
    n->min_base_fee = u256_from_u64(MIN_BASE_FEE_WEI);
    n->fault_tolerance = (n->config.nmembers - 1) / 3;
    n->lie_about_head = o->lie_about_head;
    n->payload_max_bytes = BFT_PAYLOAD_MAX;
    pthread_rwlock_init(&n->bft_lock, NULL);
    pthread_cond_init(&n->epochs.cond, NULL);
    snprintf(n->bind_address, sizeof n->bind_address, "%s", o->bind_address);
    n->bft_port = o->bft_port;
    n->snapshot_every = o->snapshot_every;
    n->equivocate = o->equivocate;
    n->garbage = o->garbage;
    n->switch_delay_ms = o->switch_delay_ms;
    n->transfer_delay_ms = o->transfer_delay_ms;
    for (unsigned i = 0; i < n->config.nmembers; i++)
        address_from_pubkey(n->config.members[i].public_key, n->member_address[i]);

    char path[1200];
    int rc = 0;
    /* The store. Its map is the chain's disk budget less room for the WAL. */
    uint64_t budget = n->config.disk_bytes ? n->config.disk_bytes : (1ull << 30);
    snprintf(path, sizeof path, "%s/chain", n->data_dir);
    struct store_options so = {.dir = path,
                               .map_bytes = budget / 100 * STORE_SHARE_PERCENT,
                               .history_blocks = o->history_blocks};
    n->exec_state = state_new();
    if (n->exec_state == NULL) rc = cohort_error_set(err, COMMON_E_NOMEM, DOMAIN, "out of memory");
    if (rc == 0) rc = store_open(&so, &n->store, err);
    if (rc == 0) rc = open_chain(n, err);
    if (rc == 0) rc = load_head(n, err);
    /* The pool. */
    if (rc == 0) rc = cn_pool_create(n, err);
    /* The subnode's key and its node's word for it, and the BFT node (its WAL replays
       through the executor). */
    if (rc == 0) rc = load_identity(n, err);
    snprintf(path, sizeof path, "%s/bft", n->data_dir);
    if (rc == 0) rc = make_dir(path, err);
    /* The epoch the volume reached (rotations: epochs.c), then its BFT node. */
    if (rc == 0) rc = cn_epochs_load(n, err);
    if (rc == 0) { /* the members of the epoch the volume reached */
        n->fault_tolerance = (n->config.nmembers - 1) / 3;
        for (unsigned i = 0; i < n->config.nmembers; i++)
            address_from_pubkey(n->config.members[i].public_key, n->member_address[i]);
    }
    if (rc == 0) rc = cn_exec_start(n, err);
    if (rc == 0) rc = cn_bft_start(n, false, err);
    if (rc == 0) cn_rejoin_started(n);
    if (rc == 0) rc = cn_epochs_thread_start(n, err);
    if (rc == 0) cn_epochs_started(n);
    /* The RPC server, and the blocks before a state installed earlier, still to fetch. */
    if (rc == 0) rc = cn_rpc_start(n, o, err);
    if (rc == 0) cn_backfill_start(n);
    if (rc != 0) {
        chain_node_stop(n);
        return rc;
    }
    char hex[67];
    hex_encode(n->head_hash, 32, hex, sizeof hex);
    log_info("chain running", "chain=%s evm_chain_id=%llu head=%llu hash=%s", n->config.name,
             (unsigned long long)n->config.evm_chain_id, (unsigned long long)n->head_number, hex);
    *out = n;
    return 0;
}

void chain_node_stop(struct chain_node *n)
{
    if (n == NULL) return;
    cn_epochs_stop(n);
    cn_backfill_stop(n);
    cn_rpc_stop(n);
    pthread_rwlock_wrlock(&n->bft_lock);
    struct bft_node *bft = n->bft;
    n->bft = NULL;
    pthread_rwlock_unlock(&n->bft_lock);
    bft_node_stop(bft);
    cn_exec_stop(n);
    cn_epochs_free(n);
    cn_pool_free(n);
    store_close(n->store);
    state_free(n->exec_state);
    pthread_mutex_destroy(&n->lock);
    pthread_mutex_destroy(&n->pool_lock);
    pthread_mutex_destroy(&n->vouch_lock);
    pthread_rwlock_destroy(&n->bft_lock);
    pthread_cond_destroy(&n->epochs.cond);
    explicit_bzero(n->key, sizeof n->key);
    free(n);
}

bool chain_node_accepting(struct chain_node *n)
{
    struct bft_node_status bs;
    cn_bft_status(n, &bs); /* a WAL that failed: this member no longer orders blocks */
    pthread_mutex_lock(&n->lock);
    bool halted = n->halted;
    pthread_mutex_unlock(&n->lock);
    return !halted && !bs.halted && cn_admission_open(n, NULL);
}

char *chain_node_status_json(struct chain_node *n)
{
    struct bft_node_status bs;
    cn_bft_status(n, &bs);
    pthread_mutex_lock(&n->lock);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "height", (double)n->head_number);
    char hex[67];
    hex_encode(n->head_hash, 32, hex, sizeof hex);
    cJSON_AddStringToObject(o, "head_hash", hex);
    cJSON_AddNumberToObject(o, "last_block_timestamp_ms",
                            n->last_block_wall_ms ? (double)n->last_block_wall_ms : (double)n->head_header.timestamp * 1000);
    cJSON_AddNumberToObject(o, "gas_used_total", (double)n->gas_used_total);
    cJSON_AddNumberToObject(o, "transactions_total", (double)n->transactions_total);
    cJSON_AddNumberToObject(o, "transactions_dropped_total", (double)n->transactions_dropped);
    /* Time on the log's thread building blocks (execution, the store's write, the pool's
       update): while it runs, the log's messages wait. */
    cJSON_AddNumberToObject(o, "execute_ms_total", (double)(n->execute_us / 1000));
    static const char *const phases[CN_PHASES] = {"transactions", "state", "block", "commit", "pool"};
    cJSON *by_phase = cJSON_AddObjectToObject(o, "execute_ms_by_phase");
    for (int i = 0; i < CN_PHASES; i++) cJSON_AddNumberToObject(by_phase, phases[i], (double)(n->phase_us[i] / 1000));
    /* Why, by the reasons' names: under load mostly GAS_ALLOWANCE_EXCEEDED (the block was
       full; they come again in a later one) and NONCE_MISMATCH (a copy of a transaction
       already in a block: a batch made again after a block without it, or an entry the log
       carried twice). */
    cJSON *why = cJSON_AddObjectToObject(o, "transactions_dropped_by_reason");
    for (unsigned r = 0; r < sizeof n->dropped_by_reason / sizeof n->dropped_by_reason[0]; r++)
        if (n->dropped_by_reason[r])
            cJSON_AddNumberToObject(why, r == CHAIN_REJECT_NONE ? "BAD_SIGNATURE_OR_CHAIN_ID" : chain_reject_name(r),
                                    (double)n->dropped_by_reason[r]);
    u256 base_fee = cn_next_base_fee(n, &n->head_header);
    cJSON_AddNumberToObject(o, "base_fee_wei", (double)base_fee.w[0] + 18446744073709551616.0 * (double)base_fee.w[1]);
    /* Halted: the executor stopped (divergence, a store error) or the BFT log's WAL failed. */
    cJSON_AddBoolToObject(o, "halted", n->halted || bs.halted);
    if (n->halted) cJSON_AddStringToObject(o, "halt_reason", n->halt_reason);
    else if (bs.halted) cJSON_AddStringToObject(o, "halt_reason", bs.halt_reason);
    pthread_mutex_unlock(&n->lock);
    cn_pool_status_json(n, o);
    cJSON_AddNumberToObject(o, "peers_connected", bs.peers_connected);
    cJSON_AddNumberToObject(o, "view", (double)bs.core.height);
    /* Heights below the highest that f+1 other members signed at or told as their links
       opened: 0 once caught up, and known once f+1 others were heard (an upgrade waits for both). */
    cJSON_AddNumberToObject(o, "behind", (double)bs.core.behind);
    cJSON_AddBoolToObject(o, "behind_known", bs.core.behind_known);
    cJSON_AddNumberToObject(o, "peers_heard", bs.core.peers_heard);
    cJSON_AddNumberToObject(o, "log_index", (double)bs.core.committed_index);
    /* The log waited past its stall limit with a quorum connected (docs/bft.md "Stalls"). */
    cJSON_AddBoolToObject(o, "stalled", bs.core.stalled);
    cJSON_AddNumberToObject(o, "stalls_total", (double)bs.core.stalls);
    cJSON_AddNumberToObject(o, "consensus_members", n->config.nmembers);
    cJSON_AddNumberToObject(o, "links_refused", (double)bs.links_refused);
    cJSON_AddNumberToObject(o, "equivocations_seen", (double)bs.core.equivocations_seen);
    /* Messages that did not decode, came from no member, or bore a bad signature (docs/bft.md). */
    cJSON_AddNumberToObject(o, "messages_refused", (double)bs.core.messages_refused);
    if (bs.garbage_sent) cJSON_AddNumberToObject(o, "garbage_sent", (double)bs.garbage_sent);
    if (bs.proposals_equivocated) cJSON_AddNumberToObject(o, "proposals_equivocated", (double)bs.proposals_equivocated);
    cJSON_AddNumberToObject(o, "batches_refused", (double)n->batches_refused);
    /* State transfers (docs/chain.md "State transfer"): the first block held whole, and progress. */
    pthread_mutex_lock(&n->lock);
    cJSON *t = cJSON_AddObjectToObject(o, "state_transfer");
    cJSON_AddBoolToObject(t, "running", n->transfer.running);
    cJSON_AddNumberToObject(t, "done", (double)n->transfer.done);
    if (n->transfer.attempts) {
        cJSON_AddNumberToObject(t, "block", (double)n->transfer.block);
        cJSON_AddNumberToObject(t, "source", n->transfer.source);
        cJSON_AddNumberToObject(t, "accounts", (double)n->transfer.accounts);
        cJSON_AddNumberToObject(t, "slots", (double)n->transfer.slots);
        cJSON_AddNumberToObject(t, "bytes", (double)n->transfer.bytes);
        if (n->transfer.error[0]) cJSON_AddStringToObject(t, "error", n->transfer.error);
    }
    /* The first block this member holds whole: 0, or the installed block as it fetches older ones. */
    cJSON_AddNumberToObject(t, "blocks_from", (double)n->transfer.blocks_from);
    if (n->rejoin.active) { /* it lost what it signed: docs/chain.md "Rejoining" */
        cJSON *r = cJSON_AddObjectToObject(o, "rejoin");
        cJSON_AddBoolToObject(r, "waiting", n->rejoin.waiting);
        if (!n->rejoin.waiting) cJSON_AddNumberToObject(r, "vote_from", (double)n->rejoin.vote_from);
    }
    pthread_mutex_unlock(&n->lock);
    pthread_mutex_lock(&n->pool_lock);
    cJSON_AddNumberToObject(o, "batches_resubmitted", (double)n->batches_resubmitted);
    /* Batches submitted that no executed block held yet (at most CN_BATCHES_IN_FLIGHT): on a
       resting chain 0; one that stays is a batch the log lost, resubmitted every 5 s. */
    cJSON_AddNumberToObject(o, "batches_in_flight", (double)n->batches_in_flight);
    pthread_mutex_unlock(&n->pool_lock);
    /* The log's commits: how many reached the executor, and their total wait from the
       COMMIT record's append to the executor (the WAL's sync and the loop's turn). */
    cJSON_AddNumberToObject(o, "commits_delivered", (double)bs.commits_delivered);
    cJSON_AddNumberToObject(o, "commit_wait_ms_total", (double)(bs.commit_wait_us / 1000));
    /* The WAL's fdatasyncs (one for every loop turn that appended) and their total time. */
    cJSON_AddNumberToObject(o, "wal_syncs", (double)bs.wal_syncs);
    cJSON_AddNumberToObject(o, "wal_sync_ms_total", (double)(bs.wal_sync_us / 1000));
    /* Copies of batches committed already (late forwards, resubmissions): not proposed again. */
    cJSON_AddNumberToObject(o, "entries_already_committed", (double)bs.entries_already_committed);
    /* ... and copies that came while a proposed block carried them. */
    cJSON_AddNumberToObject(o, "entries_in_proposed_blocks", (double)bs.core.entries_in_held_blocks);
    cn_epochs_status_json(n, &bs, o);
    cJSON *disagreeing = cJSON_AddArrayToObject(o, "members_disagreeing");
    for (unsigned i = 0; i < n->config.nmembers; i++)
        if (n->members_disagreeing & (1ull << i)) cJSON_AddItemToArray(disagreeing, cJSON_CreateNumber(i));
    uint64_t used, map;
    store_usage(n->store, &used, &map);
    cJSON_AddNumberToObject(o, "store_bytes", (double)used);
    cJSON_AddNumberToObject(o, "store_budget_bytes", (double)map);
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}
