/*
 * chain_rotation.h - what moves a chain from one membership epoch to the next (docs/chain.md
 * "Rotation"): the rotation record that cohort-core signs for its subnode, a member's
 * vouch for it and the change entry that end the epoch in the chain's log. Encoding,
 * decoding and checking only: no I/O.
 *
 * The record is the manager's rotation as a chain member sees it (integers big-endian):
 *
 *   epoch u32 | member_index u16 | leaving_node_id u64
 *   | joining: node_id u64 | ip 4 | base_port u16 | first_slot u16 | public_key 64   (94 bytes)
 *
 * A node vouches for a record by signing rotation_vouch_digest with its node key (the
 * public key chain.json gives for it); cohort-core writes the record and its signature
 * into the subnode's volume (ROTATION_FILE: one line, hex of record || signature).
 *
 *   VOUCH  'V' | version u8 (1) | voucher u16 | sequence u64 | record | signature 65   (171 bytes)
 *   CHANGE 'C' | version u8 (1) | record | count u8 | (voucher u16 | signature 65) * count
 *
 * Each member's subnode puts its node's vouch in the log (the sequence makes each
 * resubmission a new entry: the log refuses copies of committed ones). A member that has
 * seen f + 1 members vouch for the same record in committed blocks submits a CHANGE that
 * carries their f + 1 signatures; the first committed CHANGE for the next epoch ends the
 * running one after its block. The CHANGE alone proves the change (f + 1 node signatures,
 * so one honest node's word that the manager said so), also to a member that missed the
 * blocks of the vouches and is shown only the CHANGE's block (docs/bft.md "Membership
 * changes", change proofs).
 */
#ifndef COHORT_COMMON_CHAIN_ROTATION_H
#define COHORT_COMMON_CHAIN_ROTATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chain_config.h"
#include "error.h"

#define ROTATION_RECORD_BYTES 94
#define ROTATION_SIGNATURE_BYTES 65
#define ROTATION_VOUCH_MAGIC 'V'
#define ROTATION_CHANGE_MAGIC 'C'
#define ROTATION_VERSION 1
#define ROTATION_VOUCH_BYTES (1 + 1 + 2 + 8 + ROTATION_RECORD_BYTES + ROTATION_SIGNATURE_BYTES)
#define ROTATION_CHANGE_HEADER_BYTES (1 + 1 + ROTATION_RECORD_BYTES + 1)
#define ROTATION_CHANGE_MAX_BYTES \
    (ROTATION_CHANGE_HEADER_BYTES + CHAIN_CONFIG_MAX_MEMBERS * (2 + ROTATION_SIGNATURE_BYTES))
/* The file cohort-core writes into the volume: hex of record || its node's signature. */
#define ROTATION_FILE "rotation.vouch"
#define ROTATION_FILE_MAX_BYTES (2 + 2 * (ROTATION_RECORD_BYTES + ROTATION_SIGNATURE_BYTES) + 2)

struct rotation_record {
    uint32_t epoch;            /* the epoch the rotation starts */
    uint16_t member_index;     /* the place in the members that changes hands */
    uint64_t leaving_node_id;  /* who has it now */
    struct chain_member joining;
};

struct rotation_vouch {
    uint16_t voucher;          /* the member index of the node that signed */
    uint64_t sequence;
    struct rotation_record record;
    uint8_t record_bytes[ROTATION_RECORD_BYTES];
    uint8_t signature[ROTATION_SIGNATURE_BYTES];
};

struct rotation_change {
    struct rotation_record record;
    uint8_t record_bytes[ROTATION_RECORD_BYTES];
    uint8_t count;
    uint16_t voucher[CHAIN_CONFIG_MAX_MEMBERS];
    uint8_t signature[CHAIN_CONFIG_MAX_MEMBERS][ROTATION_SIGNATURE_BYTES];
};

void rotation_record_encode(const struct rotation_record *r, uint8_t out[ROTATION_RECORD_BYTES]);
/* Strict: an IPv4 address that is not 0.0.0.0, a port block within 1..65535. COMMON_E_INVALID else. */
int rotation_record_decode(const uint8_t in[ROTATION_RECORD_BYTES], struct rotation_record *out, struct cohort_error *err);

/*
 * What a node signs to vouch for a record: keccak256("cohort-rotation-v1" || manager chain
 * id u64 || manager address 20 || chain id u64 || record), so a vouch binds the deployment
 * and the chain.
 */
void rotation_vouch_digest(const struct chain_config *config, const uint8_t record[ROTATION_RECORD_BYTES],
                           uint8_t out[32]);

/* Writes a VOUCH entry (ROTATION_VOUCH_BYTES). */
void rotation_vouch_encode(uint16_t voucher, uint64_t sequence, const uint8_t record[ROTATION_RECORD_BYTES],
                           const uint8_t signature[ROTATION_SIGNATURE_BYTES], uint8_t out[ROTATION_VOUCH_BYTES]);
/* Writes a CHANGE entry into out (ROTATION_CHANGE_MAX_BYTES at least); returns its length. */
size_t rotation_change_encode(const struct rotation_change *c, uint8_t *out);

/*
 * Decode an entry strictly (magic, version, exact length, the record's rules, at most
 * CHAIN_CONFIG_MAX_MEMBERS vouchers). Returns 1 when entry is one (and *out is filled), 0
 * when it is not that kind of entry (another magic), or COMMON_E_INVALID naming the fault.
 * Signatures are not checked here (rotation_check does, against the members).
 */
