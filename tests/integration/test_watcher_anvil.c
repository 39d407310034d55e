/*
 * test_watcher_anvil.c - the event watcher against a real anvil: every event delivered in
 * order; a reorg (evm_snapshot / evm_revert, then other blocks) followed; the watching
 * process SIGKILLed and restarted many times mid-stream loses and repeats nothing.
 *
 * The contract is a tiny emitter: any call logs LOG1(topic, calldata).
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/hex.h"
#include "manager-client/manager_client.h"
#include "testutil.h"

#define MAX_EVENTS 256

static const char *dev0 = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266";
/* init: CODECOPY the 44-byte runtime after these 11 bytes and RETURN it.
   runtime: CALLDATACOPY(0, 0, size); LOG1(0, size, 0x1111...); STOP */
static const char *emitter_code =
    "0x602c80600b6000396000f3"
    "366000600037"
    "7f1111111111111111111111111111111111111111111111111111111111111111"
    "3660" "00a100";

static char url[64];
static int anvil_pid;
static uint8_t emitter[20];

static cJSON *call_ok(struct mc_rpc *rpc, const char *method, cJSON *params)
{
    cJSON *result = NULL;
    struct cohort_error err = {0};
    int rc = mc_rpc_call(rpc, method, params, &result, &err);
    ck_assert_msg(rc == 0, "%s: %s", method, err.message);
    cJSON_Delete(params);
    return result;
}

/* Sends a transaction from the unlocked dev account (anvil mines it at once); returns its hash. */
static void send_tx(struct mc_rpc *rpc, const char *to, const char *data, uint8_t hash[32])
{
    cJSON *tx = cJSON_CreateObject();
    cJSON_AddStringToObject(tx, "from", dev0);
    if (to) cJSON_AddStringToObject(tx, "to", to);
    cJSON_AddStringToObject(tx, "data", data);
    cJSON *params = cJSON_CreateArray();
    cJSON_AddItemToArray(params, tx);
    cJSON *r = call_ok(rpc, "eth_sendTransaction", params);
    struct cohort_error err = {0};
    ck_assert_int_eq(hex_decode_exact(r->valuestring, hash, 32, &err), 0);
    cJSON_Delete(r);
}

static void wait_mined(struct mc_rpc *rpc, const uint8_t hash[32], struct mc_receipt *receipt);

static void emit(struct mc_rpc *rpc, unsigned value)
{
    char to[43], data[67];
    hex_encode(emitter, 20, to, sizeof to);
    snprintf(data, sizeof data, "0x%064x", value);
    uint8_t hash[32];
    struct mc_receipt receipt;
    send_tx(rpc, to, data, hash);
    wait_mined(rpc, hash, &receipt);
    mc_receipt_free(&receipt);
}

static struct mc_rpc *open_rpc(void)
{
    struct mc_rpc *rpc;
    struct cohort_error err = {0};
    struct mc_rpc_options o = {.url = url, .request_timeout_ms = 5000};
    ck_assert_int_eq(mc_rpc_open(&rpc, &o, &err), 0);
    return rpc;
}

/* anvil answers eth_sendTransaction before it has mined the block: wait for the receipt. */
static void wait_mined(struct mc_rpc *rpc, const uint8_t hash[32], struct mc_receipt *receipt)
{
    struct cohort_error err = {0};
    int rc = MC_E_NOT_FOUND;
    for (int i = 0; i < 500 && rc == MC_E_NOT_FOUND; i++) {
        rc = mc_eth_get_transaction_receipt(rpc, hash, receipt, &err);
        if (rc == MC_E_NOT_FOUND) usleep(10000);
    }
    ck_assert_msg(rc == 0, "%s", err.message);
    ck_assert(receipt->status);
}

static void setup(void)
{
    anvil_pid = testutil_start_anvil(url, sizeof url, NULL);
    struct mc_rpc *rpc = open_rpc();
    uint8_t hash[32];
    send_tx(rpc, NULL, emitter_code, hash);
    struct mc_receipt receipt;
    wait_mined(rpc, hash, &receipt);
    ck_assert(receipt.has_contract_address);
    memcpy(emitter, receipt.contract_address, 20);
    mc_receipt_free(&receipt);
    mc_rpc_close(rpc);
}

static void teardown(void) { testutil_stop_process(anvil_pid); }

/* The sink of these tests: the values of delivered events, in order, plus the cursor. */
struct recorder {
    unsigned values[MAX_EVENTS];
    uint64_t blocks[MAX_EVENTS];
    size_t count;
    struct mc_cursor cursor;
    const char *file; /* when set, state and cursor are written here atomically per batch */
    int rewinds;
};

