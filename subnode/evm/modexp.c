/*
 * modexp.c - the MODEXP precompile at 0x05 (EIP-198) with EIP-2565's gas, on a small
 * bignum of our own: numbers are arrays of 64-bit limbs, least significant first;
 * multiplication is schoolbook and reduction is Knuth's algorithm D (TAOCP vol. 2,
 * 4.3.1), so every operand size works, odd modulus or even.
 *
 * Input:
 *
 *   offset          size      field
 *        0            32      base_length, big-endian (a 256-bit number)
 *       32            32      exponent_length
 *       64            32      modulus_length
 *       96   base_length      base
 *      ...  exponent_length   exponent
 *      ...  modulus_length    modulus
 *
 * The input is read as if followed by infinitely many zero bytes. The output is
 * modulus_length bytes: base^exponent mod modulus, big-endian, left-padded (0 when the
 * modulus is 0). The lengths are 256-bit numbers: the gas function saturates instead of
 * overflowing, and the operation runs only after that gas was charged, which bounds the
 * lengths it meets (a modulus of 2^16 bytes already costs over 10^8 gas per exponent bit).
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "subnode/evm/evm_internal.h"

typedef u256_u128 limb2; /* unsigned __int128, declared with __extension__ in u256.h */
/* Lengths past this cost more gas than anything can pay (see evm_modexp_gas). */
#define LENGTH_CAP ((uint64_t)1 << 32)

/* Byte i of the input, 0 past its end. */
static inline uint8_t input_byte(const uint8_t *input, size_t input_size, uint64_t i)
{
    return i < input_size ? input[i] : 0;
}

/* A 32-byte big-endian length field at offset, saturated to LENGTH_CAP. */
static uint64_t read_length(const uint8_t *input, size_t input_size, uint64_t offset)
{
    uint64_t value = 0;
    for (uint64_t i = 0; i < 32; i++) {
        uint8_t b = input_byte(input, input_size, offset + i);
        if (value > (LENGTH_CAP >> 8)) return LENGTH_CAP; /* would pass the cap after this byte */
        value = value << 8 | b;
    }
    return value > LENGTH_CAP ? LENGTH_CAP : value;
}

int64_t evm_modexp_gas(const uint8_t *input, size_t input_size)
{
    assert(input != NULL || input_size == 0);
    uint64_t base_length = read_length(input, input_size, 0);
    uint64_t exponent_length = read_length(input, input_size, 32);
    uint64_t modulus_length = read_length(input, input_size, 64);

    uint64_t max_length = base_length > modulus_length ? base_length : modulus_length;
    uint64_t words = (max_length + 7) / 8;
    limb2 complexity = (limb2)words * words;
    if (complexity == 0) return 200;

    /* The head of the exponent: its first min(exponent_length, 32) bytes, as a number. */
    unsigned head_bits = 0;
    uint64_t head_length = exponent_length < 32 ? exponent_length : 32;
    uint64_t exponent_offset = 96 + base_length; /* base_length <= 2^32: no overflow */
    for (uint64_t i = 0; i < head_length; i++) {
        uint8_t b = input_byte(input, input_size, exponent_offset + i);
        if (b != 0) {
            head_bits = (unsigned)((head_length - i - 1) * 8 + (unsigned)(32 - __builtin_clz((unsigned)b)));
            break;
        }
    }
    limb2 iterations;
    if (exponent_length <= 32)
        iterations = head_bits == 0 ? 0 : head_bits - 1;
    else
        iterations = (limb2)8 * (exponent_length - 32) + (head_bits == 0 ? 0 : head_bits - 1);
    if (iterations == 0) iterations = 1;
    if (base_length >= LENGTH_CAP || modulus_length >= LENGTH_CAP || exponent_length >= LENGTH_CAP) return INT64_MAX;
    limb2 gas = complexity * iterations / 3; /* complexity < 2^58, iterations < 2^36 */
    if (gas > INT64_MAX) return INT64_MAX;
    return gas < 200 ? 200 : (int64_t)gas;
}

