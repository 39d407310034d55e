/*
 * watcher_logic.h - the decisions of the event watcher, as pure functions (no I/O), so
 * tests drive them with made-up chains. Internal to manager-client and its tests.
 */
#ifndef COHORT_MANAGER_CLIENT_WATCHER_LOGIC_H
#define COHORT_MANAGER_CLIENT_WATCHER_LOGIC_H

#include "manager_client.h"

/*
 * The next range to read, given the chain head: [*from, *to], or false when the
 * confirmed head is not past the cursor (caught up).
 */
bool mc_watcher_next_range(const struct mc_watcher_config *config, const struct mc_cursor *cursor, uint64_t head,
                           uint64_t *from, uint64_t *to);

/*
 * Checks a fetched batch for consistency with the cursor: the first block's parent is the
 * cursor's block, and every log lies in [from, to] with the block hash of the canonical
 * header of its block (headers[i] holds block from + i, count = to - from + 1; only the
 * entries of blocks that have logs, and the first and last, need be filled; the others have
 * number 0). Returns true when consistent; false means the chain moved under us (a reorg).
 */
bool mc_watcher_batch_consistent(const struct mc_cursor *cursor, uint64_t from, uint64_t to,
                                 const struct mc_block_id *first_parent, const struct mc_block_id *headers,
                                 const struct mc_log *logs, size_t nlogs);

/* The cursor after delivering through `last` (history appended, oldest dropped when full). */
void mc_watcher_advance(struct mc_cursor *cursor, const struct mc_block_id *last);

/*
 * After a reorg: keeps history entries while canonical(ctx, entry) says they are still on
 * the chain, from the newest back; the new cursor ends at the newest canonical one, or is
 * unstarted when none is. canonical returns 1 (yes), 0 (no) or negative (error, returned).
 */
int mc_watcher_fork_point(struct mc_cursor *cursor, int (*canonical)(void *ctx, const struct mc_block_id *id),
                          void *ctx);

#endif
