/*
 * watcher.c - follows the manager contract's events with reorg handling (see
 * manager_client.h). The decisions are the pure functions of watcher_logic.h; the driver
 * mc_watcher_poll does the RPC calls and feeds them.
 */
#include <assert.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/hex.h"
#include "watcher_logic.h"

#define DOMAIN "manager-client"
#define DEFAULT_MAX_RANGE 2000
#define CURSOR_JSON_MAX (16u * 1024)

bool mc_watcher_next_range(const struct mc_watcher_config *config, const struct mc_cursor *cursor, uint64_t head,
                           uint64_t *from, uint64_t *to)
{
    if (head < config->confirmations) return false;
    uint64_t confirmed = head - config->confirmations;
    uint64_t first = cursor->started ? cursor->last.number + 1 : config->start_block;
    if (confirmed < first) return false;
    uint64_t max_range = config->max_range ? config->max_range : DEFAULT_MAX_RANGE;
    *from = first;
    *to = confirmed - first >= max_range ? first + max_range - 1 : confirmed;
    assert(*from <= *to);
    return true;
}

bool mc_watcher_batch_consistent(const struct mc_cursor *cursor, uint64_t from, uint64_t to,
                                 const struct mc_block_id *first_parent, const struct mc_block_id *headers,
                                 const struct mc_log *logs, size_t nlogs)
{
    assert(from <= to);
    if (cursor->started) {
        assert(cursor->last.number + 1 == from);
        if (first_parent == NULL || memcmp(first_parent->hash, cursor->last.hash, 32) != 0) return false;
    }
    for (size_t i = 0; i < nlogs; i++) {
        const struct mc_log *l = &logs[i];
        if (l->removed || l->block_number < from || l->block_number > to) return false;
        const struct mc_block_id *h = &headers[l->block_number - from];
        if (h->number != l->block_number || memcmp(h->hash, l->block_hash, 32) != 0) return false;
        /* Logs come in (block, index) order; anything else is a node we cannot trust. */
        if (i > 0 && (l->block_number < logs[i - 1].block_number ||
                      (l->block_number == logs[i - 1].block_number && l->log_index <= logs[i - 1].log_index)))
            return false;
    }
    return true;
}

void mc_watcher_advance(struct mc_cursor *cursor, const struct mc_block_id *last)
{
    assert(!cursor->started || last->number > cursor->last.number);
    if (cursor->history_len == MC_CURSOR_HISTORY) {
        memmove(cursor->history, cursor->history + 1, (MC_CURSOR_HISTORY - 1) * sizeof cursor->history[0]);
        cursor->history_len--;
    }
    cursor->history[cursor->history_len++] = *last;
    cursor->last = *last;
    cursor->started = true;
}

int mc_watcher_fork_point(struct mc_cursor *cursor, int (*canonical)(void *ctx, const struct mc_block_id *id), void *ctx)
{
    while (cursor->history_len > 0) {
        const struct mc_block_id *newest = &cursor->history[cursor->history_len - 1];
        int yes = canonical(ctx, newest);
        if (yes < 0) return yes;
        if (yes) {
            cursor->last = *newest;
            cursor->started = true;
            return 0;
        }
        cursor->history_len--;
    }
    /* Nothing we delivered is canonical any more: start over from the start block. */
    memset(cursor, 0, sizeof *cursor);
    return 0;
}

/* ---- Driver ---- */

struct canonical_ctx {
    struct mc_rpc *rpc;
    struct cohort_error *err;
};

static int is_canonical(void *ctx, const struct mc_block_id *id)
{
    struct canonical_ctx *c = ctx;
    struct mc_block b;
    int rc = mc_eth_get_block_by_number(c->rpc, MC_BLOCK(id->number), &b, c->err);
    if (rc == MC_E_NOT_FOUND) return 0;
    if (rc < 0) return rc;
    return memcmp(b.hash, id->hash, 32) == 0;
}

static int header(struct mc_rpc *rpc, uint64_t number, struct mc_block_id *id, struct mc_block_id *parent,
                  struct cohort_error *err)
{
    struct mc_block b;
    int rc = mc_eth_get_block_by_number(rpc, MC_BLOCK(number), &b, err);
    if (rc < 0) return rc;
    if (b.number != number)
        return cohort_error_set(err, MC_E_MALFORMED, DOMAIN, "watcher: asked for block %llu, got %llu",
                                (unsigned long long)number, (unsigned long long)b.number);
    id->number = number;
    memcpy(id->hash, b.hash, 32);
    if (parent != NULL) {
        parent->number = number ? number - 1 : 0;
        memcpy(parent->hash, b.parent_hash, 32);
    }
    return 0;
}

