/*
 * fuzz_rpc.c - libFuzzer target for what manager-client reads from a JSON-RPC server and
 * from its own state files: the response envelope, eth_getLogs arrays, the watcher's
 * cursor, and addresses. The first byte picks the decoder.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/secp.h"
#include "manager-client/rpc_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct mc_rpc *rpc;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    if (rpc == NULL) {
        struct mc_rpc_options o = {.url = "http://127.0.0.1:1"};
        if (mc_rpc_open(&rpc, &o, NULL) != 0) abort();
    }
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    struct cohort_error err = {0};
    switch (data[0] % 4) {
    case 0: {
        cJSON *result = NULL;
        int rc = mc_rpc_parse_response(rpc, "eth_call", 1, text, len, &result, &err);
        assert((rc == 0) == (result != NULL));
        if (rc != 0) assert(err.message[0] != '\0');
        cJSON_Delete(result);
        break;
    }
    case 1: {
        struct mc_log_list logs;
        if (mc_parse_logs(text, len, &logs, &err) == 0) {
            for (size_t i = 0; i < logs.count; i++) assert(logs.logs[i].ntopics <= MC_MAX_TOPICS);
            mc_log_list_free(&logs);
        }
        break;
    }
    case 2: {
        struct mc_cursor c, back;
        if (mc_cursor_from_json(text, len, &c, &err) == 0) {
            assert(c.history_len <= MC_CURSOR_HISTORY);
            char *again = mc_cursor_to_json(&c);
            assert(again != NULL);
            assert(mc_cursor_from_json(again, strlen(again), &back, &err) == 0);
            assert(memcmp(&c, &back, sizeof c) == 0);
            free(again);
        }
        break;
    }
    case 3: {
        uint8_t address[20];
        if (address_parse_n(text, len, address, &err) == 0) {
            char printed[43];
            address_to_checksum(address, printed);
            uint8_t back[20];
            assert(address_parse(printed, back, &err) == 0);
            assert(memcmp(address, back, 20) == 0);
        }
        break;
    }
    }
    return 0;
}