/* Reads length big-endian bytes at offset of the input into limbs (count limbs, zero-filled). */
static void load_number(const uint8_t *input, size_t input_size, uint64_t offset, uint64_t length, uint64_t *limbs,
                        size_t count)
{
    memset(limbs, 0, count * sizeof *limbs);
    for (uint64_t i = 0; i < length; i++) {
        uint64_t position = length - 1 - i; /* byte position from the least significant end */
        uint8_t b = input_byte(input, input_size, offset + i);
        if (b != 0) limbs[position / 8] |= (uint64_t)b << (8 * (position % 8));
    }
}

/* The number of significant limbs (0 for zero). */
static size_t significant(const uint64_t *a, size_t n)
{
    while (n > 0 && a[n - 1] == 0) n--;
    return n;
}

/* out[0..na+nb) = a * b (schoolbook). out must not overlap a or b. */
static void multiply(const uint64_t *a, size_t na, const uint64_t *b, size_t nb, uint64_t *out)
{
    memset(out, 0, (na + nb) * sizeof *out);
    for (size_t i = 0; i < na; i++) {
        uint64_t carry = 0;
        for (size_t j = 0; j < nb; j++) {
            limb2 t = (limb2)a[i] * b[j] + out[i + j] + carry;
            out[i + j] = (uint64_t)t;
            carry = (uint64_t)(t >> 64);
        }
        out[i + nb] = carry;
    }
}

/*
 * r[0..n) = u[0..m) mod v[0..n), v[n-1] != 0. un needs m + 1 limbs and vn n limbs of
 * scratch. Knuth's algorithm D with base 2^64, after Hacker's Delight's divmnu.
 */
static void reduce(const uint64_t *u, size_t m, const uint64_t *v, size_t n, uint64_t *r, uint64_t *un,
                   uint64_t *vn)
{
    assert(n >= 1 && v[n - 1] != 0);
    if (m < n) {
        memcpy(r, u, m * sizeof *r);
        memset(r + m, 0, (n - m) * sizeof *r);
        return;
    }
    if (n == 1) {
        limb2 rem = 0;
        for (size_t i = m; i-- > 0;) rem = ((rem << 64) | u[i]) % v[0];
        r[0] = (uint64_t)rem;
        return;
    }
    unsigned s = (unsigned)__builtin_clzll(v[n - 1]);
    for (size_t i = n - 1; i > 0; i--) vn[i] = v[i] << s | (s != 0 ? v[i - 1] >> (64 - s) : 0);
    vn[0] = v[0] << s;
    un[m] = s != 0 ? u[m - 1] >> (64 - s) : 0;
    for (size_t i = m - 1; i > 0; i--) un[i] = u[i] << s | (s != 0 ? u[i - 1] >> (64 - s) : 0);
    un[0] = u[0] << s;

    const limb2 base = (limb2)1 << 64;
    for (size_t j = m - n + 1; j-- > 0;) {
        limb2 numerator = ((limb2)un[j + n] << 64) | un[j + n - 1];
        limb2 qhat = numerator / vn[n - 1];
        limb2 rhat = numerator - qhat * vn[n - 1];
        while (qhat >= base || qhat * vn[n - 2] > ((rhat << 64) | un[j + n - 2])) {
            qhat--;
            rhat += vn[n - 1];
            if (rhat >= base) break;
        }
        /* un[j..j+n] -= qhat * vn */
        uint64_t borrow = 0, carry = 0;
        for (size_t i = 0; i < n; i++) {
            limb2 p = qhat * vn[i] + carry;
            carry = (uint64_t)(p >> 64);
            uint64_t low = (uint64_t)p;
            uint64_t a = un[i + j];
            uint64_t t = a - low - borrow;
            borrow = (uint64_t)((a < low) | ((a - low) < borrow));
            un[i + j] = t;
        }
        uint64_t a = un[j + n];
        un[j + n] = a - carry - borrow;
        bool negative = (a < carry) | ((a - carry) < borrow);
        if (negative) { /* qhat was one too large: add vn back */
            uint64_t c = 0;
            for (size_t i = 0; i < n; i++) {
                limb2 t = (limb2)un[i + j] + vn[i] + c;
                un[i + j] = (uint64_t)t;
                c = (uint64_t)(t >> 64);
            }
            un[j + n] += c;
        }
    }
    for (size_t i = 0; i < n; i++) r[i] = un[i] >> s | (s != 0 ? un[i + 1] << (64 - s) : 0);
}

