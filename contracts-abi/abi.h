/*
 * abi.h - the Solidity contract ABI: types, values, encoding and strict, bounded decoding,
 * function selectors and event logs.
 *
 * Types are parsed from their text ("(uint256,address[],(bytes,string)[2])"), with optional
 * parameter names and `indexed` markers as in human-readable ABIs
 * ("Transfer(address indexed from,address indexed to,uint256 value)"). Supported:
 * uint<M> and int<M> (M = 8..256, step 8; "uint" and "int" mean 256), address, bool,
 * bytes<M> (M = 1..32), bytes, string, T[] and T[k], and tuples, nested up to
 * ABI_MAX_DEPTH levels. fixed/ufixed and function are not supported.
 *
 * The encoding (https://docs.soliditylang.org/en/latest/abi-spec.html), as drawn for a
 * tuple (T1, ..., Tn), which is also how a parameter list is encoded:
 *
 *     +---------------- head ----------------+------------- tail -------------+
 *     | head(T1) | head(T2) | ... | head(Tn) | tail(T1) | ... | tail(Tn)        |
 *     +--------------------------------------+--------------------------------+
 *     ^ base: offsets are counted from here
 *
 * A static type's head is its whole encoding (32-byte words: numbers big-endian and
 * left-padded, intM sign-extended, address left-padded, bytesM right-padded, a static
 * tuple or T[k] the concatenation of its parts). A dynamic type's head is one word: the
 * offset of its tail from base. bytes and string are a length word then the bytes,
 * zero-padded to a multiple of 32. T[] is a length word then the tuple (T, ..., T); T[k]
 * of a dynamic T is the tuple (T, ..., T) in place.
 *
 * Memory: every type and every decoded value lives in a struct abi_arena the caller owns;
 * nothing is freed one by one, abi_arena_free releases it all. The arena has a byte cap,
 * so a decode of hostile data can exhaust the cap (an error) but not the machine.
 *
 * Decoding is strict: offsets and lengths past the end of the data or past a cap, offsets
 * pointing back into the head they belong to, dirty high bytes in an address, a bool other
 * than 0 or 1, uintM/intM out of range for M (intM must be sign-extended), bytesM and
 * bytes/string with non-zero padding are all errors, and each error message starts with the
 * parameter path: "arg 2 [3].name: offset 0x1e0 past end of data (416 bytes)". Arguments
 * are counted from 0; ".name" is a tuple field by name (".1" when it has none); "[3]" an
 * array element. Bytes after the last tail are allowed, as Solidity allows extra calldata.
 * Strings are bytes: their UTF-8 is not checked.
 *
 * Recursion: the encoder and decoder recurse over the *type*, never over the data. Types
 * are at most ABI_MAX_DEPTH levels deep (checked when parsed), so the recursion is bounded
 * by that cap whatever the data says; the parser itself stops at the same depth.
 */
#ifndef COHORT_CONTRACTS_ABI_ABI_H
#define COHORT_CONTRACTS_ABI_ABI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/u256.h"

#define ABI_MAX_DEPTH 16                  /* nesting of arrays and tuples in a type */
#define ABI_MAX_TYPE_TEXT 4096            /* characters in a type or signature */
#define ABI_MAX_COMPONENTS 256            /* parameters of one tuple */
#define ABI_MAX_FIXED_ARRAY 65536         /* k in T[k] */
#define ABI_MAX_STATIC_BYTES (1u << 20)   /* encoded size of one static type */
#define ABI_MAX_ENCODED_BYTES (64u << 20) /* encoded size of anything the encoder writes */
#define ABI_DEFAULT_MAX_DATA_BYTES (4u << 20)
#define ABI_DEFAULT_MAX_VALUES 100000u
#define ABI_MAX_TOPICS 4

