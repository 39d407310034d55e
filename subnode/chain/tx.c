/*
 * tx.c - the raw transaction codec (see tx.h): strict decoding of types 0-3 into one
 * allocation, the hashes, sender recovery, the encoder and the stateless checks.
 *
 * Decoding walks the RLP twice: once to check every field and count the access list and
 * blob hashes, once to copy them into the object. Nothing recurses: the nesting is fixed
 * (transaction, access list, entry, keys) and checked by rlp_validate first.
 */
#include "tx.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "common/keccak.h"
#include "common/secp.h"

#define DOMAIN "chain"

/* The most fields a transaction has (type 3) and the deepest nesting (an access list's keys). */
#define FIELDS_MAX 14u
#define TX_RLP_DEPTH 4u
#define MAX_INITCODE_SIZE (2u * 24576u)
#define BLOB_VERSION_KZG 0x01

/* secp256k1's group order n and n / 2, big-endian (EIP-2 refuses s above n / 2). */
static const uint8_t curve_order[32] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                        0xff, 0xff, 0xff, 0xff, 0xfe, 0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48,
                                        0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41};
static const uint8_t curve_half_order[32] = {0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                             0xff, 0xff, 0xff, 0xff, 0xff, 0x5d, 0x57, 0x6e, 0x73, 0x57, 0xa4,
                                             0x50, 0x1d, 0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b, 0x20, 0xa0};

/* Field layouts. Each name is what an error message calls the field. */
enum field_kind { F_U64, F_U256, F_TO, F_DATA, F_ACCESS, F_BLOBS };

struct field {
    const char *name;
    enum field_kind kind;
};

static const struct field legacy_fields[] = {
    {"nonce", F_U64}, {"gasPrice", F_U256}, {"gas", F_U64}, {"to", F_TO},  {"value", F_U256},
    {"data", F_DATA}, {"v", F_U256},        {"r", F_U256},  {"s", F_U256},
};
static const struct field type1_fields[] = {
    {"chainId", F_U64}, {"nonce", F_U64},  {"gasPrice", F_U256}, {"gas", F_U64},
    {"to", F_TO},       {"value", F_U256}, {"data", F_DATA},     {"accessList", F_ACCESS},
    {"yParity", F_U64}, {"r", F_U256},     {"s", F_U256},
};
static const struct field type2_fields[] = {
    {"chainId", F_U64},       {"nonce", F_U64}, {"maxPriorityFeePerGas", F_U256},
    {"maxFeePerGas", F_U256}, {"gas", F_U64},   {"to", F_TO},
    {"value", F_U256},        {"data", F_DATA}, {"accessList", F_ACCESS},
    {"yParity", F_U64},       {"r", F_U256},    {"s", F_U256},
};
static const struct field type3_fields[] = {
    {"chainId", F_U64},
    {"nonce", F_U64},
    {"maxPriorityFeePerGas", F_U256},
    {"maxFeePerGas", F_U256},
    {"gas", F_U64},
    {"to", F_TO},
    {"value", F_U256},
    {"data", F_DATA},
    {"accessList", F_ACCESS},
    {"maxFeePerBlobGas", F_U256},
    {"blobVersionedHashes", F_BLOBS},
    {"yParity", F_U64},
    {"r", F_U256},
    {"s", F_U256},
};
_Static_assert(sizeof legacy_fields / sizeof legacy_fields[0] == 9, "legacy has 9 fields");
_Static_assert(sizeof type1_fields / sizeof type1_fields[0] == 11, "type 1 has 11 fields");
_Static_assert(sizeof type2_fields / sizeof type2_fields[0] == 12, "type 2 has 12 fields");
_Static_assert(sizeof type3_fields / sizeof type3_fields[0] == FIELDS_MAX, "type 3 has 14 fields");