bool evm_modexp_run(const uint8_t *input, size_t input_size, struct evm_buffer *out)
{
    assert(input != NULL || input_size == 0);
    assert(out != NULL);
    uint64_t base_length = read_length(input, input_size, 0);
    uint64_t exponent_length = read_length(input, input_size, 32);
    uint64_t modulus_length = read_length(input, input_size, 64);
    /* The gas charged first keeps these far below the cap when the modulus is not empty. */
    if (!evm_buffer_reserve(out, modulus_length)) return false;
    out->size = modulus_length;
    if (modulus_length == 0) return true;
    assert(base_length < LENGTH_CAP && modulus_length < LENGTH_CAP && exponent_length < LENGTH_CAP);

    size_t n = (size_t)((modulus_length + 7) / 8);
    size_t nb = (size_t)((base_length + 7) / 8);
    size_t scratch_limbs = n /* modulus */ + (nb > n ? nb : n) /* base */ + n /* result */ +
                           2 * n /* product */ + 2 * n + 1 /* un */ + n /* vn */ + (nb > n ? nb : n) + 1;
    uint64_t *scratch = calloc(scratch_limbs, sizeof(uint64_t));
    if (scratch == NULL) return false;
    uint64_t *modulus = scratch;
    uint64_t *base = modulus + n;
    uint64_t *result = base + (nb > n ? nb : n);
    uint64_t *product = result + n;
    uint64_t *un = product + 2 * n;
    uint64_t *vn = un + 2 * n + 1;

    uint64_t exponent_offset = 96 + base_length;
    uint64_t modulus_offset = exponent_offset + exponent_length;
    load_number(input, input_size, modulus_offset, modulus_length, modulus, n);
    size_t mn = significant(modulus, n);
    memset(out->data, 0, modulus_length);
    if (mn == 0) { /* x mod 0 is 0 by EIP-198 */
        free(scratch);
        return true;
    }

    /* base mod modulus; the reduction scratch must hold the base's limbs plus one. */
    size_t base_capacity = nb > n ? nb : n;
    load_number(input, input_size, 96, base_length, base, base_capacity);
    uint64_t *base_un = calloc(base_capacity + 1, sizeof(uint64_t));
    if (base_un == NULL) {
        free(scratch);
        return false;
    }
    reduce(base, significant(base, base_capacity), modulus, mn, result /* temp */, base_un, vn);
    memcpy(base, result, mn * sizeof *base);
    free(base_un);

    /* result = 1 mod modulus, then square-and-multiply over the exponent's bits, high first. */
    memset(result, 0, mn * sizeof *result);
    result[0] = 1;
    if (mn == 1 && modulus[0] == 1) result[0] = 0;
    for (uint64_t i = 0; i < exponent_length; i++) {
        uint8_t byte = input_byte(input, input_size, exponent_offset + i);
        for (int bit = 7; bit >= 0; bit--) {
            multiply(result, mn, result, mn, product);
            reduce(product, significant(product, 2 * mn), modulus, mn, result, un, vn);
            if ((byte >> bit) & 1) {
                multiply(result, mn, base, mn, product);
                reduce(product, significant(product, 2 * mn), modulus, mn, result, un, vn);
            }
        }
    }
    /* Write the result big-endian into the last bytes of the output. */
    for (uint64_t position = 0; position < modulus_length && position / 8 < mn; position++)
        out->data[modulus_length - 1 - position] = (uint8_t)(result[position / 8] >> (8 * (position % 8)));
    free(scratch);
    return true;
}