int rotation_vouch_decode(const uint8_t *entry, size_t len, struct rotation_vouch *out, struct cohort_error *err);
int rotation_change_decode(const uint8_t *entry, size_t len, struct rotation_change *out, struct cohort_error *err);

/*
 * Whether record is the next rotation of the chain as config describes it: its epoch is
 * config->epoch + 1, member_index names a member whose node is leaving_node_id, and the
 * joining node is none of the members. COMMON_E_INVALID naming the rule else.
 */
int rotation_record_check(const struct chain_config *config, const struct rotation_record *record,
                          struct cohort_error *err);

/* Whether signature is member `voucher`'s node vouching for record (its key in config). */
bool rotation_vouch_valid(const struct chain_config *config, uint16_t voucher, const uint8_t record[ROTATION_RECORD_BYTES],
                          const uint8_t signature[ROTATION_SIGNATURE_BYTES]);

/*
 * Whether a CHANGE proves the next rotation: rotation_record_check, and at least f + 1
 * distinct members (f = (members - 1) / 3) whose signatures are valid.
 */
int rotation_change_check(const struct chain_config *config, const struct rotation_change *change,
                          struct cohort_error *err);

/* The members of the epoch record starts: config's, with member_index handed to the joining node. */
void rotation_apply(const struct chain_config *config, const struct rotation_record *record, struct chain_config *next);

/*
 * Completion (docs/chain.md "Rotation", "Completion"). Once the next epoch runs, each of
 * its members' cohort-core signs the manager's rotationDigest(chainId, epoch, height) with
 * its node key (height: the epoch's first block) into the volume (ROTATION_DONE_FILE: hex
 * of epoch u32 | height u64 | signature 65, v 27 or 28 as the manager takes it); the
 * subnode puts it in the log as a DONE entry, and a cohort-core whose subnode saw f + 1 of
 * them committed submits completeRotation with them.
 *
 *   DONE 'D' | version u8 (1) | member u16 | epoch u32 | height u64 | signature 65   (81 bytes)
 */
#define ROTATION_DONE_MAGIC 'D'
#define ROTATION_DONE_BYTES (1 + 1 + 2 + 4 + 8 + ROTATION_SIGNATURE_BYTES)
#define ROTATION_DONE_FILE "rotation.done"

struct rotation_done {
    uint16_t member;
    uint32_t epoch;
    uint64_t height;
    uint8_t signature[ROTATION_SIGNATURE_BYTES];
};

/* The manager's rotationDigest: keccak256(abi.encode(keccak256("cohort rotation done v1"),
   manager chain id, manager address, chain id, epoch, height, leaving node, joining node)). */
void rotation_done_digest(const struct chain_config *config, uint32_t epoch, uint64_t height, uint64_t leaving_node_id,
                          uint64_t joining_node_id, uint8_t out[32]);
void rotation_done_encode(const struct rotation_done *d, uint8_t out[ROTATION_DONE_BYTES]);
/* 1, 0 (another magic) or COMMON_E_INVALID, as the other decoders. */
int rotation_done_decode(const uint8_t *entry, size_t len, struct rotation_done *out, struct cohort_error *err);
/* Whether signature (v 27 or 28) is member's node signing digest (its key in config). */
bool rotation_statement_valid(const struct chain_config *config, uint16_t member, const uint8_t digest[32],
                              const uint8_t signature[ROTATION_SIGNATURE_BYTES]);

/*
 * Absence (docs/chain.md "Rotation", "Absence"). A member's cohort-core whose subnode has
 * not heard member `node` since `since` (unix seconds) for long signs the manager's
 * absenceDigest(chainId, epoch, node, since) into the volume (ROTATION_ABSENT_FILE: hex of
 * node u64 | since u64 | epoch u32 | signature 65); the subnode puts it in the log as an
 * ABSENT entry, and a cohort-core whose subnode saw 2f + 1 other members sign the same
 * (node, since) sends reportAbsent with them.
 *
 *   ABSENT 'A' | version u8 (1) | signer u16 | epoch u32 | node u64 | since u64 | signature 65   (89 bytes)
 */
#define ROTATION_ABSENT_MAGIC 'A'
#define ROTATION_ABSENT_BYTES (1 + 1 + 2 + 4 + 8 + 8 + ROTATION_SIGNATURE_BYTES)
#define ROTATION_ABSENT_FILE "rotation.absent"

struct rotation_absent {
    uint16_t signer;
    uint32_t epoch;
    uint64_t node_id;
    uint64_t since;
    uint8_t signature[ROTATION_SIGNATURE_BYTES];
};

/* The manager's absenceDigest: keccak256(abi.encode(keccak256("cohort member absent v1"),
   manager chain id, manager address, chain id, epoch, node, since)). */
void rotation_absence_digest(const struct chain_config *config, uint32_t epoch, uint64_t node_id, uint64_t since,
                             uint8_t out[32]);
void rotation_absent_encode(const struct rotation_absent *a, uint8_t out[ROTATION_ABSENT_BYTES]);
/* 1, 0 (another magic) or COMMON_E_INVALID, as the other decoders. */
int rotation_absent_decode(const uint8_t *entry, size_t len, struct rotation_absent *out, struct cohort_error *err);

/* The BFT instance of a chain's epoch: epoch 0 keccak256(name)'s first 8 bytes; epoch e > 0
   those of keccak256("cohort-chain-epoch" || name || e u32). */
uint64_t rotation_instance(const char *name, uint32_t epoch);

#endif