static const struct field *layout(unsigned type, size_t *count)
{
    switch (type) {
    case 0: *count = sizeof legacy_fields / sizeof legacy_fields[0]; return legacy_fields;
    case 1: *count = sizeof type1_fields / sizeof type1_fields[0]; return type1_fields;
    case 2: *count = sizeof type2_fields / sizeof type2_fields[0]; return type2_fields;
    default:
        assert(type == 3);
        *count = sizeof type3_fields / sizeof type3_fields[0];
        return type3_fields;
    }
}

/* Decode errors are CHAIN_E_INVALID whatever the RLP layer called them; the message keeps its detail. */
static int invalid_field(struct cohort_error *err, size_t index, const char *name)
{
    if (err != NULL) {
        cohort_error_wrap(err, "tx: field %zu (%s)", index, name);
        err->code = CHAIN_E_INVALID;
        err->domain = DOMAIN;
    }
    return CHAIN_E_INVALID;
}

/* Writes the RLP header of a list with a payload of len bytes; returns its length (1..9). */
static size_t list_header(size_t len, uint8_t out[RLP_MAX_HEADER_BYTES])
{
    if (len <= 55) {
        out[0] = (uint8_t)(0xc0 + len);
        return 1;
    }
    size_t n = 0;
    for (size_t v = len; v != 0; v >>= 8) n++;
    out[0] = (uint8_t)(0xf7 + n);
    for (size_t i = 0; i < n; i++) out[1 + i] = (uint8_t)(len >> (8 * (n - 1 - i)));
    return 1 + n;
}

/* Writes the RLP of an integer; returns its length (1..9). */
static size_t u64_rlp(uint64_t value, uint8_t out[9])
{
    if (value == 0) {
        out[0] = 0x80;
        return 1;
    }
    if (value < 0x80) {
        out[0] = (uint8_t)value;
        return 1;
    }
    size_t n = 0;
    for (uint64_t v = value; v != 0; v >>= 8) n++;
    out[0] = (uint8_t)(0x80 + n);
    for (size_t i = 0; i < n; i++) out[1 + i] = (uint8_t)(value >> (8 * (n - 1 - i)));
    return 1 + n;
}

/* Checks an access list and counts its entries and keys (first pass). */
static int check_access_list(const struct rlp_item *list, size_t field_index, size_t *entries, size_t *keys,
                             struct cohort_error *err)
{
    struct rlp_iter it, kit;
    struct rlp_item entry, item, key;
    *entries = 0;
    *keys = 0;
    if (rlp_iter_init(&it, list, err) != 0) return invalid_field(err, field_index, "accessList");
    int rc;
    while ((rc = rlp_iter_next(&it, &entry, err)) == 1) {
        if (++*entries > TX_ACCESS_ENTRIES_MAX)
            return cohort_error_set(err, CHAIN_E_RANGE, DOMAIN, "tx: access list over %u entries",
                                    TX_ACCESS_ENTRIES_MAX);
        size_t count = 0;
        if (!entry.is_list || rlp_list_count(&entry, &count, err) != 0 || count != 2)
            return cohort_error_set(err, CHAIN_E_INVALID, DOMAIN,
                                    "tx: access list entry %zu: want a list [address, [keys...]]", *entries - 1);
        if (rlp_iter_init(&kit, &entry, err) != 0 || rlp_iter_next(&kit, &item, err) != 1)
            return invalid_field(err, field_index, "accessList");
        if (item.is_list || item.payload_len != 20)
            return cohort_error_set(err, CHAIN_E_INVALID, DOMAIN,
                                    "tx: access list entry %zu: address of %zu bytes, want 20", *entries - 1,
                                    item.is_list ? (size_t)0 : item.payload_len);
        if (rlp_iter_next(&kit, &item, err) != 1 || !item.is_list)
            return cohort_error_set(err, CHAIN_E_INVALID, DOMAIN,
                                    "tx: access list entry %zu: storage keys are not a list", *entries - 1);
        struct rlp_iter keys_it;
        if (rlp_iter_init(&keys_it, &item, err) != 0) return invalid_field(err, field_index, "accessList");
        int krc;
        while ((krc = rlp_iter_next(&keys_it, &key, err)) == 1) {
            if (key.is_list || key.payload_len != 32)
                return cohort_error_set(err, CHAIN_E_INVALID, DOMAIN,
                                        "tx: access list entry %zu: storage key of %zu bytes, want 32", *entries - 1,
                                        key.is_list ? (size_t)0 : key.payload_len);
            if (++*keys > TX_ACCESS_KEYS_MAX)
                return cohort_error_set(err, CHAIN_E_RANGE, DOMAIN, "tx: access list over %u storage keys",
                                        TX_ACCESS_KEYS_MAX);
        }
        if (krc < 0) return invalid_field(err, field_index, "accessList");
    }
    return rc < 0 ? invalid_field(err, field_index, "accessList") : 0;
}

