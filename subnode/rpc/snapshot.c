/*
 * snapshot.c - what a member serves to another that installs the chain's state from it
 * (store.h "State transfer"; docs/chain.md "State transfer"):
 *
 *   GET /chain/snapshot/blocks?number=N[&headers=K] block N's headers back to BLOCKHASH's
 *                                                 reach (or K of them), its body and receipts
 *   GET /chain/snapshot/state?number=N&cursor=HEX one chunk of the state at block N
 *
 * Binary answers (application/octet-stream). Nothing here is secret: every byte is public
 * chain data, and the importer checks it all against the block hash f+1 members vouched
 * for. Each request reads through its own store view and is bounded by the chunk size, and
 * holds the state at N for the next one (store_hold_history).
 */
#include "subnode/rpc/rpc_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "common/hex.h"
#include "subnode/store/store.h"

#define SNAPSHOT_HOLD_MS 60000 /* an importer's next request comes within this, or the state may go */

/* {"error": text} (malloc'd), with the text escaped as JSON wants. */
static uint8_t *error_body(const char *text, size_t *len)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", text);
    char *body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    *len = body ? strlen(body) : 0;
    return (uint8_t *)body;
}

int rpc_snapshot_answer(struct rpc *rpc, const char *url, const char *number_text, const char *cursor_text,
                        const char *headers_text, uint8_t **body, size_t *len, const char **type)
{
    *type = "application/json";
    char *end = NULL;
    unsigned long long number = number_text ? strtoull(number_text, &end, 10) : 0;
    if (number_text == NULL || *number_text == '\0' || *end != '\0') {
        *body = error_body("give the block as number=N (decimal)", len);
        return 400;
    }
    size_t headers = headers_text ? (size_t)strtoul(headers_text, NULL, 10) : 0; /* 0: as many as BLOCKHASH reads */
    uint8_t cursor[STORE_CURSOR_BYTES] = {0};
    bool state = strcmp(url, "/chain/snapshot/state") == 0;
    if (state && cursor_text != NULL && *cursor_text != '\0' &&
        hex_decode_exact(cursor_text, cursor, sizeof cursor, NULL) != 0) {
        *body = error_body("cursor: want the 53-byte cursor of the previous chunk in hex (0x...)", len);
        return 400;
    }
    struct store_view *v;
    struct cohort_error err = {0};
    int rc = store_view_begin(rpc->chain.store, &v, &err);
    if (rc == 0) {
        rc = state ? store_export_state(v, number, cursor, 0, body, len, &err)
                   : store_export_blocks(v, number, headers, body, len, &err);
        store_view_end(v);
    }
    if (rc != 0) {
        *body = error_body(err.message, len);
        return rc == STORE_E_PRUNED || rc == STORE_E_INVALID ? 404 : 500;
    }
    /* The importer comes back for the next chunk: keep the state at number readable until
       then, however many blocks the chain makes meanwhile (store_hold_history). Only a state
       this member could read is held, so asking for others holds nothing. */
    store_hold_history(rpc->chain.store, number, SNAPSHOT_HOLD_MS);
    *type = "application/octet-stream";
    return 200;
}