/* Codes of the abi library (domain "abi"). Append only. */
enum abi_status {
    ABI_OK = 0,
    ABI_E_TYPE = COHORT_ERRORS_ABI - 1,      /* a type or signature text that does not parse */
    ABI_E_TRUNCATED = COHORT_ERRORS_ABI - 2, /* an offset, length or head past the end of the data */
    ABI_E_RANGE = COHORT_ERRORS_ABI - 3,     /* a value out of range for its type: dirty bits, bool > 1, ... */
    ABI_E_OFFSET = COHORT_ERRORS_ABI - 4,    /* an offset that points back into its head or is not a small number */
    ABI_E_LIMIT = COHORT_ERRORS_ABI - 5,     /* past a cap: data size, number of values, encoded size */
    ABI_E_NOMEM = COHORT_ERRORS_ABI - 6,     /* the arena's cap is reached or malloc failed */
    ABI_E_MISMATCH = COHORT_ERRORS_ABI - 7,  /* a value whose kind or element count does not fit its type */
    ABI_E_SPACE = COHORT_ERRORS_ABI - 8,     /* the output buffer is too small; the message says how big it must be */
    ABI_E_SELECTOR = COHORT_ERRORS_ABI - 9,  /* call data or a log whose selector or topic 0 is not the expected one */
    ABI_E_TOPICS = COHORT_ERRORS_ABI - 10,   /* a log with the wrong number of topics */
    ABI_E_UNSUPPORTED = COHORT_ERRORS_ABI - 11, /* a valid request this codec does not do (see the function) */
};

/* Returns a static description of an abi_status code; never NULL. */
const char *abi_strerror(int code);

/* ---- Arena ---- */

struct abi_arena_block;

/*
 * A bump allocator: blocks from malloc, all released at once. Not thread-safe; one arena
 * per thread or per task. Initialise with abi_arena_init; a zeroed struct is not valid.
 */
struct abi_arena {
    struct abi_arena_block *blocks; /* newest first */
    size_t used_bytes;              /* bytes handed out and block headers, for the cap */
    size_t cap_bytes;
};

/*
 * Prepares an empty arena that hands out at most cap_bytes in all (cap_bytes > 0; each
 * allocation is rounded up to max_align_t). Behind them, the arena mallocs blocks of 64 KiB
 * (or cap_bytes if smaller, or one request if larger), so the memory used is the cap plus
 * at most one block's slack and a header per block.
 */
void abi_arena_init(struct abi_arena *arena, size_t cap_bytes);

/*
 * Returns size bytes aligned for any type, zeroed, owned by the arena and valid until
 * abi_arena_free; NULL when the cap would be passed or malloc fails.
 */
void *abi_arena_alloc(struct abi_arena *arena, size_t size);

/* Releases every block; the arena is then empty and may be used again. */
void abi_arena_free(struct abi_arena *arena);

/* ---- Types ---- */

enum abi_kind {
    ABI_KIND_UINT = 1,
    ABI_KIND_INT,
    ABI_KIND_ADDRESS,
    ABI_KIND_BOOL,
    ABI_KIND_FIXED_BYTES, /* bytes1..bytes32 */
    ABI_KIND_BYTES,
    ABI_KIND_STRING,
    ABI_KIND_ARRAY,       /* T[] */
    ABI_KIND_FIXED_ARRAY, /* T[k] */
    ABI_KIND_TUPLE,
    ABI_KIND_HASH, /* values only: an indexed dynamic event parameter, logged as its keccak256 */
};

/* A parsed type. Read-only once parsed; lives in the arena it was parsed into. */
struct abi_type {
    enum abi_kind kind;
    unsigned bits;           /* UINT, INT: M in bits; FIXED_BYTES: M in bytes */
    size_t count;            /* FIXED_ARRAY: k; TUPLE: number of components */
    bool dynamic;            /* its head is an offset and its data lives in the tail */
    size_t head_bytes;       /* size in its parent's head: 32 if dynamic, else the whole encoding */
    unsigned depth;          /* 1 for an elementary type, 1 + the deepest part otherwise */
    const struct abi_type *element;            /* ARRAY, FIXED_ARRAY */
    const struct abi_type *const *components;  /* TUPLE: count entries */
    const char *const *names;                  /* TUPLE: count names, "" where none was given */
    const bool *indexed;                       /* TUPLE: count flags (event parameters) */
};

/*
 * Parses a type: an elementary type, an array of one, or a parenthesised tuple whose
 * components may carry `indexed` and a name ("(string name,bytes4 ip)"). Spaces are allowed
 * around commas and parentheses. On success sets *out to a type allocated in arena (valid
 * until abi_arena_free) and returns 0; otherwise returns ABI_E_TYPE (text, depth or a cap)
 * or ABI_E_NOMEM with err filled. text must be NUL-terminated.
 */