static int check_blob_hashes(const struct rlp_item *list, size_t field_index, size_t *count, struct cohort_error *err)
{
    struct rlp_iter it;
    struct rlp_item item;
    *count = 0;
    if (rlp_iter_init(&it, list, err) != 0) return invalid_field(err, field_index, "blobVersionedHashes");
    int rc;
    while ((rc = rlp_iter_next(&it, &item, err)) == 1) {
        if (item.is_list || item.payload_len != 32)
            return cohort_error_set(err, CHAIN_E_INVALID, DOMAIN, "tx: blob versioned hash %zu: %zu bytes, want 32",
                                    *count, item.is_list ? (size_t)0 : item.payload_len);
        if (++*count > TX_BLOB_HASHES_MAX)
            return cohort_error_set(err, CHAIN_E_RANGE, DOMAIN, "tx: over %u blob versioned hashes",
                                    TX_BLOB_HASHES_MAX);
    }
    return rc < 0 ? invalid_field(err, field_index, "blobVersionedHashes") : 0;
}

static bool below(const uint8_t be[32], const uint8_t limit[32]) { return memcmp(be, limit, 32) < 0; }

/* r and s: non-zero, below the order, s at most n / 2 (EIP-2). */
static int check_signature(u256 r, u256 s, struct cohort_error *err)
{
    uint8_t rb[32], sb[32], half_plus_one[32];
    u256_store_be(rb, r);
    u256_store_be(sb, s);
    u256_store_be(half_plus_one, u256_add(u256_load_be(curve_half_order), u256_from_u64(1)));
    if (u256_is_zero(r) || u256_is_zero(s))
        return cohort_error_set(err, CHAIN_E_INVALID, DOMAIN, "tx: signature %s is zero", u256_is_zero(r) ? "r" : "s");
    if (!below(rb, curve_order))
        return cohort_error_set(err, CHAIN_E_INVALID, DOMAIN, "tx: signature r is not below the curve order");
    if (!below(sb, half_plus_one))
        return cohort_error_set(err, CHAIN_E_INVALID, DOMAIN,
                                "tx: signature s is in the upper half of the curve order (EIP-2 wants s <= n/2)");
    return 0;
}

