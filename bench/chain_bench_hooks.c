/*
 * chain_bench_hooks.c - chain_bench's timing wrappers (chain_bench_hooks.h): linked with
 * -Wl,--wrap=... (see bench/CMakeLists.txt), they time the store's calls into LMDB,
 * keccak256, evm_execute and block_ordered_root while the phase they belong to runs;
 * fdatasync, fsync, pwrite and writev are interposed (LMDB calls them from its shared
 * library, out of --wrap's reach). With hook.on false (--no-split) they only forward.
 * They touch nothing but `hook` and table_names.
 */
#include "chain_bench_hooks.h"

#include <dlfcn.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/error.h"
#include "common/keccak.h"
#include "subnode/chain/block.h"
#include "subnode/evm/evm.h"

char table_names[TABLES_MAX][24];
const char *const hook_names[HP_COUNT] = {"none", "admit", "execute", "apply", "write", "commit", "pool"};
struct bench_hook hook;

int __real_mdb_dbi_open(MDB_txn *txn, const char *name, unsigned int flags, MDB_dbi *dbi);
int __real_mdb_get(MDB_txn *txn, MDB_dbi dbi, MDB_val *key, MDB_val *data);
int __real_mdb_put(MDB_txn *txn, MDB_dbi dbi, MDB_val *key, MDB_val *data, unsigned int flags);
int __real_mdb_del(MDB_txn *txn, MDB_dbi dbi, MDB_val *key, MDB_val *data);
int __real_mdb_cursor_open(MDB_txn *txn, MDB_dbi dbi, MDB_cursor **cursor);
void __real_mdb_cursor_close(MDB_cursor *cursor);
int __real_mdb_cursor_get(MDB_cursor *cursor, MDB_val *key, MDB_val *data, MDB_cursor_op op);
int __real_mdb_cursor_del(MDB_cursor *cursor, unsigned int flags);
void __real_keccak256(const void *data, size_t len, uint8_t out[32]);
int __real_evm_execute(const struct evm_host *host, const struct evm_tx_context *context, enum evm_revision revision,
                       const struct evm_message *message, struct evm_result *result, struct cohort_error *err);
int __real_block_ordered_root(const uint8_t *const *items, const size_t *lens, size_t count, uint8_t root[32],
                              struct cohort_error *err);

int __wrap_mdb_dbi_open(MDB_txn *txn, const char *name, unsigned int flags, MDB_dbi *dbi);
int __wrap_mdb_get(MDB_txn *txn, MDB_dbi dbi, MDB_val *key, MDB_val *data);
int __wrap_mdb_put(MDB_txn *txn, MDB_dbi dbi, MDB_val *key, MDB_val *data, unsigned int flags);
int __wrap_mdb_del(MDB_txn *txn, MDB_dbi dbi, MDB_val *key, MDB_val *data);
int __wrap_mdb_cursor_open(MDB_txn *txn, MDB_dbi dbi, MDB_cursor **cursor);
void __wrap_mdb_cursor_close(MDB_cursor *cursor);
int __wrap_mdb_cursor_get(MDB_cursor *cursor, MDB_val *key, MDB_val *data, MDB_cursor_op op);
int __wrap_mdb_cursor_del(MDB_cursor *cursor, unsigned int flags);
void __wrap_keccak256(const void *data, size_t len, uint8_t out[32]);
int __wrap_evm_execute(const struct evm_host *host, const struct evm_tx_context *context, enum evm_revision revision,
                       const struct evm_message *message, struct evm_result *result, struct cohort_error *err);
int __wrap_block_ordered_root(const uint8_t *const *items, const size_t *lens, size_t count, uint8_t root[32],
                              struct cohort_error *err);

/* Charges ticks of an LMDB call on table dbi to the current phase. */
static void lmdb_charge(MDB_dbi dbi, uint64_t ticks)
{
    hook.lmdb[hook.phase] += ticks;
    hook.lmdb_calls[hook.phase]++;
    if (dbi < TABLES_MAX) {
        hook.table[hook.phase][dbi] += ticks;
        hook.table_calls[hook.phase][dbi]++;
    }
}

/* Times one LMDB call on table dbi when a phase is being split. */
#define LMDB_TIMED(dbi, call)                                                                                         \
    do {                                                                                                              \
        if (!hook.on || hook.phase == HP_NONE) return call;                                                           \
        uint64_t t0_ = tick_now();                                                                                    \
        __typeof__(call) rc_ = call;                                                                                  \
        lmdb_charge((dbi), tick_now() - t0_);                                                                         \
        return rc_;                                                                                                   \
    } while (0)

int __wrap_mdb_dbi_open(MDB_txn *txn, const char *name, unsigned int flags, MDB_dbi *dbi)
{
    int rc = __real_mdb_dbi_open(txn, name, flags, dbi);
    if (rc == 0 && *dbi < TABLES_MAX && name != NULL)
        snprintf(table_names[*dbi], sizeof table_names[*dbi], "%s", name);
    return rc;
}

int __wrap_mdb_get(MDB_txn *txn, MDB_dbi dbi, MDB_val *key, MDB_val *data)
{
    LMDB_TIMED(dbi, __real_mdb_get(txn, dbi, key, data));
}

int __wrap_mdb_put(MDB_txn *txn, MDB_dbi dbi, MDB_val *key, MDB_val *data, unsigned int flags)
{
    LMDB_TIMED(dbi, __real_mdb_put(txn, dbi, key, data, flags));
}

