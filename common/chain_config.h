/*
 * chain_config.h - the chain config: what cohort-core tells a subnode about its chain.
 *
 * One versioned JSON file in the subnode's volume (chain.json), written atomically by
 * cohort-core; its keccak-256 is the container's cohort.config-hash label, so a changed
 * config means a new container. The subnode reads it at start and refuses one it cannot
 * verify, saying why in its status. Encoding and decoding only: no I/O here.
 *
 * {"version": 1,
 *  "chain":   {"name": "alpha", "id": 7, "evm_chain_id": 1234, "size": "small", "slots": 1,
 *              "epoch": 2},                  (optional, 0 when absent: rotations so far)
 *  "manager": {"chain_id": 31337, "address": "0x..."},
 *  "member":  {"node_id": 3, "index": 1},
 *  "members": [{"node_id": 1, "ip": "127.0.0.1", "base_port": 10000, "first_slot": 0,
 *               "public_key": "0x<64 bytes>"}, ...],            (in the manager's order)
 *  "genesis": {"timestamp": 0, "gas_limit": 30000000,
 *              "alloc": [{"address": "0x...", "balance": "0x..."}]},
 *  "limits":  {"disk_bytes": 1073741824, "txpool_max_transactions": 10000,
 *              "txpool_max_bytes": 67108864}}
 */
#ifndef COHORT_COMMON_CHAIN_CONFIG_H
#define COHORT_COMMON_CHAIN_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "u256.h"

#define CHAIN_CONFIG_VERSION 1
#define CHAIN_CONFIG_MAX_BYTES (256u * 1024)
#define CHAIN_CONFIG_MAX_MEMBERS 64
#define CHAIN_CONFIG_MAX_ALLOC 256
#define CHAIN_CONFIG_NAME_MAX 64
/* Each slot of a node owns this many ports above the node's base port (core/slots.h): a
   member's subnode serves JSON-RPC on base_port + first_slot * CHAIN_PORTS_PER_SLOT and its
   chain's BFT log on the port after. */
#define CHAIN_PORTS_PER_SLOT 8

struct chain_member {
    uint64_t node_id;
    char ip[16];          /* dotted IPv4 */
    uint16_t base_port;
    unsigned first_slot;  /* on that node */
    uint8_t public_key[64];
};

/* The port member m's subnode serves JSON-RPC on (its chain's BFT log: the port after). */
static inline unsigned chain_member_rpc_port(const struct chain_member *m)
{
    return m->base_port + m->first_slot * CHAIN_PORTS_PER_SLOT;
}

struct chain_alloc {
    uint8_t address[20];
    u256 balance;
};

struct chain_config {
    unsigned version;
    char name[CHAIN_CONFIG_NAME_MAX];
    uint64_t chain_id;       /* the manager's id of the chain */
    uint64_t evm_chain_id;   /* EIP-155 chain id of the chain's EVM */
    unsigned slots;          /* 1, 16 or 128 */
    uint32_t epoch;          /* the membership's epoch: rotations committed so far (docs/chain.md "Rotation") */
    uint64_t manager_chain_id;
    uint8_t manager_address[20];
    uint64_t node_id;        /* this member */
    unsigned member_index;   /* its position in members */
    struct chain_member members[CHAIN_CONFIG_MAX_MEMBERS];
    unsigned nmembers;
    uint64_t genesis_timestamp;
    uint64_t genesis_gas_limit;
    struct chain_alloc alloc[CHAIN_CONFIG_MAX_ALLOC];
    unsigned nalloc;
    uint64_t disk_bytes;
    uint64_t txpool_max_transactions;
    uint64_t txpool_max_bytes;
};

/*
 * Checks the rules a subnode relies on: version, name ([a-z0-9-], 1..63, no leading or
 * trailing '-'), slots in {1, 16, 128}, 1..64 members with distinct node ids, this node
 * among them at member_index, ports of every member's slot block within 1..65535, a gas
 * limit >= 5000. Fills err with the first rule broken.
 */
int chain_config_validate(const struct chain_config *config, struct cohort_error *err);

/* Writes config as JSON (malloc'd, caller frees) after validating it. */
int chain_config_encode(const struct chain_config *config, char **json, struct cohort_error *err);

/* Parses and validates JSON of at most CHAIN_CONFIG_MAX_BYTES. */
int chain_config_decode(const char *json, size_t len, struct chain_config *config, struct cohort_error *err);

/* "0x" + keccak-256 of the file's bytes: the cohort.config-hash label. out needs 67 bytes. */
void chain_config_hash(const char *json, size_t len, char out[67]);

/*
 * The hash a node signs to vouch for its subnode's key in a chain (docs/chain.md "Members
 * and keys"): keccak256("cohort-subnode-v1" || manager chain id u64 || manager address 20 ||
 * chain id u64 || node id u64 || subnode address 20), integers big-endian. cohort-core
 * signs it with the node's key (whose public key is the member's in chain.json) into the
 * subnode's volume; the subnode shows it to the chain's other members, who check it.
 */
void chain_subnode_cert_digest(const struct chain_config *config, uint64_t node_id, const uint8_t subnode_address[20],
                               uint8_t out[32]);

/* True when name is a valid chain name. */
bool chain_name_valid(const char *name);

#endif