int tx_decode(const uint8_t *raw, size_t raw_len, size_t max_bytes, struct tx_signed **out, struct cohort_error *err)
{
    assert(out != NULL);
    assert(raw != NULL || raw_len == 0);
    *out = NULL;
    size_t cap = max_bytes != 0 ? max_bytes : TX_RAW_MAX_BYTES;
    if (raw_len > cap)
        return cohort_error_set(err, CHAIN_E_RANGE, DOMAIN, "tx: %zu bytes is over the %zu-byte cap", raw_len, cap);
    if (raw_len == 0) return cohort_error_set(err, CHAIN_E_INVALID, DOMAIN, "tx: empty");

    /* A legacy transaction is an RLP list; a typed one is its type byte (below 0x80) and a list. */
    unsigned type;
    size_t prefix;
    if (raw[0] >= 0xc0) {
        type = 0;
        prefix = 0;
    } else if (raw[0] <= 0x7f) {
        type = raw[0];
        prefix = 1;
        if (type < 1 || type > 3)
            return cohort_error_set(err, CHAIN_E_INVALID, DOMAIN, "tx: type 0x%02x is not supported", type);
    } else {
        return cohort_error_set(err, CHAIN_E_INVALID, DOMAIN,
                                "tx: first byte 0x%02x is an RLP string: want a list (legacy) or a type byte", raw[0]);
    }
    const uint8_t *body = raw + prefix;
    size_t body_len = raw_len - prefix;
    struct rlp_item list;
    if (rlp_validate(body, body_len, TX_RLP_DEPTH, err) != 0 || rlp_decode_whole(body, body_len, &list, err) != 0) {
        if (err != NULL) {
            cohort_error_wrap(err, "tx: type %u", type);
            err->code = CHAIN_E_INVALID;
            err->domain = DOMAIN;
        }
        return CHAIN_E_INVALID;
    }
    if (!list.is_list) return cohort_error_set(err, CHAIN_E_INVALID, DOMAIN, "tx: type %u: not an RLP list", type);

    size_t want = 0;
    const struct field *fields = layout(type, &want);
    struct rlp_item items[FIELDS_MAX];
    size_t count = 0;
    struct rlp_iter it;
    int rc = rlp_iter_init(&it, &list, err);
    assert(rc == 0);
    struct rlp_item item;
    while ((rc = rlp_iter_next(&it, &item, err)) == 1) {
        if (count == want) {
            count++;
            break;
        }
        items[count++] = item;
    }
    assert(rc >= 0); /* rlp_validate checked every item */
    if (count != want)
        return cohort_error_set(err, CHAIN_E_INVALID, DOMAIN, "tx: type %u: %s than %zu fields", type,
                                count > want ? "more" : "fewer", want);

    /* First pass: every field's shape and value; counts for the allocation. */
    struct tx_signed tmp;
    memset(&tmp, 0, sizeof tmp);
    tmp.tx.type = type;
    size_t access_entries = 0, access_keys = 0, blob_count = 0;
    u256 ints[FIELDS_MAX];
    uint64_t smalls[FIELDS_MAX];
    for (size_t i = 0; i < want; i++) {
        const struct rlp_item *f = &items[i];
        switch (fields[i].kind) {
        case F_U64:
            if (rlp_item_to_u64(f, &smalls[i], err) != 0) return invalid_field(err, i, fields[i].name);
            break;
        case F_U256:
            if (rlp_item_to_u256(f, &ints[i], err) != 0) return invalid_field(err, i, fields[i].name);
            break;
        case F_TO:
            if (f->is_list || (f->payload_len != 0 && f->payload_len != 20))
                return cohort_error_set(
                    err, CHAIN_E_INVALID, DOMAIN, "tx: field %zu (to): %s, want 20 bytes or empty", i,
                    f->is_list ? "a list" : (f->payload_len < 20 ? "fewer than 20 bytes" : "over 20 bytes"));
            break;
        case F_DATA:
            if (f->is_list)
                return cohort_error_set(err, CHAIN_E_INVALID, DOMAIN, "tx: field %zu (data): a list, want bytes", i);
            break;
        case F_ACCESS:
            if (!f->is_list)
                return cohort_error_set(err, CHAIN_E_INVALID, DOMAIN, "tx: field %zu (accessList): bytes, want a list",
                                        i);
            if ((rc = check_access_list(f, i, &access_entries, &access_keys, err)) != 0) return rc;
            break;
        case F_BLOBS:
            if (!f->is_list)
                return cohort_error_set(err, CHAIN_E_INVALID, DOMAIN,
                                        "tx: field %zu (blobVersionedHashes): bytes, want a list", i);
            if ((rc = check_blob_hashes(f, i, &blob_count, err)) != 0) return rc;
            break;
        }
    }

    /* The signature: legacy v as sent (27/28 or EIP-155), typed yParity 0/1; r and s. */
    size_t sig = want - 3;
    u256 r = ints[sig + 1], s = ints[sig + 2];
    if (type == 0) {
        u256 v = ints[sig];
        tmp.v = v;
        if (u256_eq(v, u256_from_u64(27)) || u256_eq(v, u256_from_u64(28))) {
            tmp.y_parity = (uint8_t)(v.w[0] - 27);
        } else if (!u256_lt(v, u256_from_u64(35))) {
            u256 id = u256_div(u256_sub(v, u256_from_u64(35)), u256_from_u64(2));
            if (!u256_fits_u64(id))
                return cohort_error_set(err, CHAIN_E_RANGE, DOMAIN, "tx: v implies a chain id over 64 bits");
            tmp.has_chain_id = true;
            tmp.chain_id = id.w[0];
            tmp.y_parity = (uint8_t)((v.w[0] - 35) & 1);
        } else {
            return cohort_error_set(err, CHAIN_E_INVALID, DOMAIN,
                                    "tx: v is %llu: want 27, 28 or chainId * 2 + 35/36 (EIP-155)",
                                    (unsigned long long)v.w[0]);
        }
    } else {
        if (smalls[sig] > 1)
            return cohort_error_set(err, CHAIN_E_INVALID, DOMAIN, "tx: yParity is %llu, want 0 or 1",
                                    (unsigned long long)smalls[sig]);
        tmp.y_parity = (uint8_t)smalls[sig];
        tmp.v = u256_from_u64(tmp.y_parity);
        tmp.has_chain_id = true;
        tmp.chain_id = smalls[0];
    }
    if ((rc = check_signature(r, s, err)) != 0) return rc;
    tmp.r = r;
    tmp.s = s;

    /* One allocation: the object, the access entries, the raw copy, the keys, the blob hashes. */
    size_t entries_bytes = access_entries * sizeof(struct chain_access_entry);
    size_t total = sizeof(struct tx_signed) + entries_bytes + raw_len + 32 * access_keys + 32 * blob_count;
    uint8_t *mem = malloc(total);
    if (mem == NULL)
        return cohort_error_set(err, CHAIN_E_NOMEM, DOMAIN, "tx: %zu bytes for a decoded transaction", total);
    struct tx_signed *t = (struct tx_signed *)mem;
    *t = tmp;
    struct chain_access_entry *entries = (struct chain_access_entry *)(mem + sizeof *t);
    uint8_t *raw_copy = mem + sizeof *t + entries_bytes;
    uint8_t *keys = raw_copy + raw_len;
    uint8_t *blobs = keys + 32 * access_keys;
    memcpy(raw_copy, raw, raw_len);
    t->raw = raw_copy;
    t->raw_len = raw_len;
    const uint8_t *copy_body = raw_copy + prefix;

    /* Second pass: fill the execution fields (the checks above cannot fail now). */
    struct chain_tx *tx = &t->tx;
    size_t k = type == 0 ? 0 : 1; /* typed transactions start with chainId */
    tx->nonce = smalls[k];
    if (type == 0 || type == 1) {
        tx->gas_price = ints[k + 1];
        k += 2;
    } else {
        tx->max_priority_fee_per_gas = ints[k + 1];
        tx->max_fee_per_gas = ints[k + 2];
        k += 3;
    }
    tx->gas_limit = smalls[k++];
    if (items[k].payload_len == 20) {
        tx->has_to = true;
        memcpy(tx->to, items[k].payload, 20);
    }
    k++;
    tx->value = ints[k++];
    tx->data_len = items[k].payload_len;
    tx->data = tx->data_len != 0 ? copy_body + (items[k].payload - body) : raw_copy;
    k++;
    if (type >= 1) {
        struct rlp_iter ait, eit, kit;
        struct rlp_item entry, addr, key_list, key;
        size_t e = 0, key_index = 0;
        rc = rlp_iter_init(&ait, &items[k], err);
        assert(rc == 0);
        while (rlp_iter_next(&ait, &entry, err) == 1) {
            assert(e < access_entries);
            rc = rlp_iter_init(&eit, &entry, err);
            assert(rc == 0);
            rc = rlp_iter_next(&eit, &addr, err);
            assert(rc == 1);
            rc = rlp_iter_next(&eit, &key_list, err);
            assert(rc == 1);
            memcpy(entries[e].address, addr.payload, 20);
            entries[e].keys = keys + 32 * key_index;
            entries[e].key_count = 0;
            rc = rlp_iter_init(&kit, &key_list, err);
            assert(rc == 0);
            while (rlp_iter_next(&kit, &key, err) == 1) {
                assert(key_index < access_keys);
                memcpy(keys + 32 * key_index++, key.payload, 32);
                entries[e].key_count++;
            }
            e++;
        }
        assert(e == access_entries && key_index == access_keys);
        tx->access_list = entries;
        tx->access_list_len = access_entries;
        k++;
    }
    if (type == 3) {
        tx->max_fee_per_blob_gas = ints[k++];
        struct rlp_iter bit;
        struct rlp_item h;
        size_t b = 0;
        rc = rlp_iter_init(&bit, &items[k], err);
        assert(rc == 0);
        while (rlp_iter_next(&bit, &h, err) == 1) memcpy(blobs + 32 * b++, h.payload, 32);
        assert(b == blob_count);
        tx->blob_hashes = blobs;
        tx->blob_count = blob_count;
        k++;
    }
    assert(k == sig);

    /* The hashes. The signed fields are contiguous in the body: hash their encodings in place. */
    keccak256(raw_copy, raw_len, t->hash);
    const struct rlp_item *first = &items[0], *last_signed = &items[sig - 1];
    size_t signed_start = first->offset;
    size_t signed_end = last_signed->offset + last_signed->encoded_len;
    uint8_t header[RLP_MAX_HEADER_BYTES], chain_rlp[9];
    size_t chain_rlp_len = 0, extra = 0;
    if (type == 0 && t->has_chain_id) {
        chain_rlp_len = u64_rlp(t->chain_id, chain_rlp);
        extra = chain_rlp_len + 2; /* chainId, 0, 0 */
    }
    size_t header_len = list_header(signed_end - signed_start + extra, header);
    struct keccak256_ctx ctx;
    keccak256_init(&ctx);
    if (type != 0) {
        uint8_t type_byte = (uint8_t)type;
        keccak256_update(&ctx, &type_byte, 1);
    }
    keccak256_update(&ctx, header, header_len);
    keccak256_update(&ctx, copy_body + signed_start, signed_end - signed_start);
    if (extra != 0) {
        static const uint8_t zeros[2] = {0x80, 0x80};
        keccak256_update(&ctx, chain_rlp, chain_rlp_len);
        keccak256_update(&ctx, zeros, 2);
    }
    keccak256_final(&ctx, t->signing_hash);
    *out = t;
    return 0;
}