int abi_type_parse(struct abi_arena *arena, const char *text, const struct abi_type **out,
                   struct cohort_error *err);

/*
 * Writes the canonical text of type (no names, no spaces, "uint256" for "uint") and a NUL
 * into out. Returns the length, or ABI_E_SPACE with err filled when out_cap is too small.
 */
int abi_type_canonical(const struct abi_type *type, char *out, size_t out_cap, struct cohort_error *err);

/* ---- Values ---- */

/*
 * A value of some type: a tree whose shape follows the type. Build one with the
 * abi_value_* constructors below (plain struct returns; arrays and tuples point at an array
 * of items the caller owns), or get one from a decoder (then every part is in the arena).
 */
struct abi_value {
    enum abi_kind kind;
    union {
        u256 word;           /* UINT; INT as two's complement, sign-extended to 256 bits */
        bool boolean;        /* BOOL */
        uint8_t address[20]; /* ADDRESS */
        struct {
            uint8_t data[32]; /* FIXED_BYTES: the first len bytes (zero after); HASH: all 32 */
            size_t len;
        } fixed;
        struct {
            const uint8_t *data; /* BYTES, STRING; decoded ones are followed by a NUL */
            size_t len;
        } bytes;
        struct {
            const struct abi_value *items; /* ARRAY, FIXED_ARRAY, TUPLE */
            size_t count;
        } list;
    } as;
};

/* Constructors. None of them copies what a pointer argument points at: it must stay valid
 * until the value is encoded. */
struct abi_value abi_value_uint(u256 value);
struct abi_value abi_value_uint64(uint64_t value);
struct abi_value abi_value_int(u256 twos_complement);
struct abi_value abi_value_int64(int64_t value);
struct abi_value abi_value_address(const uint8_t address[20]);
struct abi_value abi_value_bool(bool value);
/* bytes1..bytes32: len must be 1..32 (asserted); it must equal the type's M to encode. */
struct abi_value abi_value_fixed_bytes(const uint8_t *data, size_t len);
struct abi_value abi_value_bytes(const uint8_t *data, size_t len);
/* A NUL-terminated string (its length by strlen); abi_value_string_n for any bytes. */
struct abi_value abi_value_string(const char *text);
struct abi_value abi_value_string_n(const char *text, size_t len);
/* T[] or T[k] (the encoder checks count against k). */
struct abi_value abi_value_array(const struct abi_value *items, size_t count);
struct abi_value abi_value_tuple(const struct abi_value *items, size_t count);
/* The 32-byte hash that stands for an indexed dynamic event parameter. */
struct abi_value abi_value_hash(const uint8_t hash[32]);

/*
 * True when a and b, both values of type, are equal (for HASH, when both are the same hash;
 * a value whose kind does not fit type is unequal to everything). Used by tests and by
 * callers comparing decoded state; never fails.
 */
bool abi_value_equal(const struct abi_type *type, const struct abi_value *a, const struct abi_value *b);

/* ---- Encoding and decoding of parameter lists ---- */

/* Caps for a decode. A NULL limits pointer means ABI_DEFAULT_MAX_DATA_BYTES and
 * ABI_DEFAULT_MAX_VALUES. */
struct abi_limits {
    size_t max_data_bytes; /* longer data is refused before it is read */
    size_t max_values;     /* values (every element and field counts one) one decode may create */
};

/*
 * Size in bytes of the encoding of value as type. Returns 0 and sets *out_size, or
 * ABI_E_MISMATCH / ABI_E_RANGE / ABI_E_LIMIT with err naming the path of the bad part.
 */
int abi_encoded_size(const struct abi_type *type, const struct abi_value *value, size_t *out_size,
                     struct cohort_error *err);

/*
 * Encodes value (of type, usually a tuple: a parameter list) into out[0..out_cap). Sets
 * *out_len. Errors: those of abi_encoded_size, and ABI_E_SPACE when out_cap is too small
 * (nothing useful is written then). Keeps no pointer to anything.
 */
int abi_encode(const struct abi_type *type, const struct abi_value *value, uint8_t *out, size_t out_cap,
               size_t *out_len, struct cohort_error *err);