static void save(struct recorder *r)
{
    if (r->file == NULL) return;
    char *cursor = mc_cursor_to_json(&r->cursor);
    size_t cap = 64 + strlen(cursor) + r->count * 48;
    char *text = malloc(cap);
    size_t n = (size_t)snprintf(text, cap, "%zu\n%s\n", r->count, cursor);
    for (size_t i = 0; i < r->count; i++) n += (size_t)snprintf(text + n, cap - n, "%u %llu\n", r->values[i], (unsigned long long)r->blocks[i]);
    struct cohort_error err = {0};
    if (mc_write_file_atomic(r->file, text, n, 0600, &err) != 0) abort();
    free(text);
    free(cursor);
}

static void load(struct recorder *r, const char *file)
{
    memset(r, 0, sizeof *r);
    r->file = file;
    FILE *f = fopen(file, "r");
    if (f == NULL) return;
    char line[8192];
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
    size_t count = strtoul(line, NULL, 10);
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
    struct cohort_error err = {0};
    ck_assert_msg(mc_cursor_from_json(line, strcspn(line, "\n"), &r->cursor, &err) == 0, "%s", err.message);
    for (size_t i = 0; i < count; i++) {
        unsigned long long b;
        ck_assert_int_eq(fscanf(f, "%u %llu", &r->values[i], &b), 2);
        r->blocks[i] = b;
    }
    r->count = count;
    fclose(f);
}

static int deliver(void *ctx, const struct mc_log *logs, size_t count, const struct mc_cursor *after,
                   struct cohort_error *err)
{
    struct recorder *r = ctx;
    for (size_t i = 0; i < count; i++) {
        ck_assert_uint_eq(logs[i].data_len, 32);
        ck_assert_uint_lt(r->count, MAX_EVENTS);
        r->values[r->count] = (unsigned)logs[i].data[31] | (unsigned)logs[i].data[30] << 8;
        r->blocks[r->count++] = logs[i].block_number;
    }
    r->cursor = *after;
    save(r);
    return 0;
}

static int rewind_to(void *ctx, const struct mc_cursor *to, struct cohort_error *err)
{
    struct recorder *r = ctx;
    uint64_t keep = to->started ? to->last.number : 0;
    while (r->count > 0 && (!to->started || r->blocks[r->count - 1] > keep)) r->count--;
    r->cursor = *to;
    r->rewinds++;
    save(r);
    return 0;
}

static void catch_up(struct mc_rpc *rpc, const struct mc_watcher_config *cfg, struct recorder *r)
{
    struct mc_watcher_sink sink = {.deliver = deliver, .rewind = rewind_to, .ctx = r};
    struct cohort_error err = {0};
    for (int i = 0; i < 1000; i++) {
        bool progress;
        ck_assert_msg(mc_watcher_poll(cfg, &r->cursor, rpc, &sink, &progress, &err) == 0, "%s", err.message);
        if (!progress) return;
    }
    ck_abort_msg("watcher did not catch up in 1000 rounds");
}

/* The values the chain holds now, read with one plain eth_getLogs. */
static size_t canonical_values(struct mc_rpc *rpc, unsigned *values)
{
    uint64_t head;
    struct cohort_error err = {0};
    ck_assert_int_eq(mc_eth_block_number(rpc, &head, &err), 0);
    struct mc_log_filter f = {.address = emitter, .from_block = 0, .to_block = head};
    struct mc_log_list logs;
    ck_assert_int_eq(mc_eth_get_logs(rpc, &f, &logs, &err), 0);
    for (size_t i = 0; i < logs.count; i++) values[i] = (unsigned)logs.logs[i].data[31] | (unsigned)logs.logs[i].data[30] << 8;
    size_t n = logs.count;
    mc_log_list_free(&logs);
    return n;
}

static struct mc_watcher_config config(unsigned confirmations, uint64_t max_range)
{
    struct mc_watcher_config c = {.start_block = 0, .confirmations = confirmations, .max_range = max_range};
    memcpy(c.address, emitter, 20);
    return c;
}