void tx_free(struct tx_signed *t) { free(t); }

int tx_recover_sender(struct tx_signed *t, struct cohort_error *err)
{
    assert(t != NULL);
    uint8_t sig[SECP_SIGNATURE_BYTES];
    u256_store_be(sig, t->r);
    u256_store_be(sig + 32, t->s);
    sig[64] = t->y_parity;
    uint8_t sender[20];
    int rc = secp_recover_address(t->signing_hash, sig, SECP_S_LOW, sender, err);
    if (rc != 0) {
        if (err != NULL) {
            cohort_error_wrap(err, "tx: invalid signature");
            err->code = CHAIN_E_INVALID;
            err->domain = DOMAIN;
        }
        return CHAIN_E_INVALID;
    }
    memcpy(t->tx.sender, sender, 20);
    t->sender_known = true;
    return 0;
}

/* ---- Encoding ---- */

static void encode_access_list(const struct chain_tx *tx, struct rlp_buf *out)
{
    size_t list = rlp_encode_list_begin(out);
    for (size_t i = 0; i < tx->access_list_len; i++) {
        const struct chain_access_entry *e = &tx->access_list[i];
        size_t entry = rlp_encode_list_begin(out);
        rlp_encode_bytes(out, e->address, 20);
        size_t keys = rlp_encode_list_begin(out);
        for (size_t k = 0; k < e->key_count; k++) rlp_encode_bytes(out, e->keys + 32 * k, 32);
        rlp_encode_list_end(out, keys);
        rlp_encode_list_end(out, entry);
    }
    rlp_encode_list_end(out, list);
}

