/*
 * abi.c - the Solidity ABI codec: type parser, encoder, strict decoder, selectors, events.
 * The wire format is drawn in abi.h.
 */
#include "contracts-abi/abi.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/keccak.h"

#define DOMAIN "abi"
#define WORD 32u
#define ARENA_BLOCK_BYTES (64u * 1024u)

_Static_assert(ABI_MAX_ENCODED_BYTES <= SIZE_MAX / 4, "encoded sizes add without overflow");
_Static_assert(ABI_MAX_STATIC_BYTES <= ABI_MAX_ENCODED_BYTES, "a static type fits in an encoding");
_Static_assert((uint64_t)ABI_MAX_COMPONENTS * ABI_MAX_STATIC_BYTES <= SIZE_MAX / 4, "head sums do not overflow");

const char *abi_strerror(int code)
{
    switch (code) {
    case ABI_OK: return "success";
    case ABI_E_TYPE: return "bad type or signature";
    case ABI_E_TRUNCATED: return "data ends before a head, offset or length it declares";
    case ABI_E_RANGE: return "value out of range for its type";
    case ABI_E_OFFSET: return "offset points into its own head";
    case ABI_E_LIMIT: return "past a size or count cap";
    case ABI_E_NOMEM: return "out of memory (arena cap)";
    case ABI_E_MISMATCH: return "value does not fit its type";
    case ABI_E_SPACE: return "output buffer too small";
    case ABI_E_SELECTOR: return "wrong function selector or event topic";
    case ABI_E_TOPICS: return "wrong number of log topics";
    case ABI_E_UNSUPPORTED: return "not supported";
    default: return "unknown abi error";
    }
}

/* ---- Arena ---- */

struct abi_arena_block {
    struct abi_arena_block *next;
    size_t size; /* bytes in data */
    size_t used;
    max_align_t data[];
};

void abi_arena_init(struct abi_arena *arena, size_t cap_bytes)
{
    assert(arena != NULL);
    assert(cap_bytes > 0);
    arena->blocks = NULL;
    arena->used_bytes = 0;
    arena->cap_bytes = cap_bytes;
}

void *abi_arena_alloc(struct abi_arena *arena, size_t size)
{
    assert(arena != NULL);
    assert(arena->cap_bytes > 0);
    const size_t align = sizeof(max_align_t);
    if (size == 0) size = 1;
    if (size > arena->cap_bytes || size > SIZE_MAX - align) return NULL;
    size_t rounded = (size + align - 1) / align * align;
    if (rounded > arena->cap_bytes - arena->used_bytes) return NULL;

    struct abi_arena_block *b = arena->blocks;
    if (b == NULL || b->size - b->used < rounded) {
        /* A new block: large enough for this request, 64 KiB otherwise, but no more than the cap
         * so that a small arena does not malloc far more than it may hand out. */
        size_t block = ARENA_BLOCK_BYTES < arena->cap_bytes ? ARENA_BLOCK_BYTES : arena->cap_bytes;
        if (block < rounded) block = rounded;
        b = malloc(sizeof *b + block);
        if (b == NULL) return NULL;
        b->next = arena->blocks;
        b->size = block;
        b->used = 0;
        arena->blocks = b;
    }
    void *p = (uint8_t *)b->data + b->used;
    b->used += rounded;
    arena->used_bytes += rounded;
    assert(b->used <= b->size);
    memset(p, 0, size);
    return p;
}

void abi_arena_free(struct abi_arena *arena)
{
    assert(arena != NULL);
    struct abi_arena_block *b = arena->blocks;
    while (b != NULL) {
        struct abi_arena_block *next = b->next;
        free(b);
        b = next;
    }
    arena->blocks = NULL;
    arena->used_bytes = 0;
}

/* ---- Small helpers ---- */

static size_t pad32(size_t n) { return (n + WORD - 1) / WORD * WORD; }

/* The i-th part of a tuple or array type. */
static const struct abi_type *part(const struct abi_type *t, size_t i)
{
    assert(t->kind == ABI_KIND_TUPLE || t->kind == ABI_KIND_ARRAY || t->kind == ABI_KIND_FIXED_ARRAY);
    if (t->kind == ABI_KIND_TUPLE) {
        assert(i < t->count);
        return t->components[i];
    }
    return t->element;
}

/* Bytes of the head of a sequence of count parts of t (a tuple's own count for tuples). */
static size_t sequence_head_bytes(const struct abi_type *t, size_t count)
{
    if (t->kind != ABI_KIND_TUPLE) {
        assert(count <= SIZE_MAX / t->element->head_bytes);
        return count * t->element->head_bytes;
    }
    assert(count == t->count);
    size_t sum = 0;
    for (size_t i = 0; i < t->count; i++) sum += t->components[i]->head_bytes;
    return sum;
}

static void store_u64_word(uint8_t out[WORD], uint64_t v)
{
    memset(out, 0, WORD);
    for (int i = 0; i < 8; i++) out[WORD - 1 - (size_t)i] = (uint8_t)(v >> (8 * i));
}

static bool is_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++) acc |= p[i];
    return acc == 0;
}

/* Name of an elementary type for messages ("uint16", "bytes4"); a generic word otherwise. */
static void elementary_name(const struct abi_type *t, char *out, size_t cap)
{
    switch (t->kind) {
    case ABI_KIND_UINT: snprintf(out, cap, "uint%u", t->bits); break;
    case ABI_KIND_INT: snprintf(out, cap, "int%u", t->bits); break;
    case ABI_KIND_ADDRESS: snprintf(out, cap, "address"); break;
    case ABI_KIND_BOOL: snprintf(out, cap, "bool"); break;
    case ABI_KIND_FIXED_BYTES: snprintf(out, cap, "bytes%u", t->bits); break;
    case ABI_KIND_BYTES: snprintf(out, cap, "bytes"); break;
    case ABI_KIND_STRING: snprintf(out, cap, "string"); break;
    case ABI_KIND_ARRAY: snprintf(out, cap, "array"); break;
    case ABI_KIND_FIXED_ARRAY: snprintf(out, cap, "fixed array"); break;
    case ABI_KIND_TUPLE: snprintf(out, cap, "tuple"); break;
    case ABI_KIND_HASH: snprintf(out, cap, "hash"); break;
    default: snprintf(out, cap, "?"); break;
    }
}

/* Name of a value's kind for messages ("uint", "string"). */
static const char *kind_name(enum abi_kind kind)
{
    switch (kind) {
    case ABI_KIND_UINT: return "uint";
    case ABI_KIND_INT: return "int";
    case ABI_KIND_ADDRESS: return "address";
    case ABI_KIND_BOOL: return "bool";
    case ABI_KIND_FIXED_BYTES: return "bytesM";
    case ABI_KIND_BYTES: return "bytes";
    case ABI_KIND_STRING: return "string";
    case ABI_KIND_ARRAY: return "array";
    case ABI_KIND_FIXED_ARRAY: return "fixed array";
    case ABI_KIND_TUPLE: return "tuple";
    case ABI_KIND_HASH: return "hash";
    default: return "invalid kind";
    }
}

/* ---- Type parser ---- */

struct parser {
    const char *text;
    size_t pos;
    struct abi_arena *arena;
    struct cohort_error *err;
    bool allow_indexed; /* event parameter lists */
};