START_TEST(in_order_with_confirmations)
{
    struct mc_rpc *rpc = open_rpc();
    for (unsigned v = 1; v <= 12; v++) emit(rpc, v);
    struct recorder r = {0};
    struct mc_watcher_config cfg = config(3, 4);
    catch_up(rpc, &cfg, &r);
    /* 12 events in blocks 2..13 (block 1 deployed the emitter); head 13, 3 confirmations: up to block 10. */
    ck_assert_uint_eq(r.count, 9);
    for (size_t i = 0; i < r.count; i++) ck_assert_uint_eq(r.values[i], i + 1);
    ck_assert_uint_eq(r.cursor.last.number, 10);
    cJSON *params = cJSON_CreateArray();
    cJSON_AddItemToArray(params, cJSON_CreateString("0x3"));
    cJSON_Delete(call_ok(rpc, "anvil_mine", params));
    catch_up(rpc, &cfg, &r);
    ck_assert_uint_eq(r.count, 12);
    ck_assert_uint_eq(r.values[11], 12);
    mc_rpc_close(rpc);
}
END_TEST

START_TEST(follows_a_reorg)
{
    struct mc_rpc *rpc = open_rpc();
    struct recorder r = {0};
    struct mc_watcher_config cfg = config(0, 100);
    for (unsigned v = 1; v <= 3; v++) emit(rpc, v);
    cJSON *snap = call_ok(rpc, "evm_snapshot", cJSON_CreateArray());
    for (unsigned v = 4; v <= 6; v++) emit(rpc, v);
    catch_up(rpc, &cfg, &r);
    ck_assert_uint_eq(r.count, 6);

    /* Back to the snapshot, and a different future: values 100.. in more blocks. */
    cJSON *params = cJSON_CreateArray();
    cJSON_AddItemToArray(params, cJSON_Duplicate(snap, 1));
    cJSON *reverted = call_ok(rpc, "evm_revert", params);
    ck_assert(cJSON_IsTrue(reverted));
    cJSON_Delete(reverted);
    cJSON_Delete(snap);
    for (unsigned v = 100; v <= 104; v++) emit(rpc, v);
    catch_up(rpc, &cfg, &r);
    ck_assert_int_ge(r.rewinds, 1);

    unsigned canon[MAX_EVENTS];
    size_t n = canonical_values(rpc, canon);
    ck_assert_uint_eq(n, 8);
    ck_assert_uint_eq(r.count, n);
    for (size_t i = 0; i < n; i++) ck_assert_uint_eq(r.values[i], canon[i]);
    ck_assert_uint_eq(r.values[3], 100);
    mc_rpc_close(rpc);
}
END_TEST

/* The child: watch from the state file, forever (until killed), one block range per round. */
static void watch_forever(const char *file)
{
    struct recorder r;
    load(&r, file);
    struct mc_rpc *rpc = open_rpc();
    struct mc_watcher_config cfg = config(0, 2);
    struct mc_watcher_sink sink = {.deliver = deliver, .rewind = rewind_to, .ctx = &r};
    for (;;) {
        bool progress;
        struct cohort_error err = {0};
        if (mc_watcher_poll(&cfg, &r.cursor, rpc, &sink, &progress, &err) != 0 || !progress) usleep(2000);
    }
}

START_TEST(survives_sigkill)
{
    char file[] = "/tmp/cohort-watcher-XXXXXX";
    int fd = mkstemp(file);
    ck_assert_int_ge(fd, 0);
    close(fd);
    unlink(file);
    struct mc_rpc *rpc = open_rpc();
    uint64_t seed = 7;
    int kills = 0;
    for (unsigned v = 1; v <= 60; v++) {
        emit(rpc, v);
        if (v % 4 == 0) {
            pid_t child = fork();
            ck_assert_int_ge(child, 0);
            if (child == 0) watch_forever(file);
            usleep((useconds_t)(testutil_rand_next(&seed) % 20000));
            kill(child, SIGKILL);
            waitpid(child, NULL, 0);
            kills++;
        }
    }
    struct recorder r;
    load(&r, file);
    struct mc_watcher_config cfg = config(0, 2);
    catch_up(rpc, &cfg, &r);
    unsigned canon[MAX_EVENTS];
    size_t n = canonical_values(rpc, canon);
    ck_assert_uint_eq(n, 60);
    ck_assert_uint_eq(r.count, 60);
    for (size_t i = 0; i < n; i++) ck_assert_uint_eq(r.values[i], i + 1);
    ck_assert_int_eq(kills, 15);
    unlink(file);
    mc_rpc_close(rpc);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("watcher-anvil");
    TCase *tc = tcase_create("watcher");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, in_order_with_confirmations);
    tcase_add_test(tc, follows_a_reorg);
    tcase_add_test(tc, survives_sigkill);
    suite_add_tcase(s, tc);
    return testutil_run_suite(s, false);
}