void tx_encode(const struct tx_signed *t, struct rlp_buf *out)
{
    assert(t != NULL && out != NULL);
    const struct chain_tx *tx = &t->tx;
    assert(tx->type <= 3);
    if (tx->type != 0) {
        uint8_t type_byte = (uint8_t)tx->type;
        rlp_encode_raw(out, &type_byte, 1);
    }
    size_t list = rlp_encode_list_begin(out);
    if (tx->type != 0) rlp_encode_u64(out, t->chain_id);
    rlp_encode_u64(out, tx->nonce);
    if (tx->type <= 1) {
        rlp_encode_u256(out, tx->gas_price);
    } else {
        rlp_encode_u256(out, tx->max_priority_fee_per_gas);
        rlp_encode_u256(out, tx->max_fee_per_gas);
    }
    rlp_encode_u64(out, tx->gas_limit);
    rlp_encode_bytes(out, tx->has_to ? tx->to : NULL, tx->has_to ? 20 : 0);
    rlp_encode_u256(out, tx->value);
    rlp_encode_bytes(out, tx->data, tx->data_len);
    if (tx->type >= 1) encode_access_list(tx, out);
    if (tx->type == 3) {
        rlp_encode_u256(out, tx->max_fee_per_blob_gas);
        size_t blobs = rlp_encode_list_begin(out);
        for (size_t i = 0; i < tx->blob_count; i++) rlp_encode_bytes(out, tx->blob_hashes + 32 * i, 32);
        rlp_encode_list_end(out, blobs);
    }
    if (tx->type == 0)
        rlp_encode_u256(out, t->v);
    else
        rlp_encode_u64(out, t->y_parity);
    rlp_encode_u256(out, t->r);
    rlp_encode_u256(out, t->s);
    rlp_encode_list_end(out, list);
}