static int parse_fail(struct parser *p, int code, const char *what)
{
    return cohort_error_set(p->err, code, DOMAIN, "type \"%.200s\": %s at position %zu", p->text, what, p->pos);
}

static void skip_spaces(struct parser *p)
{
    while (p->text[p->pos] == ' ') p->pos++;
}

static bool is_ident_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '$'; }
static bool is_ident_char(char c) { return is_ident_start(c) || (c >= '0' && c <= '9'); }

/* Reads an identifier at p->pos; returns its length (0 if none). */
static size_t read_ident(struct parser *p)
{
    size_t start = p->pos;
    if (!is_ident_start(p->text[p->pos])) return 0;
    while (is_ident_char(p->text[p->pos])) p->pos++;
    return p->pos - start;
}

/*
 * Reads a decimal number without leading zeros at p->pos, at most max. Returns the number
 * of digits read (0 when there are none) or -1 with err filled.
 */
static int read_number(struct parser *p, unsigned long max, unsigned long *out)
{
    size_t start = p->pos;
    unsigned long v = 0;
    while (p->text[p->pos] >= '0' && p->text[p->pos] <= '9') {
        if (p->pos - start >= 9) return parse_fail(p, ABI_E_TYPE, "number too long"), -1;
        v = v * 10 + (unsigned long)(p->text[p->pos] - '0');
        p->pos++;
    }
    size_t n = p->pos - start;
    if (n > 1 && p->text[start] == '0') return parse_fail(p, ABI_E_TYPE, "leading zero"), -1;
    if (n > 0 && v > max) return parse_fail(p, ABI_E_TYPE, "number too large"), -1;
    *out = v;
    return (int)n;
}

static struct abi_type *new_type(struct parser *p, enum abi_kind kind)
{
    struct abi_type *t = abi_arena_alloc(p->arena, sizeof *t);
    if (t == NULL) {
        parse_fail(p, ABI_E_NOMEM, "arena full");
        return NULL;
    }
    t->kind = kind;
    t->head_bytes = WORD;
    t->depth = 1;
    return t;
}

static int parse_elementary(struct parser *p, const struct abi_type **out)
{
    size_t start = p->pos;
    while ((p->text[p->pos] >= 'a' && p->text[p->pos] <= 'z')) p->pos++;
    size_t n = p->pos - start;
    const char *w = p->text + start;
    unsigned long m = 0;
    int digits;
    struct abi_type *t;

    if ((n == 4 && memcmp(w, "uint", 4) == 0) || (n == 3 && memcmp(w, "int", 3) == 0)) {
        if ((digits = read_number(p, 256, &m)) < 0) return p->err->code;
        if (digits == 0) m = 256;
        if (m == 0 || m % 8 != 0) return parse_fail(p, ABI_E_TYPE, "integer size must be 8..256 in steps of 8");
        if ((t = new_type(p, n == 4 ? ABI_KIND_UINT : ABI_KIND_INT)) == NULL) return ABI_E_NOMEM;
        t->bits = (unsigned)m;
    } else if (n == 5 && memcmp(w, "bytes", 5) == 0) {
        if ((digits = read_number(p, 32, &m)) < 0) return p->err->code;
        if (digits > 0 && m == 0) return parse_fail(p, ABI_E_TYPE, "bytes0 does not exist");
        if ((t = new_type(p, digits == 0 ? ABI_KIND_BYTES : ABI_KIND_FIXED_BYTES)) == NULL) return ABI_E_NOMEM;
        t->bits = (unsigned)m;
        t->dynamic = digits == 0;
    } else if (n == 7 && memcmp(w, "address", 7) == 0) {
        if ((t = new_type(p, ABI_KIND_ADDRESS)) == NULL) return ABI_E_NOMEM;
    } else if (n == 4 && memcmp(w, "bool", 4) == 0) {
        if ((t = new_type(p, ABI_KIND_BOOL)) == NULL) return ABI_E_NOMEM;
    } else if (n == 6 && memcmp(w, "string", 6) == 0) {
        if ((t = new_type(p, ABI_KIND_STRING)) == NULL) return ABI_E_NOMEM;
        t->dynamic = true;
    } else {
        p->pos = start;
        return parse_fail(p, ABI_E_TYPE, "unknown type");
    }
    if (is_ident_char(p->text[p->pos])) return parse_fail(p, ABI_E_TYPE, "unexpected character after type");
    assert(t->head_bytes == WORD);
    *out = t;
    return 0;
}

static int parse_tuple(struct parser *p, unsigned depth, const struct abi_type **out);

/* A type with its array suffixes. depth counts enclosing tuples; it bounds the recursion. */
static int parse_type(struct parser *p, unsigned depth, const struct abi_type **out)
{
    assert(depth <= ABI_MAX_DEPTH + 1);
    const struct abi_type *base;
    int rc;
    skip_spaces(p);
    if (p->text[p->pos] == '(') {
        if (depth >= ABI_MAX_DEPTH) return parse_fail(p, ABI_E_TYPE, "nesting deeper than the cap");
        rc = parse_tuple(p, depth + 1, &base);
    } else {
        rc = parse_elementary(p, &base);
    }
    if (rc != 0) return rc;

    while (p->text[p->pos] == '[') {
        p->pos++;
        unsigned long k = 0;
        int digits = read_number(p, ABI_MAX_FIXED_ARRAY, &k);
        if (digits < 0) return p->err->code;
        if (digits > 0 && k == 0) return parse_fail(p, ABI_E_TYPE, "array of 0 elements");
        if (p->text[p->pos] != ']') return parse_fail(p, ABI_E_TYPE, "expected ]");
        p->pos++;
        struct abi_type *a = new_type(p, digits == 0 ? ABI_KIND_ARRAY : ABI_KIND_FIXED_ARRAY);
        if (a == NULL) return ABI_E_NOMEM;
        a->element = base;
        a->depth = base->depth + 1;
        if (a->depth > ABI_MAX_DEPTH) return parse_fail(p, ABI_E_TYPE, "nesting deeper than the cap");
        if (digits == 0) {
            a->dynamic = true;
        } else {
            a->count = k;
            a->dynamic = base->dynamic;
            if (!base->dynamic) {
                if (base->head_bytes > ABI_MAX_STATIC_BYTES / k)
                    return parse_fail(p, ABI_E_TYPE, "static array larger than the cap");
                a->head_bytes = base->head_bytes * k;
            }
        }
        base = a;
    }
    assert(base->depth <= ABI_MAX_DEPTH);
    *out = base;
    return 0;
}

/*
 * A parenthesised list of components, each `type [indexed] [name]`. depth is this tuple's
 * nesting (1 for a parameter list); the empty tuple is allowed only as a parameter list,
 * so that no type encodes to zero bytes (which would make T[] lengths free).
 */
