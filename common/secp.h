/*
 * secp.h - secp256k1 keys, recoverable ECDSA signatures and Ethereum addresses, through
 * libsecp256k1 (Debian's 0.2.0 with its recovery module).
 *
 * Wire formats, as Ethereum writes them:
 *
 *   private key   32 bytes, big-endian scalar in [1, n-1]
 *   public key    64 bytes  x || y  (the uncompressed SEC1 point without its 0x04 prefix)
 *   signature     65 bytes  r || s || v
 *                           r, s: 32-byte big-endian scalars in [1, n-1]
 *                           v:    the recovery id 0..3 (not 27/28, not EIP-155's
 *                                 chain-id form: callers map those to 0..3 themselves)
 *   address       20 bytes  the last 20 bytes of keccak256(x || y)
 *   address text  "0x" + 40 hex digits, EIP-55 mixed case when printed here
 *
 * n is the order of the curve's group:
 *   n = 0xFFFFFFFF FFFFFFFF FFFFFFFF FFFFFFFE BAAEDCE6 AF48A03B BFD25E8C D0364141
 *
 * Every signature this module makes has s <= n/2 ("low s"): libsecp256k1 signs that way
 * and secp_sign asserts it. Ethereum's Homestead rule (EIP-2) refuses transactions with a
 * high s; the ecrecover precompile accepts both. Recovery and verification therefore take
 * an enum secp_s_rule that says which rule applies.
 *
 * One process-wide libsecp256k1 context is created on first use (pthread_once), randomised
 * with 32 bytes from getrandom(2) against timing side channels, and never freed. Every
 * function here is thread-safe. Nothing here allocates after that first call.
 *
 * Private keys: no function here copies a private key onto its own stack; they read it
 * where the caller keeps it. Wiping the caller's copy is the caller's job (explicit_bzero).
 *
 * Errors are COMMON_E_* codes from common/error.h with domain "common"; messages start with
 * "secp: " or "address: ".
 */
#ifndef COHORT_COMMON_SECP_H
#define COHORT_COMMON_SECP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define SECP_PRIVATE_KEY_BYTES 32
#define SECP_PUBLIC_KEY_BYTES 64
#define SECP_SIGNATURE_BYTES 65
#define SECP_HASH_BYTES 32
#define ADDRESS_BYTES 20
#define ADDRESS_TEXT_LENGTH 42 /* "0x" + 40 digits */
#define ADDRESS_TEXT_BYTES 43  /* with the NUL */

/* Which values of s a recovery or a verification accepts. */
enum secp_s_rule {
    SECP_S_ANY = 0, /* any s in [1, n-1]: Frontier transactions, the ecrecover precompile */
    SECP_S_LOW = 1, /* s <= n/2 only: Homestead's rule (EIP-2) for transactions, and ours */
};

/*
 * Creates the process-wide context if it does not exist yet. Every other function calls it
 * itself; a program may call it early so a failure (no entropy, no memory) shows at start.
 * Returns 0, COMMON_E_IO if getrandom failed, COMMON_E_NOMEM or COMMON_E_CRYPTO if
 * libsecp256k1 did. A failure is permanent for the process.
 */
int secp_init(struct cohort_error *err);

/*
 * Fills private_key (caller-owned, 32 bytes) with a new key from getrandom(2), drawing
 * again while the bytes are not a valid key (zero or >= n, odds about 2^-128). Returns 0,
 * or COMMON_E_IO when getrandom fails; on failure private_key is wiped.
 */
int secp_key_generate(uint8_t private_key[SECP_PRIVATE_KEY_BYTES], struct cohort_error *err);

/* Returns 0 if private_key is in [1, n-1], else COMMON_E_CRYPTO. */
int secp_private_key_check(const uint8_t private_key[SECP_PRIVATE_KEY_BYTES], struct cohort_error *err);

/*
 * Computes the public key (x || y, 64 bytes, caller-owned) of private_key. Returns 0, or
 * COMMON_E_CRYPTO if private_key is not in [1, n-1].
 */
int secp_pubkey(const uint8_t private_key[SECP_PRIVATE_KEY_BYTES], uint8_t public_key[SECP_PUBLIC_KEY_BYTES],
                struct cohort_error *err);

/* Returns 0 if public_key (x || y) is a point on the curve, else COMMON_E_CRYPTO. */
int secp_pubkey_check(const uint8_t public_key[SECP_PUBLIC_KEY_BYTES], struct cohort_error *err);

/*
 * Computes the Ethereum address (20 bytes, caller-owned) of private_key. Returns 0, or
 * COMMON_E_CRYPTO if private_key is not in [1, n-1].
 */
int secp_address_from_secret(const uint8_t private_key[SECP_PRIVATE_KEY_BYTES], uint8_t address[ADDRESS_BYTES],
                             struct cohort_error *err);

