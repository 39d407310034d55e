/* slots.c - slot arithmetic: ports and proportional limits (see slots.h). */
#include "slots.h"

#include <assert.h>
#include <string.h>

unsigned slots_of_size_name(const char *name)
{
    if (strcmp(name, "small") == 0) return CHAIN_SMALL;
    if (strcmp(name, "medium") == 0) return CHAIN_MEDIUM;
    if (strcmp(name, "large") == 0) return CHAIN_LARGE;
    return 0;
}

const char *size_name_of_slots(unsigned slots)
{
    switch (slots) {
    case CHAIN_SMALL: return "small";
    case CHAIN_MEDIUM: return "medium";
    case CHAIN_LARGE: return "large";
    }
    return NULL;
}

bool slot_ports(uint16_t base_port, unsigned first_slot, unsigned slot_count, struct slot_ports *out)
{
    assert(slot_count >= 1);
    if (first_slot + slot_count > SLOTS_PER_NODE) return false;
    uint32_t first = (uint32_t)base_port + (uint32_t)first_slot * PORTS_PER_SLOT;
    uint32_t last = first + (uint32_t)slot_count * PORTS_PER_SLOT - 1;
    if (last > 65535) return false;
    out->first = (uint16_t)first;
    out->rpc = (uint16_t)first;
    out->bft = (uint16_t)(first + 1);
    out->last = (uint16_t)last;
    return true;
}

static int64_t at_least(int64_t value, int64_t floor) { return value < floor ? floor : value; }

void slot_limits(const struct node_resources *node, unsigned slot_count, struct subnode_limits *out)
{
    assert(slot_count >= 1 && slot_count <= SLOTS_PER_NODE);
    double factor = node->memory_factor > 0 ? node->memory_factor : 0.8;
    unsigned pids = node->pids_per_slot ? node->pids_per_slot : 64;
    unsigned nofile = node->nofile_per_slot ? node->nofile_per_slot : 1024;
    memset(out, 0, sizeof *out);
    out->cpu_shares = at_least(1024 * (int64_t)slot_count / SLOTS_PER_NODE, 2);
    out->memory_bytes = (int64_t)((double)node->memory_bytes * factor * slot_count / SLOTS_PER_NODE);
    /* Whole pages: the kernel rounds the cgroup limit down to one, and what we report should
       be what is enforced. */
    out->memory_bytes &= ~(int64_t)(SLOT_PAGE_BYTES - 1);
    out->memory_bytes = at_least(out->memory_bytes, 6 << 20); /* Docker refuses less than 6 MiB */
    out->pids = at_least((int64_t)pids * slot_count, 64);
    int64_t nofile_max = node->nofile_max ? node->nofile_max : 16384;
    out->nofile = at_least((int64_t)nofile * slot_count, 1024);
    if (out->nofile > nofile_max) out->nofile = nofile_max;
    out->disk_bytes = node->disk_bytes / SLOTS_PER_NODE * slot_count;
    if (node->cpu_quota_percent > 0) {
        out->cpu_period_us = 100000;
        out->cpu_quota_us = at_least((int64_t)node->cpu_quota_percent * 1000 * slot_count / SLOTS_PER_NODE, 1000);
    }
    assert(out->cpu_shares >= 2 && out->cpu_shares <= 1024);
}