/*
 * Decodes data[0..len) as type (a tuple: the parameter list). On success sets *out to a
 * value allocated in arena (strings and bytes copied there, NUL-terminated), valid until
 * abi_arena_free, and returns 0. Otherwise returns a negative abi_status with err naming
 * the parameter path; parts of a failed decode may stay in the arena until it is freed.
 * limits may be NULL (defaults). Never reads outside data[0..len).
 */
int abi_decode(struct abi_arena *arena, const struct abi_type *type, const uint8_t *data, size_t len,
               const struct abi_limits *limits, struct abi_value *out, struct cohort_error *err);

/* ---- Functions ---- */

/* A parsed function signature. Lives in the arena it was parsed into. */
struct abi_function {
    const char *name;
    const char *signature;        /* canonical: "registerNode(string,bytes4,uint16,bytes,string)" */
    const struct abi_type *params; /* a tuple */
    uint8_t selector[4];          /* the first 4 bytes of keccak256(signature) */
};

/* The first 4 bytes of keccak256(signature[0..len)); signature must already be canonical. */
void abi_selector(const char *signature, size_t len, uint8_t out[4]);

/*
 * Parses "name(type name, ...)" (an optional leading "function " is skipped) and fills *out
 * with parts allocated in arena. Returns 0, ABI_E_TYPE or ABI_E_NOMEM.
 */
int abi_function_parse(struct abi_arena *arena, const char *text, struct abi_function *out,
                       struct cohort_error *err);

/* Writes the selector and the encoded args (a tuple value) into out. Errors as abi_encode. */
int abi_encode_call(const struct abi_function *function, const struct abi_value *args, uint8_t *out,
                    size_t out_cap, size_t *out_len, struct cohort_error *err);

/*
 * Checks the selector (ABI_E_SELECTOR; ABI_E_TRUNCATED if fewer than 4 bytes) and decodes
 * the arguments as abi_decode does.
 */
int abi_decode_call(struct abi_arena *arena, const struct abi_function *function, const uint8_t *data,
                    size_t len, const struct abi_limits *limits, struct abi_value *out,
                    struct cohort_error *err);

/* ---- Events ---- */

/* A parsed event. Lives in the arena it was parsed into. */
struct abi_event {
    const char *name;
    const char *signature;         /* canonical: "Transfer(address,address,uint256)" */
    const struct abi_type *params; /* a tuple of every parameter, with names and indexed flags */
    uint8_t topic0[32];            /* keccak256(signature) */
    size_t indexed_count;          /* at most 3 */
    const struct abi_type *data_params; /* a tuple of the non-indexed parameters only */
};

/*
 * Parses "Name(type [indexed] [name], ...)" (an optional leading "event " is skipped).
 * More than 3 indexed parameters is ABI_E_TYPE. Anonymous events are not supported.
 */
int abi_event_parse(struct abi_arena *arena, const char *text, struct abi_event *out, struct cohort_error *err);

/*
 * Decodes a log of event: topics[0] must be topic0 and there must be 1 + indexed_count
 * topics (ABI_E_SELECTOR, ABI_E_TOPICS). Indexed static parameters are decoded from their
 * topic with the same strict checks as data words; indexed dynamic ones (bytes, string,
 * arrays, tuples) become ABI_KIND_HASH values holding the topic. The others are decoded
 * from data as one tuple. *out is a tuple of every parameter in declaration order,
 * allocated in arena. Error paths name parameters as "arg N" in declaration order.
 */
int abi_event_decode(struct abi_arena *arena, const struct abi_event *event, const uint8_t (*topics)[32],
                     size_t topic_count, const uint8_t *data, size_t len, const struct abi_limits *limits,
                     struct abi_value *out, struct cohort_error *err);

/*
 * Encodes a log of event from values (a tuple of every parameter in declaration order):
 * fills topics[0..*topic_count) and data. An indexed string or bytes is hashed; an indexed
 * array or tuple must be given as abi_value_hash (hashing their in-place encoding is not
 * done here: ABI_E_UNSUPPORTED).
 */
int abi_event_encode(const struct abi_event *event, const struct abi_value *values,
                     uint8_t topics[ABI_MAX_TOPICS][32], size_t *topic_count, uint8_t *data, size_t data_cap,
                     size_t *data_len, struct cohort_error *err);

#endif