/*
 * Signs the 32-byte hash with private_key: a deterministic RFC 6979 nonce, so the same key
 * and hash always give the same signature (the same one ethers and geth give). Writes
 * r || s || v (65 bytes, caller-owned) with s <= n/2 and v in 0..3 (in practice 0 or 1).
 * The hash is signed as given: hashing the message is the caller's job. Returns 0, or
 * COMMON_E_CRYPTO if private_key is not in [1, n-1].
 */
int secp_sign(const uint8_t private_key[SECP_PRIVATE_KEY_BYTES], const uint8_t hash[SECP_HASH_BYTES],
              uint8_t signature[SECP_SIGNATURE_BYTES], struct cohort_error *err);

/*
 * Recovers the public key (x || y, 64 bytes, caller-owned) that made signature over hash.
 * Refuses, with COMMON_E_CRYPTO and a message that says which: v > 3; r or s zero or >= n;
 * s > n/2 when rule is SECP_S_LOW; a signature from which no public key recovers.
 * public_key is written only on success.
 */
int secp_recover(const uint8_t hash[SECP_HASH_BYTES], const uint8_t signature[SECP_SIGNATURE_BYTES],
                 enum secp_s_rule rule, uint8_t public_key[SECP_PUBLIC_KEY_BYTES], struct cohort_error *err);

/* secp_recover, then the address of the recovered key (20 bytes, caller-owned). */
int secp_recover_address(const uint8_t hash[SECP_HASH_BYTES], const uint8_t signature[SECP_SIGNATURE_BYTES],
                         enum secp_s_rule rule, uint8_t address[ADDRESS_BYTES], struct cohort_error *err);

/*
 * Checks the ECDSA signature r || s (the first 64 bytes of a 65-byte signature; v is not
 * needed and not read) over hash against public_key. Returns 0 when it is valid;
 * COMMON_E_CRYPTO when it is not, when public_key is not on the curve, when r or s is zero
 * or >= n, or when s > n/2 and rule is SECP_S_LOW.
 */
int secp_verify(const uint8_t public_key[SECP_PUBLIC_KEY_BYTES], const uint8_t hash[SECP_HASH_BYTES],
                const uint8_t signature[64], enum secp_s_rule rule, struct cohort_error *err);

/*
 * The ECDH secret of private_key and public_key (x || y): SHA-256 of the compressed shared
 * point (libsecp256k1's default), the same from either side. Returns 0, or COMMON_E_CRYPTO
 * for a public key off the curve or a bad private key.
 */
int secp_ecdh(const uint8_t private_key[SECP_PRIVATE_KEY_BYTES], const uint8_t public_key[SECP_PUBLIC_KEY_BYTES],
              uint8_t secret[32], struct cohort_error *err);

/* True if the s of signature (r || s || v, or r || s) is <= n/2. Reads bytes 32..63. */
bool secp_signature_is_low_s(const uint8_t signature[64]);

/*
 * Turns a high-s signature (r || s || v) into its low-s twin in place: s -> n - s and
 * v -> v ^ 1, which recovers the same public key. A low-s signature is left as it is.
 * Sets *changed (if not NULL) to whether it changed. Returns 0, or COMMON_E_CRYPTO (and
 * leaves signature alone) if s is zero or >= n or v > 3.
 */
int secp_signature_normalize_s(uint8_t signature[SECP_SIGNATURE_BYTES], bool *changed, struct cohort_error *err);

/* address (20 bytes, caller-owned) = the last 20 bytes of keccak256(public_key). */
void address_from_pubkey(const uint8_t public_key[SECP_PUBLIC_KEY_BYTES], uint8_t address[ADDRESS_BYTES]);

/*
 * Writes the EIP-55 checksummed text of address ("0x" + 40 mixed-case digits + NUL, 43
 * bytes) into out, caller-owned. Returns 42, the length without the NUL.
 */
size_t address_to_checksum(const uint8_t address[ADDRESS_BYTES], char out[ADDRESS_TEXT_BYTES]);

/*
 * Parses address text: "0x" (lowercase x) and exactly 40 hex digits. All-lowercase and
 * all-uppercase digits carry no checksum and are accepted; mixed case must be the EIP-55
 * checksum, else COMMON_E_INVALID with a message that says the checksum is wrong. Wrong
 * length or characters are COMMON_E_INVALID too. text is NUL-terminated; no more than 43
 * characters of it are read. address (caller-owned) is written only on success.
 */
int address_parse(const char *text, uint8_t address[ADDRESS_BYTES], struct cohort_error *err);

/* Like address_parse, for text_len characters that need not be NUL-terminated. */
int address_parse_n(const char *text, size_t text_len, uint8_t address[ADDRESS_BYTES], struct cohort_error *err);

#endif