/* ---- Checks without state ---- */

static int refuse(enum chain_reject_reason *reason_out, enum chain_reject_reason reason, struct cohort_error *err,
                  const char *detail)
{
    if (reason_out != NULL) *reason_out = reason;
    return cohort_error_set(err, CHAIN_E_REJECTED, DOMAIN, "tx: %s: %s", chain_reject_name(reason), detail);
}

/* a * b, or false when the product does not fit 256 bits. */
static bool mul_fits(u256 a, uint64_t b, u256 *out)
{
    if (b != 0 && u256_gt(a, u256_div(u256_max(), u256_from_u64(b)))) return false;
    *out = u256_mul(a, u256_from_u64(b));
    return true;
}

int tx_validate_static(const struct tx_signed *t, enum evm_revision revision, uint64_t chain_id,
                       enum chain_reject_reason *reason, struct cohort_error *err)
{
    assert(t != NULL);
    const struct chain_tx *tx = &t->tx;
    if (reason != NULL) *reason = CHAIN_REJECT_NONE;
    if ((tx->type == 1 && revision < EVM_BERLIN) || (tx->type == 2 && revision < EVM_LONDON) ||
        (tx->type == 3 && revision < EVM_CANCUN) || tx->type > 3)
        return refuse(reason, CHAIN_REJECT_TYPE_UNSUPPORTED, err, "the type does not exist in this fork");
    if (t->has_chain_id && t->chain_id != chain_id)
        return cohort_error_set(err, CHAIN_E_INVALID, DOMAIN, "tx: chain id %llu, this chain's is %llu",
                                (unsigned long long)t->chain_id, (unsigned long long)chain_id);
    if (tx->nonce == UINT64_MAX) return refuse(reason, CHAIN_REJECT_NONCE_MAX, err, "nonce 2^64-1 (EIP-2681)");
    uint64_t intrinsic = chain_intrinsic_gas(tx, revision);
    if (intrinsic > tx->gas_limit)
        return refuse(reason, CHAIN_REJECT_INTRINSIC_GAS, err, "gas limit below the intrinsic gas");
    if (!tx->has_to && revision >= EVM_SHANGHAI && tx->data_len > MAX_INITCODE_SIZE)
        return refuse(reason, CHAIN_REJECT_INITCODE_SIZE, err, "init code over 49152 bytes (EIP-3860)");
    if (tx->type >= 2 && u256_lt(tx->max_fee_per_gas, tx->max_priority_fee_per_gas))
        return refuse(reason, CHAIN_REJECT_PRIORITY_OVER_MAX_FEE, err, "priority fee over the max fee");
    u256 product;
    if (!mul_fits(tx_fee_cap(tx), tx->gas_limit, &product))
        return refuse(reason, CHAIN_REJECT_VALUE_OVERFLOW, err, "gas limit * fee cap overflows 256 bits");
    if (tx->type == 3) {
        u256 blob_fee;
        if (!mul_fits(tx->max_fee_per_blob_gas, CHAIN_GAS_PER_BLOB * (uint64_t)tx->blob_count, &blob_fee) ||
            u256_lt(u256_add(product, blob_fee), product))
            return refuse(reason, CHAIN_REJECT_VALUE_OVERFLOW, err, "blob gas * blob fee cap overflows 256 bits");
        if (!tx->has_to) return refuse(reason, CHAIN_REJECT_BLOB_CREATE, err, "a blob transaction cannot create");
        if (tx->blob_count == 0 || tx->blob_count > CHAIN_MAX_BLOBS_PER_BLOCK)
            return refuse(reason, CHAIN_REJECT_BLOB_COUNT, err, "blob count not in 1..6");
        for (size_t i = 0; i < tx->blob_count; i++)
            if (tx->blob_hashes[32 * i] != BLOB_VERSION_KZG)
                return refuse(reason, CHAIN_REJECT_BLOB_VERSION, err, "a versioned hash without version 0x01");
    }
    return 0;
}