static int parse_tuple(struct parser *p, unsigned depth, const struct abi_type **out)
{
    assert(p->text[p->pos] == '(');
    assert(depth >= 1 && depth <= ABI_MAX_DEPTH);
    p->pos++;
    size_t cap = 8, count = 0;
    const struct abi_type **comps = abi_arena_alloc(p->arena, cap * sizeof *comps);
    const char **names = abi_arena_alloc(p->arena, cap * sizeof *names);
    bool *indexed = abi_arena_alloc(p->arena, cap * sizeof *indexed);
    if (comps == NULL || names == NULL || indexed == NULL) return parse_fail(p, ABI_E_NOMEM, "arena full");

    skip_spaces(p);
    if (p->text[p->pos] == ')') {
        if (depth > 1) return parse_fail(p, ABI_E_TYPE, "empty tuple");
        p->pos++;
    } else {
        for (;;) {
            if (count == ABI_MAX_COMPONENTS) return parse_fail(p, ABI_E_TYPE, "more components than the cap");
            if (count == cap) {
                /* Grow by copying; the old arrays stay in the arena until it is freed. */
                size_t ncap = cap * 2;
                const struct abi_type **c2 = abi_arena_alloc(p->arena, ncap * sizeof *c2);
                const char **n2 = abi_arena_alloc(p->arena, ncap * sizeof *n2);
                bool *i2 = abi_arena_alloc(p->arena, ncap * sizeof *i2);
                if (c2 == NULL || n2 == NULL || i2 == NULL) return parse_fail(p, ABI_E_NOMEM, "arena full");
                memcpy(c2, comps, count * sizeof *c2);
                memcpy(n2, names, count * sizeof *n2);
                memcpy(i2, indexed, count * sizeof *i2);
                comps = c2, names = n2, indexed = i2, cap = ncap;
            }
            int rc = parse_type(p, depth, &comps[count]);
            if (rc != 0) return rc;
            names[count] = "";
            skip_spaces(p);
            size_t start = p->pos;
            size_t n = read_ident(p);
            if (n == 7 && memcmp(p->text + start, "indexed", 7) == 0) {
                if (!p->allow_indexed || depth != 1) {
                    p->pos = start;
                    return parse_fail(p, ABI_E_TYPE, "indexed outside an event's parameters");
                }
                indexed[count] = true;
                skip_spaces(p);
                start = p->pos;
                n = read_ident(p);
            }
            if (n > 0) {
                char *name = abi_arena_alloc(p->arena, n + 1);
                if (name == NULL) return parse_fail(p, ABI_E_NOMEM, "arena full");
                memcpy(name, p->text + start, n);
                names[count] = name;
            }
            count++;
            skip_spaces(p);
            if (p->text[p->pos] == ',') {
                p->pos++;
                continue;
            }
            if (p->text[p->pos] == ')') {
                p->pos++;
                break;
            }
            return parse_fail(p, ABI_E_TYPE, "expected , or )");
        }
    }

    struct abi_type *t = new_type(p, ABI_KIND_TUPLE);
    if (t == NULL) return ABI_E_NOMEM;
    t->count = count;
    t->components = comps;
    t->names = names;
    t->indexed = indexed;
    size_t head = 0;
    unsigned deepest = 0;
    for (size_t i = 0; i < count; i++) {
        t->dynamic |= comps[i]->dynamic;
        head += comps[i]->head_bytes;
        if (comps[i]->depth > deepest) deepest = comps[i]->depth;
    }
    t->depth = deepest + 1;
    if (t->depth > ABI_MAX_DEPTH) return parse_fail(p, ABI_E_TYPE, "nesting deeper than the cap");
    if (head > ABI_MAX_STATIC_BYTES) return parse_fail(p, ABI_E_TYPE, "tuple head larger than the cap");
    t->head_bytes = t->dynamic ? WORD : head;
    *out = t;
    return 0;
}

static int check_text(const char *text, struct cohort_error *err)
{
    size_t n = strnlen(text, ABI_MAX_TYPE_TEXT + 1);
    if (n > ABI_MAX_TYPE_TEXT)
        return cohort_error_set(err, ABI_E_TYPE, DOMAIN, "type text longer than %d characters", ABI_MAX_TYPE_TEXT);
    return 0;
}

int abi_type_parse(struct abi_arena *arena, const char *text, const struct abi_type **out, struct cohort_error *err)
{
    assert(arena != NULL && text != NULL);
    assert(out != NULL);
    if (check_text(text, err) != 0) return ABI_E_TYPE;
    struct parser p = {.text = text, .pos = 0, .arena = arena, .err = err, .allow_indexed = false};
    struct cohort_error local;
    if (p.err == NULL) p.err = &local; /* read_number reports its code through err */
    const struct abi_type *t;
    int rc = parse_type(&p, 0, &t);
    if (rc != 0) return rc;
    skip_spaces(&p);
    if (text[p.pos] != '\0') return parse_fail(&p, ABI_E_TYPE, "unexpected text after the type");
    *out = t;
    return 0;
}

/* ---- Canonical text ---- */

struct text_out {
    char *out;
    size_t cap;
    size_t len;
};

static void put(struct text_out *o, const char *s)
{
    size_t n = strlen(s);
    if (o->len < o->cap) {
        size_t room = o->cap - o->len;
        memcpy(o->out + o->len, s, n < room ? n : room);
    }
    o->len += n;
}

/* Recursion bounded by the type's depth (at most ABI_MAX_DEPTH, checked by the parser). */
static void put_type(struct text_out *o, const struct abi_type *t)
{
    assert(t != NULL);
    assert(t->depth <= ABI_MAX_DEPTH);
    char buf[32];
    switch (t->kind) {
    case ABI_KIND_ARRAY:
        put_type(o, t->element);
        put(o, "[]");
        break;
    case ABI_KIND_FIXED_ARRAY:
        put_type(o, t->element);
        snprintf(buf, sizeof buf, "[%zu]", t->count);
        put(o, buf);
        break;
    case ABI_KIND_TUPLE:
        put(o, "(");
        for (size_t i = 0; i < t->count; i++) {
            if (i > 0) put(o, ",");
            put_type(o, t->components[i]);
        }
        put(o, ")");
        break;
    default:
        elementary_name(t, buf, sizeof buf);
        put(o, buf);
        break;
    }
}

int abi_type_canonical(const struct abi_type *type, char *out, size_t out_cap, struct cohort_error *err)
{
    assert(type != NULL);
    assert(out != NULL || out_cap == 0);
    struct text_out o = {out, out_cap, 0};
    put_type(&o, type);
    if (o.len >= out_cap || o.len > INT32_MAX)
        return cohort_error_set(err, ABI_E_SPACE, DOMAIN, "canonical type needs %zu bytes, buffer has %zu",
                                o.len + 1, out_cap);
    out[o.len] = '\0';
    return (int)o.len;
}

/* ---- Values ---- */

struct abi_value abi_value_uint(u256 value) { return (struct abi_value){.kind = ABI_KIND_UINT, .as.word = value}; }

struct abi_value abi_value_uint64(uint64_t value) { return abi_value_uint(u256_from_u64(value)); }

struct abi_value abi_value_int(u256 twos_complement)
{
    return (struct abi_value){.kind = ABI_KIND_INT, .as.word = twos_complement};
}

struct abi_value abi_value_int64(int64_t value)
{
    u256 w = u256_from_u64((uint64_t)value);
    if (value < 0) w.w[1] = w.w[2] = w.w[3] = UINT64_MAX;
    return abi_value_int(w);
}

struct abi_value abi_value_address(const uint8_t address[20])
{
    assert(address != NULL);
    struct abi_value v = {.kind = ABI_KIND_ADDRESS};
    memcpy(v.as.address, address, 20);
    return v;
}

struct abi_value abi_value_bool(bool value) { return (struct abi_value){.kind = ABI_KIND_BOOL, .as.boolean = value}; }