int __wrap_mdb_del(MDB_txn *txn, MDB_dbi dbi, MDB_val *key, MDB_val *data)
{
    LMDB_TIMED(dbi, __real_mdb_del(txn, dbi, key, data));
}

int __wrap_mdb_cursor_open(MDB_txn *txn, MDB_dbi dbi, MDB_cursor **cursor)
{
    LMDB_TIMED(dbi, __real_mdb_cursor_open(txn, dbi, cursor));
}

void __wrap_mdb_cursor_close(MDB_cursor *cursor)
{
    if (!hook.on || hook.phase == HP_NONE) {
        __real_mdb_cursor_close(cursor);
        return;
    }
    MDB_dbi dbi = mdb_cursor_dbi(cursor);
    uint64_t t0 = tick_now();
    __real_mdb_cursor_close(cursor);
    lmdb_charge(dbi, tick_now() - t0);
}

int __wrap_mdb_cursor_get(MDB_cursor *cursor, MDB_val *key, MDB_val *data, MDB_cursor_op op)
{
    LMDB_TIMED(mdb_cursor_dbi(cursor), __real_mdb_cursor_get(cursor, key, data, op));
}

int __wrap_mdb_cursor_del(MDB_cursor *cursor, unsigned int flags)
{
    LMDB_TIMED(mdb_cursor_dbi(cursor), __real_mdb_cursor_del(cursor, flags));
}

void __wrap_keccak256(const void *data, size_t len, uint8_t out[32])
{
    if (!hook.on || hook.phase != HP_APPLY) {
        __real_keccak256(data, len, out);
        return;
    }
    uint64_t t0 = tick_now();
    __real_keccak256(data, len, out);
    hook.keccak += tick_now() - t0;
    hook.keccak_calls++;
}

int __wrap_evm_execute(const struct evm_host *host, const struct evm_tx_context *context, enum evm_revision revision,
                       const struct evm_message *message, struct evm_result *result, struct cohort_error *err)
{
    if (!hook.on || hook.phase != HP_EXECUTE || hook.vm_depth > 0)
        return __real_evm_execute(host, context, revision, message, result, err);
    hook.vm_depth++;
    uint64_t lmdb_before = hook.lmdb[HP_EXECUTE];
    uint64_t t0 = tick_now();
    int rc = __real_evm_execute(host, context, revision, message, result, err);
    uint64_t dt = tick_now() - t0;
    hook.vm += dt - (hook.lmdb[HP_EXECUTE] - lmdb_before);
    hook.vm_depth--;
    return rc;
}

int __wrap_block_ordered_root(const uint8_t *const *items, const size_t *lens, size_t count, uint8_t root[32],
                              struct cohort_error *err)
{
    if (!hook.on || hook.phase != HP_EXECUTE) return __real_block_ordered_root(items, lens, count, root, err);
    uint64_t t0 = tick_now();
    int rc = __real_block_ordered_root(items, lens, count, root, err);
    hook.roots += tick_now() - t0;
    hook.roots_calls++;
    return rc;
}

/* The real libc function `name` (RTLD_NEXT: the next definition after this program's). */
static void *next_symbol(const char *name)
{
    void *sym = dlsym(RTLD_NEXT, name);
    if (sym == NULL) {
        fprintf(stderr, "chain_bench: dlsym(%s) failed\n", name);
        abort();
    }
    return sym;
}

/*
 * LMDB (a shared library) syncs with fdatasync (fsync on some builds); --wrap cannot reach
 * calls made inside it, so these definitions interpose on libc's: the executable's symbol
 * comes first in the dynamic lookup, and the real one is found with RTLD_NEXT.
 */
static int timed_sync(const char *name, int fd)
{
    static int (*real_fdatasync)(int);
    static int (*real_fsync)(int);
    int (**real)(int) = strcmp(name, "fsync") == 0 ? &real_fsync : &real_fdatasync;
    if (*real == NULL) {
        /* POSIX's way from dlsym's void * to a function pointer (ISO C has no cast for it). */
        void *sym = next_symbol(name);
        memcpy(real, &sym, sizeof sym);
    }
    uint64_t t0 = tick_now();
    int rc = (*real)(fd);
    if (hook.on && hook.phase == HP_COMMIT) {
        hook.fsync += tick_now() - t0;
        hook.fsync_calls++;
    }
    return rc;
}

int fdatasync(int fd) { return timed_sync("fdatasync", fd); }
int fsync(int fd) { return timed_sync("fsync", fd); }

/* What LMDB writes at commit (its dirty pages and the meta page), counted the same way. */
ssize_t pwrite(int fd, const void *buf, size_t count, off_t offset)
{
    static ssize_t (*real)(int, const void *, size_t, off_t);
    if (real == NULL) {
        void *sym = next_symbol("pwrite");
        memcpy(&real, &sym, sizeof sym);
    }
    ssize_t rc = real(fd, buf, count, offset);
    if (hook.on && hook.phase == HP_COMMIT && rc > 0) hook.written += (uint64_t)rc;
    return rc;
}

ssize_t writev(int fd, const struct iovec *iov, int iovcnt)
{
    static ssize_t (*real)(int, const struct iovec *, int);
    if (real == NULL) {
        void *sym = next_symbol("writev");
        memcpy(&real, &sym, sizeof sym);
    }
    ssize_t rc = real(fd, iov, iovcnt);
    if (hook.on && hook.phase == HP_COMMIT && rc > 0) hook.written += (uint64_t)rc;
    return rc;
}