static int rewind_to_fork(struct mc_cursor *cursor, struct mc_rpc *rpc, const struct mc_watcher_sink *sink,
                          struct cohort_error *err)
{
    struct mc_cursor candidate = *cursor;
    struct canonical_ctx c = {.rpc = rpc, .err = err};
    int rc = mc_watcher_fork_point(&candidate, is_canonical, &c);
    if (rc < 0) return rc;
    if ((rc = sink->rewind(sink->ctx, &candidate, err)) < 0) return rc;
    *cursor = candidate;
    return 0;
}

int mc_watcher_poll(const struct mc_watcher_config *config, struct mc_cursor *cursor, struct mc_rpc *rpc,
                    const struct mc_watcher_sink *sink, bool *progress, struct cohort_error *err)
{
    *progress = false;
    uint64_t head, from, to;
    int rc = mc_eth_block_number(rpc, &head, err);
    if (rc < 0) return rc;

    /* Is the block we stand on still canonical? */
    if (cursor->started) {
        int yes = is_canonical(&(struct canonical_ctx){.rpc = rpc, .err = err}, &cursor->last);
        if (yes < 0) return yes;
        if (!yes) {
            if ((rc = rewind_to_fork(cursor, rpc, sink, err)) < 0) return rc;
            *progress = true;
            return 0;
        }
    }
    if (!mc_watcher_next_range(config, cursor, head, &from, &to)) return 0;

    struct mc_log_filter filter = {.address = config->address, .from_block = from, .to_block = to,
                                   .topic0s = config->topic0s, .ntopic0s = config->ntopic0s};
    struct mc_log_list logs = {0};
    struct mc_block_id first, first_parent, last;
    struct mc_block_id *headers = NULL;
    if ((rc = header(rpc, from, &first, &first_parent, err)) < 0) return rc;
    if ((rc = mc_eth_get_logs(rpc, &filter, &logs, err)) < 0) return rc;
    if ((rc = header(rpc, to, &last, NULL, err)) < 0) goto out;

    headers = calloc(to - from + 1, sizeof *headers);
    if (headers == NULL) {
        rc = cohort_error_set(err, MC_E_NOMEM, DOMAIN, "watcher: out of memory");
        goto out;
    }
    headers[0] = first;
    headers[to - from] = last;
    /* The canonical header of every block that has logs (first and last are fetched already). */
    for (size_t i = 0; i < logs.count; i++) {
        uint64_t n = logs.logs[i].block_number;
        if (n < from || n > to) break; /* caught by the consistency check */
        if (n == from || n == to || (i > 0 && logs.logs[i - 1].block_number == n)) continue;
        if ((rc = header(rpc, n, &headers[n - from], NULL, err)) < 0) goto out;
    }
    if (!mc_watcher_batch_consistent(cursor, from, to, &first_parent, headers, logs.logs, logs.count)) {
        /* The chain moved while we read it: check the cursor again on the next round. */
        *progress = true;
        rc = 0;
        goto out;
    }
    struct mc_cursor after = *cursor;
    mc_watcher_advance(&after, &last);
    if ((rc = sink->deliver(sink->ctx, logs.logs, logs.count, &after, err)) < 0) goto out;
    *cursor = after;
    *progress = true;
out:
    free(headers);
    mc_log_list_free(&logs);
    return rc;
}

/* ---- Cursor persistence ---- */

static cJSON *block_id_json(const struct mc_block_id *id)
{
    char hash[67];
    hex_encode(id->hash, 32, hash, sizeof hash);
    cJSON *pair = cJSON_CreateArray();
    cJSON_AddItemToArray(pair, cJSON_CreateNumber((double)id->number));
    cJSON_AddItemToArray(pair, cJSON_CreateString(hash));
    return pair;
}

char *mc_cursor_to_json(const struct mc_cursor *cursor)
{
    cJSON *root = cJSON_CreateObject();
    if (root == NULL) return NULL;
    cJSON_AddBoolToObject(root, "started", cursor->started);
    if (cursor->started) cJSON_AddItemToObject(root, "last", block_id_json(&cursor->last));
    cJSON *history = cJSON_AddArrayToObject(root, "history");
    for (unsigned i = 0; i < cursor->history_len; i++) cJSON_AddItemToArray(history, block_id_json(&cursor->history[i]));
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return text;
}