struct abi_value abi_value_fixed_bytes(const uint8_t *data, size_t len)
{
    assert(len >= 1 && len <= 32);
    assert(data != NULL);
    struct abi_value v = {.kind = ABI_KIND_FIXED_BYTES};
    memcpy(v.as.fixed.data, data, len);
    v.as.fixed.len = len;
    return v;
}

struct abi_value abi_value_bytes(const uint8_t *data, size_t len)
{
    assert(data != NULL || len == 0);
    return (struct abi_value){.kind = ABI_KIND_BYTES, .as.bytes = {data, len}};
}

struct abi_value abi_value_string(const char *text)
{
    assert(text != NULL);
    return abi_value_string_n(text, strlen(text));
}

struct abi_value abi_value_string_n(const char *text, size_t len)
{
    assert(text != NULL || len == 0);
    return (struct abi_value){.kind = ABI_KIND_STRING, .as.bytes = {(const uint8_t *)text, len}};
}

struct abi_value abi_value_array(const struct abi_value *items, size_t count)
{
    assert(items != NULL || count == 0);
    return (struct abi_value){.kind = ABI_KIND_ARRAY, .as.list = {items, count}};
}

struct abi_value abi_value_tuple(const struct abi_value *items, size_t count)
{
    assert(items != NULL || count == 0);
    return (struct abi_value){.kind = ABI_KIND_TUPLE, .as.list = {items, count}};
}

struct abi_value abi_value_hash(const uint8_t hash[32])
{
    assert(hash != NULL);
    struct abi_value v = {.kind = ABI_KIND_HASH};
    memcpy(v.as.fixed.data, hash, 32);
    v.as.fixed.len = 32;
    return v;
}

/*
 * Whether an indexed event parameter of type t is logged as a hash: bytes, string, arrays
 * and tuples are, even static ones (Solidity hashes every array and struct); the other
 * types fit one word and are logged as that word.
 */
static bool logged_as_hash(const struct abi_type *t)
{
    return t->kind == ABI_KIND_BYTES || t->kind == ABI_KIND_STRING || t->kind == ABI_KIND_ARRAY ||
           t->kind == ABI_KIND_FIXED_ARRAY || t->kind == ABI_KIND_TUPLE;
}

static bool is_array_kind(enum abi_kind k) { return k == ABI_KIND_ARRAY || k == ABI_KIND_FIXED_ARRAY; }

/* Whether a value of kind k may stand for type t (arrays of either kind for either array type). */
static bool kind_fits(const struct abi_type *t, enum abi_kind k)
{
    if (is_array_kind(t->kind)) return is_array_kind(k);
    return t->kind == k;
}

/* Recursion bounded by the type's depth. */
bool abi_value_equal(const struct abi_type *type, const struct abi_value *a, const struct abi_value *b)
{
    assert(type != NULL);
    assert(a != NULL && b != NULL);
    if (a->kind == ABI_KIND_HASH || b->kind == ABI_KIND_HASH)
        return a->kind == b->kind && memcmp(a->as.fixed.data, b->as.fixed.data, 32) == 0;
    if (!kind_fits(type, a->kind) || !kind_fits(type, b->kind)) return false;
    switch (type->kind) {
    case ABI_KIND_UINT:
    case ABI_KIND_INT: return u256_eq(a->as.word, b->as.word);
    case ABI_KIND_BOOL: return a->as.boolean == b->as.boolean;
    case ABI_KIND_ADDRESS: return memcmp(a->as.address, b->as.address, 20) == 0;
    case ABI_KIND_FIXED_BYTES:
        return a->as.fixed.len == b->as.fixed.len && memcmp(a->as.fixed.data, b->as.fixed.data, 32) == 0;
    case ABI_KIND_BYTES:
    case ABI_KIND_STRING:
        return a->as.bytes.len == b->as.bytes.len &&
               (a->as.bytes.len == 0 || memcmp(a->as.bytes.data, b->as.bytes.data, a->as.bytes.len) == 0);
    case ABI_KIND_ARRAY:
    case ABI_KIND_FIXED_ARRAY:
    case ABI_KIND_TUPLE:
        if (a->as.list.count != b->as.list.count) return false;
        for (size_t i = 0; i < a->as.list.count; i++) {
            if (type->kind == ABI_KIND_TUPLE && i >= type->count) return false;
            if (!abi_value_equal(part(type, i), &a->as.list.items[i], &b->as.list.items[i])) return false;
        }
        return true;
    default: return false;
    }
}

/* ---- Parameter paths for error messages ---- */

enum frame_kind { FRAME_ARG, FRAME_INDEX, FRAME_FIELD };

struct frame {
    enum frame_kind kind;
    size_t index;
    const char *name; /* FRAME_FIELD: "" when the field has no name */
};

/* What the encoder and decoder share: the path to the part being worked on, for errors. */
struct walk {
    struct frame frames[ABI_MAX_DEPTH + 2];
    size_t depth;
    const size_t *arg_numbers; /* when set, FRAME_ARG index i is printed as arg_numbers[i] */
    struct cohort_error *err;
};

static void push(struct walk *w, const struct abi_type *parent, size_t index)
{
    assert(w->depth < sizeof w->frames / sizeof w->frames[0]);
    struct frame *f = &w->frames[w->depth++];
    f->index = index;
    f->name = "";
    if (w->depth == 1) {
        f->kind = FRAME_ARG;
        if (w->arg_numbers != NULL) f->index = w->arg_numbers[index];
    } else if (parent->kind == ABI_KIND_TUPLE) {
        f->kind = FRAME_FIELD;
        f->name = parent->names[index];
    } else {
        f->kind = FRAME_INDEX;
    }
}

static void pop(struct walk *w)
{
    assert(w->depth > 0);
    w->depth--;
}

static void format_path(const struct walk *w, char *out, size_t cap)
{
    struct text_out o = {out, cap - 1, 0};
    char buf[48];
    for (size_t i = 0; i < w->depth; i++) {
        const struct frame *f = &w->frames[i];
        switch (f->kind) {
        case FRAME_ARG: snprintf(buf, sizeof buf, "arg %zu", f->index); break;
        case FRAME_INDEX: snprintf(buf, sizeof buf, "[%zu]", f->index); break;
        case FRAME_FIELD:
            if (f->name[0] != '\0') snprintf(buf, sizeof buf, ".%.40s", f->name);
            else snprintf(buf, sizeof buf, ".%zu", f->index);
            break;
        }
        if (i == 1 && w->frames[0].kind == FRAME_ARG) put(&o, " ");
        put(&o, buf);
    }
    out[o.len < cap - 1 ? o.len : cap - 1] = '\0';
}

