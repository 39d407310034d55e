/*
 * slots.h - a node's 128 slots and what a chain's share of them buys: ports and limits.
 *
 * A chain's size is its share of a node (SKALE's resource allocation): small = 1 slot,
 * medium = 16, large = 128. A subnode on slots [first, first + count) gets
 *   CPU shares   1024 * count / 128 (at least 2, Docker's minimum)
 *   memory       host RAM * memory_factor * count / 128 (factor 0.8 by default), in whole pages
 *   pids         pids_per_slot * count (at least 64)
 *   open files   nofile_per_slot * count (at least 1024, at most nofile_max)
 *   disk         disk_bytes_total * count / 128, measured by cohort-core
 * and the ports of its slots: slot s owns [base + s * PORTS_PER_SLOT, ... + PORTS_PER_SLOT),
 * so any member can compute any other member's endpoints from the chain's first slot.
 */
#ifndef COHORT_CORE_SLOTS_H
#define COHORT_CORE_SLOTS_H

#include <stdbool.h>
#include <stdint.h>

#include "common/chain_config.h"

#define SLOTS_PER_NODE 128
#define PORTS_PER_SLOT CHAIN_PORTS_PER_SLOT
#define SLOT_PAGE_BYTES 4096 /* memory limits are whole pages, as the kernel enforces them */ /* status/RPC, BFT, and room: 128 * 8 = 1024 ports above the base */

enum chain_size { CHAIN_SMALL = 1, CHAIN_MEDIUM = 16, CHAIN_LARGE = 128 };

/* The slot count of a size name ("small", "medium", "large"), or 0 for anything else. */
unsigned slots_of_size_name(const char *name);
/* The name of a slot count (1, 16, 128), or NULL. */
const char *size_name_of_slots(unsigned slots);

/* The ports of a subnode: its slot block's first port and the roles within it. */
struct slot_ports {
    uint16_t first;   /* base + first_slot * PORTS_PER_SLOT */
    uint16_t rpc;     /* first + 0: JSON-RPC and status */
    uint16_t bft;     /* first + 1: the chain's BFT transport */
    uint16_t last;    /* the block's last port (inclusive) */
};
/* Returns false when the block would pass port 65535. */
bool slot_ports(uint16_t base_port, unsigned first_slot, unsigned slot_count, struct slot_ports *out);

struct node_resources {
    uint64_t memory_bytes;       /* the host's RAM */
    double memory_factor;        /* share of RAM for all subnodes: 0.8 */
    uint64_t disk_bytes;         /* disk for all subnode volumes */
    unsigned cpu_quota_percent;  /* 0: no hard cap; else a slot-proportional share of this many CPUs*100 */
    unsigned pids_per_slot;      /* default 64 */
    unsigned nofile_per_slot;    /* default 1024 */
    unsigned nofile_max;         /* ceiling: runc cannot raise a limit past dockerd's own hard limit; default 16384 */
};

struct subnode_limits {
    int64_t cpu_shares;
    int64_t cpu_quota_us, cpu_period_us; /* 0 when no hard cap */
    int64_t memory_bytes;
    int64_t pids;
    int64_t nofile;
    uint64_t disk_bytes;
};

/* The limits of a subnode of slot_count slots (1..128) on a node with these resources. */
void slot_limits(const struct node_resources *node, unsigned slot_count, struct subnode_limits *out);

#endif