/* Numbers in the cursor stay below 2^53, where a JSON double is exact. */
static int parse_block_id(const cJSON *pair, struct mc_block_id *id, struct cohort_error *err)
{
    const cJSON *n = cJSON_GetArrayItem(pair, 0), *h = cJSON_GetArrayItem(pair, 1);
    if (!cJSON_IsArray(pair) || cJSON_GetArraySize(pair) != 2 || !cJSON_IsNumber(n) || n->valuedouble < 0 ||
        n->valuedouble > 9007199254740991.0 || !cJSON_IsString(h))
        return cohort_error_set(err, MC_E_INPUT, DOMAIN, "cursor: a block entry is not [number, \"0xhash\"]");
    id->number = (uint64_t)n->valuedouble;
    if (hex_decode_exact(h->valuestring, id->hash, 32, err) < 0) {
        cohort_error_wrap(err, "cursor: block %llu", (unsigned long long)id->number);
        err->code = MC_E_INPUT;
        return MC_E_INPUT;
    }
    return 0;
}

int mc_cursor_from_json(const char *text, size_t len, struct mc_cursor *cursor, struct cohort_error *err)
{
    memset(cursor, 0, sizeof *cursor);
    if (len > CURSOR_JSON_MAX) return cohort_error_set(err, MC_E_INPUT, DOMAIN, "cursor: %zu bytes is too large", len);
    cJSON *root = cJSON_ParseWithLength(text, len);
    if (root == NULL) return cohort_error_set(err, MC_E_INPUT, DOMAIN, "cursor: not valid JSON");
    int rc = 0;
    const cJSON *started = cJSON_GetObjectItemCaseSensitive(root, "started");
    const cJSON *history = cJSON_GetObjectItemCaseSensitive(root, "history");
    if (!cJSON_IsBool(started) || !cJSON_IsArray(history) || cJSON_GetArraySize(history) > MC_CURSOR_HISTORY) {
        rc = cohort_error_set(err, MC_E_INPUT, DOMAIN, "cursor: needs \"started\" and at most %d history entries",
                              MC_CURSOR_HISTORY);
        goto out;
    }
    cursor->started = cJSON_IsTrue(started);
    if (cursor->started && (rc = parse_block_id(cJSON_GetObjectItemCaseSensitive(root, "last"), &cursor->last, err)) < 0)
        goto out;
    const cJSON *entry;
    cJSON_ArrayForEach(entry, history)
    {
        if ((rc = parse_block_id(entry, &cursor->history[cursor->history_len], err)) < 0) goto out;
        if (cursor->history_len > 0 && cursor->history[cursor->history_len].number <= cursor->history[cursor->history_len - 1].number) {
            rc = cohort_error_set(err, MC_E_INPUT, DOMAIN, "cursor: history is not in ascending block order");
            goto out;
        }
        cursor->history_len++;
    }
out:
    cJSON_Delete(root);
    if (rc < 0) memset(cursor, 0, sizeof *cursor);
    return rc;
}

int mc_write_file_atomic(const char *path, const char *data, size_t len, unsigned mode, struct cohort_error *err)
{
    char tmp[4096], dir[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return cohort_error_set(err, MC_E_INVALID, DOMAIN, "write %s: path too long", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, (mode_t)mode);
    if (fd < 0) return cohort_error_errno(err, MC_E_IO, DOMAIN, errno, "create %s", tmp);
    if (fchmod(fd, (mode_t)mode) != 0) { /* the umask must not narrow what readers need */
        close(fd);
        unlink(tmp);
        return cohort_error_errno(err, MC_E_IO, DOMAIN, errno, "chmod %s", tmp);
    }
    size_t done = 0;
    int rc = 0;
    while (done < len) {
        ssize_t n = write(fd, data + done, len - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            rc = cohort_error_errno(err, MC_E_IO, DOMAIN, errno, "write %s", tmp);
            break;
        }
        done += (size_t)n;
    }
    if (rc == 0 && fsync(fd) != 0) rc = cohort_error_errno(err, MC_E_IO, DOMAIN, errno, "fsync %s", tmp);
    if (close(fd) != 0 && rc == 0) rc = cohort_error_errno(err, MC_E_IO, DOMAIN, errno, "close %s", tmp);
    if (rc == 0 && rename(tmp, path) != 0) rc = cohort_error_errno(err, MC_E_IO, DOMAIN, errno, "rename to %s", path);
    if (rc < 0) {
        unlink(tmp); /* the old file, if any, is untouched */
        return rc;
    }
    snprintf(dir, sizeof dir, "%s", path);
    int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) != 0) rc = cohort_error_errno(err, MC_E_IO, DOMAIN, errno, "fsync folder of %s", path);
    if (dfd >= 0) close(dfd);
    return rc;
}