/* ---- Fees ---- */

u256 tx_fee_cap(const struct chain_tx *tx)
{
    assert(tx != NULL);
    return tx->type >= 2 ? tx->max_fee_per_gas : tx->gas_price;
}

u256 tx_tip_cap(const struct chain_tx *tx)
{
    assert(tx != NULL);
    return tx->type >= 2 ? tx->max_priority_fee_per_gas : tx->gas_price;
}

u256 tx_effective_gas_price(const struct chain_tx *tx, u256 base_fee)
{
    assert(tx != NULL);
    if (tx->type < 2) return tx->gas_price;
    /* A fee cap below the base fee cannot be included; answer the cap rather than wrap. */
    if (u256_lt(tx->max_fee_per_gas, base_fee)) return tx->max_fee_per_gas;
    u256 tip = u256_sub(tx->max_fee_per_gas, base_fee);
    if (u256_lt(tx->max_priority_fee_per_gas, tip)) tip = tx->max_priority_fee_per_gas;
    return u256_add(base_fee, tip);
}

u256 tx_effective_tip(const struct chain_tx *tx, u256 base_fee)
{
    u256 price = tx_effective_gas_price(tx, base_fee);
    return u256_lt(price, base_fee) ? u256_zero() : u256_sub(price, base_fee);
}