static int fail(struct walk *w, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(struct walk *w, int code, const char *fmt, ...)
{
    assert(code < 0);
    char detail[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    if (w->depth == 0) return cohort_error_set(w->err, code, DOMAIN, "%s", detail);
    char path[200];
    format_path(w, path, sizeof path);
    return cohort_error_set(w->err, code, DOMAIN, "%s: %s", path, detail);
}

/* ---- Encoder ---- */

/*
 * Checks value against type and sets *size to the bytes it takes in place: head_bytes for
 * a static type, the whole tail for a dynamic one. Recursion bounded by the type's depth.
 */
static int encoded_size(struct walk *w, const struct abi_type *t, const struct abi_value *v, size_t *size)
{
    assert(t != NULL && v != NULL);
    assert(t->depth <= ABI_MAX_DEPTH);
    char name[32];
    if (!kind_fits(t, v->kind)) {
        elementary_name(t, name, sizeof name);
        return fail(w, ABI_E_MISMATCH, "expected a %s value, got a %s", name, kind_name(v->kind));
    }
    switch (t->kind) {
    case ABI_KIND_UINT:
        if (t->bits < 256 && !u256_is_zero(u256_shr(u256_from_u64(t->bits), v->as.word)))
            return fail(w, ABI_E_RANGE, "value out of range for uint%u", t->bits);
        *size = WORD;
        return 0;
    case ABI_KIND_INT:
        if (!u256_eq(u256_signextend(u256_from_u64(t->bits / 8 - 1), v->as.word), v->as.word))
            return fail(w, ABI_E_RANGE, "value out of range for int%u", t->bits);
        *size = WORD;
        return 0;
    case ABI_KIND_ADDRESS:
    case ABI_KIND_BOOL: *size = WORD; return 0;
    case ABI_KIND_FIXED_BYTES:
        if (v->as.fixed.len != t->bits)
            return fail(w, ABI_E_MISMATCH, "%zu bytes given for bytes%u", v->as.fixed.len, t->bits);
        if (!is_zero(v->as.fixed.data + t->bits, WORD - t->bits))
            return fail(w, ABI_E_RANGE, "bytes%u value with bytes set past its length", t->bits);
        *size = WORD;
        return 0;
    case ABI_KIND_BYTES:
    case ABI_KIND_STRING:
        if (v->as.bytes.len > ABI_MAX_ENCODED_BYTES)
            return fail(w, ABI_E_LIMIT, "%zu bytes, more than the cap of %u", v->as.bytes.len, ABI_MAX_ENCODED_BYTES);
        *size = WORD + pad32(v->as.bytes.len);
        return 0;
    default: break;
    }

    /* Arrays and tuples: a sequence of parts, with a length word first for T[]. */
    size_t count = v->as.list.count;
    if (t->kind == ABI_KIND_FIXED_ARRAY && count != t->count)
        return fail(w, ABI_E_MISMATCH, "%zu elements given for an array of %zu", count, t->count);
    if (t->kind == ABI_KIND_TUPLE && count != t->count)
        return fail(w, ABI_E_MISMATCH, "%zu values given for a tuple of %zu", count, t->count);
    if (t->kind == ABI_KIND_ARRAY && count > ABI_MAX_ENCODED_BYTES / t->element->head_bytes)
        return fail(w, ABI_E_LIMIT, "array of %zu elements past the encoded size cap", count);
    size_t total = (t->kind == ABI_KIND_ARRAY ? WORD : 0) + sequence_head_bytes(t, count);
    for (size_t i = 0; i < count; i++) {
        const struct abi_type *pt = part(t, i);
        size_t s;
        push(w, t, i);
        int rc = encoded_size(w, pt, &v->as.list.items[i], &s);
        if (rc != 0) return rc;
        pop(w);
        if (pt->dynamic) total += s;
        assert(pt->dynamic || s == pt->head_bytes);
        if (total > ABI_MAX_ENCODED_BYTES)
            return fail(w, ABI_E_LIMIT, "encoding larger than the cap of %u bytes", ABI_MAX_ENCODED_BYTES);
    }
    assert(t->dynamic || total == t->head_bytes);
    *size = total;
    return 0;
}

static size_t write_value(const struct abi_type *t, const struct abi_value *v, uint8_t *out);

/* Writes count parts of t as a sequence (heads, then tails) at out; returns its size. */
static size_t write_sequence(const struct abi_type *t, const struct abi_value *items, size_t count, uint8_t *out)
{
    size_t head_pos = 0;
    size_t tail = sequence_head_bytes(t, count);
    for (size_t i = 0; i < count; i++) {
        const struct abi_type *pt = part(t, i);
        if (pt->dynamic) {
            store_u64_word(out + head_pos, tail);
            tail += write_value(pt, &items[i], out + tail);
        } else {
            size_t n = write_value(pt, &items[i], out + head_pos);
            assert(n == pt->head_bytes);
        }
        head_pos += pt->head_bytes;
    }
    assert(head_pos == sequence_head_bytes(t, count));
    return tail;
}

/* Writes a value already checked by encoded_size; returns the bytes written in place. */
static size_t write_value(const struct abi_type *t, const struct abi_value *v, uint8_t *out)
{
    assert(kind_fits(t, v->kind));
    assert(t->depth <= ABI_MAX_DEPTH);
    switch (t->kind) {
    case ABI_KIND_UINT:
    case ABI_KIND_INT: u256_store_be(out, v->as.word); return WORD;
    case ABI_KIND_ADDRESS:
        memset(out, 0, 12);
        memcpy(out + 12, v->as.address, 20);
        return WORD;
    case ABI_KIND_BOOL: store_u64_word(out, v->as.boolean ? 1 : 0); return WORD;
    case ABI_KIND_FIXED_BYTES: memcpy(out, v->as.fixed.data, WORD); return WORD;
    case ABI_KIND_BYTES:
    case ABI_KIND_STRING: {
        size_t n = v->as.bytes.len, padded = pad32(n);
        store_u64_word(out, n);
        if (n > 0) memcpy(out + WORD, v->as.bytes.data, n);
        memset(out + WORD + n, 0, padded - n);
        return WORD + padded;
    }
    case ABI_KIND_ARRAY:
        store_u64_word(out, v->as.list.count);
        return WORD + write_sequence(t, v->as.list.items, v->as.list.count, out + WORD);
    default: return write_sequence(t, v->as.list.items, v->as.list.count, out);
    }
}

int abi_encoded_size(const struct abi_type *type, const struct abi_value *value, size_t *out_size,
                     struct cohort_error *err)
{
    assert(type != NULL && value != NULL);
    assert(out_size != NULL);
    struct walk w = {.depth = 0, .err = err};
    return encoded_size(&w, type, value, out_size);
}

/* Encodes with walk w (which may carry argument numbers), the body of abi_encode. */
static int encode_walk(struct walk *w, const struct abi_type *type, const struct abi_value *value, uint8_t *out,
                       size_t out_cap, size_t *out_len)
{
    size_t size;
    int rc = encoded_size(w, type, value, &size);
    if (rc != 0) return rc;
    if (size > out_cap)
        return cohort_error_set(w->err, ABI_E_SPACE, DOMAIN, "encoding needs %zu bytes, buffer has %zu", size,
                                out_cap);
    size_t n = write_value(type, value, out);
    assert(n == size);
    *out_len = n;
    return 0;
}

int abi_encode(const struct abi_type *type, const struct abi_value *value, uint8_t *out, size_t out_cap,
               size_t *out_len, struct cohort_error *err)
{
    assert(type != NULL && value != NULL);
    assert(out != NULL || out_cap == 0);
    assert(out_len != NULL);
    struct walk w = {.depth = 0, .err = err};
    return encode_walk(&w, type, value, out, out_cap, out_len);
}

/* ---- Decoder ---- */

struct decoder {
    struct walk walk;
    const uint8_t *data;
    size_t len;
    struct abi_arena *arena;
    size_t values_left;
    /* Bytes that string and bytes contents may still copy. It starts at the data length:
     * contents that do not overlap cannot copy more, so running out means offsets alias one
     * content many times over, which would let a small input fill the arena. */
    size_t copy_left;
};

/* Text of a 32-byte word as a hex number, for messages. */
static void word_text(const uint8_t w[WORD], char out[67]) { u256_to_hex(u256_load_be(w), out, 67); }

/* Reads a word that must be a small number (an offset, a length, a count) into *out. */
static bool small_word(const uint8_t w[WORD], size_t limit, size_t *out)
{
    if (!is_zero(w, WORD - 8)) return false;
    uint64_t v = 0;
    for (size_t i = WORD - 8; i < WORD; i++) v = v << 8 | w[i];
    if (v > limit) return false;
    *out = (size_t)v;
    return true;
}

/* Decodes one word of an elementary static type; shared by data heads and event topics. */
static int decode_word(struct walk *w, const struct abi_type *t, const uint8_t word[WORD], struct abi_value *out)
{
    assert(!t->dynamic);
    assert(t->head_bytes == WORD);
    char text[67];
    out->kind = t->kind;
    switch (t->kind) {
    case ABI_KIND_UINT:
        out->as.word = u256_load_be(word);
        if (t->bits < 256 && !u256_is_zero(u256_shr(u256_from_u64(t->bits), out->as.word))) {
            word_text(word, text);
            return fail(w, ABI_E_RANGE, "value %s out of range for uint%u", text, t->bits);
        }
        return 0;
    case ABI_KIND_INT:
        out->as.word = u256_load_be(word);
        if (!u256_eq(u256_signextend(u256_from_u64(t->bits / 8 - 1), out->as.word), out->as.word)) {
            word_text(word, text);
            return fail(w, ABI_E_RANGE, "value %s out of range for int%u (not sign-extended)", text, t->bits);
        }
        return 0;
    case ABI_KIND_ADDRESS:
        if (!is_zero(word, 12)) {
            word_text(word, text);
            return fail(w, ABI_E_RANGE, "address %s has non-zero high bytes", text);
        }
        memcpy(out->as.address, word + 12, 20);
        return 0;
    case ABI_KIND_BOOL:
        if (!is_zero(word, WORD - 1) || word[WORD - 1] > 1) {
            word_text(word, text);
            return fail(w, ABI_E_RANGE, "bool %s is neither 0 nor 1", text);
        }
        out->as.boolean = word[WORD - 1] == 1;
        return 0;
    case ABI_KIND_FIXED_BYTES:
        if (!is_zero(word + t->bits, WORD - t->bits))
            return fail(w, ABI_E_RANGE, "bytes%u with non-zero padding", t->bits);
        memcpy(out->as.fixed.data, word, WORD);
        out->as.fixed.len = t->bits;
        return 0;
    default: assert(!"not an elementary static type"); return ABI_E_TYPE;
    }
}

static int take_values(struct decoder *d, size_t n)
{
    if (n > d->values_left) return fail(&d->walk, ABI_E_LIMIT, "more values than the cap");
    d->values_left -= n;
    return 0;
}

static int decode_at(struct decoder *d, const struct abi_type *t, size_t at, struct abi_value *out);

/*
 * Decodes count parts of t laid out as a sequence at base: first the head (count heads,
 * all inside the data), then for each dynamic part its offset (relative to base, past the
 * head, inside the data) and its content.
 */
static int decode_sequence(struct decoder *d, const struct abi_type *t, size_t base, size_t count,
                           struct abi_value *out)
{
    assert(base <= d->len);
    assert(out->kind == t->kind);
    size_t head = sequence_head_bytes(t, count);
    if (head > d->len - base)
        return fail(&d->walk, ABI_E_TRUNCATED, "head of %zu bytes at 0x%zx past end of data (%zu bytes)", head, base,
                    d->len);
    int rc = take_values(d, count);
    if (rc != 0) return rc;
    struct abi_value *items = NULL;
    if (count > 0) {
        items = abi_arena_alloc(d->arena, count * sizeof *items);
        if (items == NULL) return fail(&d->walk, ABI_E_NOMEM, "arena full (%zu values)", count);
    }
    out->as.list.items = items;
    out->as.list.count = count;

    size_t head_pos = base;
    for (size_t i = 0; i < count; i++) {
        const struct abi_type *pt = part(t, i);
        push(&d->walk, t, i);
        if (pt->dynamic) {
            const uint8_t *word = d->data + head_pos;
            size_t offset;
            char text[67];
            if (!small_word(word, d->len - base, &offset)) {
                word_text(word, text);
                return fail(&d->walk, ABI_E_TRUNCATED, "offset %s past end of data (%zu bytes)", text, d->len);
            }
            if (offset < head) {
                word_text(word, text);
                return fail(&d->walk, ABI_E_OFFSET, "offset %s points into its head (%zu bytes)", text, head);
            }
            /* The content must at least hold its length word or its own head. */
            size_t need = pt->kind == ABI_KIND_TUPLE || pt->kind == ABI_KIND_FIXED_ARRAY
                              ? sequence_head_bytes(pt, pt->count)
                              : WORD;
            if (need > d->len - base - offset) {
                word_text(word, text);
                return fail(&d->walk, ABI_E_TRUNCATED, "offset %s past end of data (%zu bytes)", text, d->len);
            }
            rc = decode_at(d, pt, base + offset, &items[i]);
        } else {
            rc = decode_at(d, pt, head_pos, &items[i]);
        }
        if (rc != 0) return rc;
        pop(&d->walk);
        head_pos += pt->head_bytes;
    }
    assert(head_pos == base + head);
    return 0;
}

/* Decodes a value of type t whose encoding starts at data[at]. Recursion bounded by t's depth. */
static int decode_at(struct decoder *d, const struct abi_type *t, size_t at, struct abi_value *out)
{
    assert(at <= d->len);
    assert(t->depth <= ABI_MAX_DEPTH);
    out->kind = t->kind;
    size_t room = d->len - at;
    char text[67];
    switch (t->kind) {
    case ABI_KIND_BYTES:
    case ABI_KIND_STRING: {
        if (room < WORD)
            return fail(&d->walk, ABI_E_TRUNCATED, "length at 0x%zx past end of data (%zu bytes)", at, d->len);
        size_t n;
        if (!small_word(d->data + at, room - WORD, &n)) {
            word_text(d->data + at, text);
            return fail(&d->walk, ABI_E_TRUNCATED, "length %s at 0x%zx past end of data (%zu bytes)", text, at,
                        d->len);
        }
        size_t padded = pad32(n);
        if (padded > room - WORD)
            return fail(&d->walk, ABI_E_TRUNCATED, "padding of %zu bytes at 0x%zx past end of data (%zu bytes)", n,
                        at, d->len);
        const uint8_t *src = d->data + at + WORD;
        if (!is_zero(src + n, padded - n))
            return fail(&d->walk, ABI_E_RANGE, "%s of %zu bytes with non-zero padding",
                        t->kind == ABI_KIND_STRING ? "string" : "bytes", n);
        if (n > d->copy_left)
            return fail(&d->walk, ABI_E_LIMIT, "%s contents overlap: more bytes than the data holds",
                        t->kind == ABI_KIND_STRING ? "string" : "bytes");
        d->copy_left -= n;
        uint8_t *copy = abi_arena_alloc(d->arena, n + 1);
        if (copy == NULL) return fail(&d->walk, ABI_E_NOMEM, "arena full (%zu bytes)", n);
        memcpy(copy, src, n);
        copy[n] = '\0';
        out->as.bytes.data = copy;
        out->as.bytes.len = n;
        return 0;
    }
    case ABI_KIND_ARRAY: {
        if (room < WORD)
            return fail(&d->walk, ABI_E_TRUNCATED, "length at 0x%zx past end of data (%zu bytes)", at, d->len);
        size_t n;
        size_t fit = (room - WORD) / t->element->head_bytes; /* elements whose heads fit the data */
        if (!small_word(d->data + at, fit, &n)) {
            word_text(d->data + at, text);
            return fail(&d->walk, ABI_E_TRUNCATED, "array length %s at 0x%zx past end of data (%zu bytes)", text, at,
                        d->len);
        }
        return decode_sequence(d, t, at + WORD, n, out);
    }
    case ABI_KIND_FIXED_ARRAY:
    case ABI_KIND_TUPLE: return decode_sequence(d, t, at, t->count, out);
    default:
        if (room < WORD)
            return fail(&d->walk, ABI_E_TRUNCATED, "word at 0x%zx past end of data (%zu bytes)", at, d->len);
        return decode_word(&d->walk, t, d->data + at, out);
    }
}

/* The body of abi_decode, with a walk that may carry argument numbers. */
static int decode_walk(struct decoder *d, const struct abi_type *type, const struct abi_limits *limits,
                       struct abi_value *out)
{
    size_t max_data = limits != NULL ? limits->max_data_bytes : ABI_DEFAULT_MAX_DATA_BYTES;
    size_t max_values = limits != NULL ? limits->max_values : ABI_DEFAULT_MAX_VALUES;
    if (d->len > max_data)
        return fail(&d->walk, ABI_E_LIMIT, "data of %zu bytes, more than the cap of %zu", d->len, max_data);
    d->values_left = max_values;
    d->copy_left = d->len;
    int rc = take_values(d, 1);
    if (rc != 0) return rc;
    return decode_at(d, type, 0, out);
}

int abi_decode(struct abi_arena *arena, const struct abi_type *type, const uint8_t *data, size_t len,
               const struct abi_limits *limits, struct abi_value *out, struct cohort_error *err)
{
    assert(arena != NULL && type != NULL && out != NULL);
    assert(type->kind == ABI_KIND_TUPLE);
    assert(data != NULL || len == 0);
    static const uint8_t empty[1];
    struct decoder d = {.walk = {.depth = 0, .err = err}, .data = data != NULL ? data : empty, .len = len,
                        .arena = arena};
    return decode_walk(&d, type, limits, out);
}

/* ---- Functions ---- */

void abi_selector(const char *signature, size_t len, uint8_t out[4])
{
    assert(signature != NULL);
    assert(out != NULL);
    uint8_t hash[32];
    keccak256(signature, len, hash);
    memcpy(out, hash, 4);
}

/*
 * Parses "[keyword ]name(params)": the name and the parameter tuple, then the canonical
 * signature "name(types)" in the arena.
 */
static int parse_signature(struct abi_arena *arena, const char *text, const char *keyword, bool allow_indexed,
                           const char **name_out, const struct abi_type **params_out, const char **signature_out,
                           struct cohort_error *err)
{
    assert(arena != NULL && text != NULL);
    if (check_text(text, err) != 0) return ABI_E_TYPE;
    struct cohort_error local;
    struct parser p = {.text = text, .pos = 0, .arena = arena, .err = err != NULL ? err : &local,
                       .allow_indexed = allow_indexed};
    skip_spaces(&p);
    size_t kw = strlen(keyword);
    if (strncmp(text + p.pos, keyword, kw) == 0 && text[p.pos + kw] == ' ') p.pos += kw;
    skip_spaces(&p);
    size_t start = p.pos;
    size_t n = read_ident(&p);
    if (n == 0) return parse_fail(&p, ABI_E_TYPE, "expected a name");
    skip_spaces(&p);
    if (text[p.pos] != '(') return parse_fail(&p, ABI_E_TYPE, "expected (");
    const struct abi_type *params;
    int rc = parse_tuple(&p, 1, &params);
    if (rc != 0) return rc;
    skip_spaces(&p);
    if (text[p.pos] != '\0') return parse_fail(&p, ABI_E_TYPE, "unexpected text after the parameters");

    char *name = abi_arena_alloc(arena, n + 1);
    if (name == NULL) return parse_fail(&p, ABI_E_NOMEM, "arena full");
    memcpy(name, text + start, n);
    /* The canonical signature is never longer than the text minus what it drops, plus the
     * "256" that a bare uint or int gains: bounded by 4 times the text. */
    size_t cap = 4 * strlen(text) + 8;
    char *sig = abi_arena_alloc(arena, cap);
    if (sig == NULL) return parse_fail(&p, ABI_E_NOMEM, "arena full");
    memcpy(sig, name, n);
    rc = abi_type_canonical(params, sig + n, cap - n, err);
    if (rc < 0) return rc;
    *name_out = name;
    *params_out = params;
    *signature_out = sig;
    return 0;
}

int abi_function_parse(struct abi_arena *arena, const char *text, struct abi_function *out,
                       struct cohort_error *err)
{
    assert(arena != NULL && text != NULL);
    assert(out != NULL);
    int rc = parse_signature(arena, text, "function", false, &out->name, &out->params, &out->signature, err);
    if (rc != 0) return rc;
    abi_selector(out->signature, strlen(out->signature), out->selector);
    return 0;
}

int abi_encode_call(const struct abi_function *function, const struct abi_value *args, uint8_t *out,
                    size_t out_cap, size_t *out_len, struct cohort_error *err)
{
    assert(function != NULL && args != NULL);
    assert(out_len != NULL);
    if (out_cap < 4)
        return cohort_error_set(err, ABI_E_SPACE, DOMAIN, "call to %s: buffer of %zu bytes, no room for the selector",
                                function->name, out_cap);
    size_t n;
    int rc = abi_encode(function->params, args, out + 4, out_cap - 4, &n, err);
    if (rc != 0) return cohort_error_wrap(err, "call to %s", function->name), rc;
    memcpy(out, function->selector, 4);
    *out_len = n + 4;
    return 0;
}

int abi_decode_call(struct abi_arena *arena, const struct abi_function *function, const uint8_t *data,
                    size_t len, const struct abi_limits *limits, struct abi_value *out, struct cohort_error *err)
{
    assert(function != NULL && out != NULL);
    assert(data != NULL || len == 0);
    if (len < 4)
        return cohort_error_set(err, ABI_E_TRUNCATED, DOMAIN, "call to %s: %zu bytes, no room for a selector",
                                function->name, len);
    if (memcmp(data, function->selector, 4) != 0)
        return cohort_error_set(err, ABI_E_SELECTOR, DOMAIN,
                                "call to %s: selector %02x%02x%02x%02x, expected %02x%02x%02x%02x", function->name,
                                data[0], data[1], data[2], data[3], function->selector[0], function->selector[1],
                                function->selector[2], function->selector[3]);
    int rc = abi_decode(arena, function->params, data + 4, len - 4, limits, out, err);
    if (rc != 0) return cohort_error_wrap(err, "call to %s", function->name), rc;
    return 0;
}

/* ---- Events ---- */

int abi_event_parse(struct abi_arena *arena, const char *text, struct abi_event *out, struct cohort_error *err)
{
    assert(arena != NULL && text != NULL);
    assert(out != NULL);
    int rc = parse_signature(arena, text, "event", true, &out->name, &out->params, &out->signature, err);
    if (rc != 0) return rc;
    const struct abi_type *params = out->params;
    size_t indexed = 0;
    for (size_t i = 0; i < params->count; i++) indexed += params->indexed[i] ? 1 : 0;
    if (indexed > ABI_MAX_TOPICS - 1)
        return cohort_error_set(err, ABI_E_TYPE, DOMAIN, "event %s: %zu indexed parameters, at most 3", out->name,
                                indexed);
    out->indexed_count = indexed;

    /* The data tuple: the non-indexed parameters, sharing the component types. */
    size_t n = params->count - indexed;
    struct abi_type *data = abi_arena_alloc(arena, sizeof *data);
    const struct abi_type **comps = abi_arena_alloc(arena, (n + 1) * sizeof *comps);
    const char **names = abi_arena_alloc(arena, (n + 1) * sizeof *names);
    bool *flags = abi_arena_alloc(arena, (n + 1) * sizeof *flags);
    if (data == NULL || comps == NULL || names == NULL || flags == NULL)
        return cohort_error_set(err, ABI_E_NOMEM, DOMAIN, "event %s: arena full", out->name);
    size_t k = 0, head = 0;
    unsigned deepest = 0;
    data->kind = ABI_KIND_TUPLE;
    for (size_t i = 0; i < params->count; i++) {
        if (params->indexed[i]) continue;
        comps[k] = params->components[i];
        names[k] = params->names[i];
        data->dynamic |= comps[k]->dynamic;
        head += comps[k]->head_bytes;
        if (comps[k]->depth > deepest) deepest = comps[k]->depth;
        k++;
    }
    assert(k == n);
    data->count = n;
    data->components = comps;
    data->names = names;
    data->indexed = flags;
    data->depth = deepest + 1;
    data->head_bytes = data->dynamic ? WORD : head;
    assert(data->depth <= params->depth);
    out->data_params = data;
    keccak256(out->signature, strlen(out->signature), out->topic0);
    return 0;
}

int abi_event_decode(struct abi_arena *arena, const struct abi_event *event, const uint8_t (*topics)[32],
                     size_t topic_count, const uint8_t *data, size_t len, const struct abi_limits *limits,
                     struct abi_value *out, struct cohort_error *err)
{
    assert(arena != NULL && event != NULL && out != NULL);
    assert(topics != NULL || topic_count == 0);
    const struct abi_type *params = event->params;
    if (topic_count != 1 + event->indexed_count)
        return cohort_error_set(err, ABI_E_TOPICS, DOMAIN, "event %s: log has %zu topics, expected %zu", event->name,
                                topic_count, 1 + event->indexed_count);
    if (memcmp(topics[0], event->topic0, 32) != 0)
        return cohort_error_set(err, ABI_E_SELECTOR, DOMAIN, "event %s: topic 0 is not keccak256(\"%s\")",
                                event->name, event->signature);

    size_t arg_numbers[ABI_MAX_COMPONENTS];
    size_t k = 0;
    for (size_t i = 0; i < params->count; i++)
        if (!params->indexed[i]) arg_numbers[k++] = i;

    static const uint8_t empty[1];
    struct decoder d = {.walk = {.depth = 0, .arg_numbers = arg_numbers, .err = err},
                        .data = data != NULL ? data : empty, .len = len, .arena = arena};
    struct abi_value data_values;
    int rc = decode_walk(&d, event->data_params, limits, &data_values);
    if (rc != 0) return cohort_error_wrap(err, "event %s", event->name), rc;

    struct abi_value *items = NULL;
    if (params->count > 0) {
        items = abi_arena_alloc(arena, params->count * sizeof *items);
        if (items == NULL) return cohort_error_set(err, ABI_E_NOMEM, DOMAIN, "event %s: arena full", event->name);
    }
    struct walk w = {.depth = 0, .err = err};
    size_t topic = 1, from_data = 0;
    for (size_t i = 0; i < params->count; i++) {
        const struct abi_type *pt = params->components[i];
        if (!params->indexed[i]) {
            items[i] = data_values.as.list.items[from_data++];
            continue;
        }
        if (logged_as_hash(pt)) {
            items[i] = abi_value_hash(topics[topic++]);
            continue;
        }
        push(&w, params, i);
        rc = decode_word(&w, pt, topics[topic++], &items[i]);
        if (rc != 0) return cohort_error_wrap(err, "event %s: topic %zu", event->name, topic - 1), rc;
        pop(&w);
    }
    assert(topic == topic_count);
    assert(from_data == data_values.as.list.count);
    *out = abi_value_tuple(items, params->count);
    return 0;
}

int abi_event_encode(const struct abi_event *event, const struct abi_value *values,
                     uint8_t topics[ABI_MAX_TOPICS][32], size_t *topic_count, uint8_t *data, size_t data_cap,
                     size_t *data_len, struct cohort_error *err)
{
    assert(event != NULL && values != NULL);
    assert(topics != NULL && topic_count != NULL && data_len != NULL);
    const struct abi_type *params = event->params;
    if (values->kind != ABI_KIND_TUPLE || values->as.list.count != params->count)
        return cohort_error_set(err, ABI_E_MISMATCH, DOMAIN, "event %s: expected a tuple of %zu values",
                                event->name, params->count);

    struct abi_value data_items[ABI_MAX_COMPONENTS];
    size_t arg_numbers[ABI_MAX_COMPONENTS];
    size_t k = 0, topic = 1;
    memcpy(topics[0], event->topic0, 32);
    struct walk w = {.depth = 0, .err = err};
    for (size_t i = 0; i < params->count; i++) {
        const struct abi_type *pt = params->components[i];
        const struct abi_value *v = &values->as.list.items[i];
        if (!params->indexed[i]) {
            arg_numbers[k] = i;
            data_items[k++] = *v;
            continue;
        }
        assert(topic < ABI_MAX_TOPICS);
        push(&w, params, i);
        if (v->kind == ABI_KIND_HASH && logged_as_hash(pt)) {
            memcpy(topics[topic++], v->as.fixed.data, 32);
        } else if (pt->kind == ABI_KIND_BYTES || pt->kind == ABI_KIND_STRING) {
            if (!kind_fits(pt, v->kind))
                return fail(&w, ABI_E_MISMATCH, "expected a %s value, got a %s",
                            pt->kind == ABI_KIND_STRING ? "string" : "bytes", kind_name(v->kind));
            keccak256(v->as.bytes.data, v->as.bytes.len, topics[topic++]);
        } else if (logged_as_hash(pt)) {
            return fail(&w, ABI_E_UNSUPPORTED, "an indexed array or tuple must be given as its hash");
        } else {
            size_t size;
            int rc = encoded_size(&w, pt, v, &size);
            if (rc != 0) return rc;
            size_t n = write_value(pt, v, topics[topic++]);
            assert(n == WORD);
        }
        pop(&w);
    }
    *topic_count = topic;
    struct abi_value data_tuple = abi_value_tuple(data_items, k);
    struct walk dw = {.depth = 0, .arg_numbers = arg_numbers, .err = err};
    int rc = encode_walk(&dw, event->data_params, &data_tuple, data, data_cap, data_len);
    if (rc != 0) return cohort_error_wrap(err, "event %s", event->name), rc;
    return 0;
}
