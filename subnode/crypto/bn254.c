/*
 * bn254.c - the bn254 (alt_bn128) precompiles: ecAdd, ecMul (EIP-196) and the optimal ate
 * pairing check (EIP-197), with Istanbul gas (EIP-1108). See curves.h for the byte formats.
 *
 * The curve: E: y^2 = x^3 + 3 over Fp, p = 36x^4 + 36x^3 + 24x^2 + 6x + 1 with the BN
 * parameter x = 4965661367192848881; G1 = E(Fp) has prime order r (cofactor 1). G2 lives on
 * the D-type sextic twist E': y^2 = x^3 + 3/xi over Fp2, xi = 9 + u, and is the order-r
 * subgroup of E'(Fp2) (whose cofactor is large, hence the subgroup check).
 *
 * The pairing: a multi-Miller loop over the NAF of 6x + 2 in homogeneous projective
 * coordinates on the twist (line formulas of Costello, Lange and Naehrig, "Faster pairing
 * computations on curves with high-degree twists", 2010, as arranged by Aranha et al. 2011),
 * the two Frobenius lines of the optimal ate pairing, then one final exponentiation for the
 * whole product: the easy part (p^6 - 1)(p^2 + 1), and the hard part (p^4 - p^2 + 1)/r written
 * in base p with coefficients polynomial in x (Devegili, Scott and Dahab, 2007):
 *   lambda = l0 + l1 p + l2 p^2 + l3 p^3, l3 = 1, l2 = 6x^2 + 1,
 *   l1 = -36x^3 - 18x^2 - 12x + 1, l0 = -36x^3 - 30x^2 - 18x - 2,
 * so three exponentiations by x (63 bits) and a few small powers replace a 762-bit exponent.
 *
 * The constants below (Montgomery forms, Frobenius coefficients xi^(k(p^j - 1)/6), the twist's
 * b) were derived with Python's integers from p and xi; the unit tests check the pairing they
 * feed against the EIP-197 vectors and against @noble/curves.
 */
#include "subnode/crypto/curves.h"

#define FP_LIMBS 4
#define FP_MODULUS_INIT 0x3c208c16d87cfd47ULL, 0x97816a916871ca8dULL, 0xb85045b68181585dULL, 0x30644e72e131a029ULL
#define FP_M0INV 0x87d20782e4866389ULL
#define FP_R2_INIT 0xf32cfc5b538afa89ULL, 0xb5e71911d44501fbULL, 0x47ab1eff0a417ff6ULL, 0x06d89f71cab8351fULL
#define FP_ONE_INIT 0xd35d438dc58f0d9dULL, 0x0a78eb28f5c70b3dULL, 0x666ea36f7879462cULL, 0x0e0a77c19a07df2fULL
#include "subnode/crypto/field_impl.h"

_Static_assert(FP_BYTES == 32, "bn254 field elements are 32-byte words");

/* (a0 + a1 u)(9 + u) = (9 a0 - a1) + (a0 + 9 a1) u */
static void fp2_mul_by_xi(fp2 *r, const fp2 *a)
{
    fp t0, t1;
    fp_dbl(&t0, &a->c0);
    fp_dbl(&t0, &t0);
    fp_dbl(&t0, &t0);
    fp_add(&t0, &t0, &a->c0);
    fp_dbl(&t1, &a->c1);
    fp_dbl(&t1, &t1);
    fp_dbl(&t1, &t1);
    fp_add(&t1, &t1, &a->c1);
    fp_sub(&t0, &t0, &a->c1);
    fp_add(&t1, &t1, &a->c0);
    r->c0 = t0;
    r->c1 = t1;
}

/* frob_gamma[j-1][k] = xi^(k(p^j - 1)/6), Montgomery form. */
static const fp2 frob_gamma[3][6] = {
    {
        /* xi^(0(p^1-1)/6) */
        {{{0xd35d438dc58f0d9dULL, 0x0a78eb28f5c70b3dULL, 0x666ea36f7879462cULL, 0x0e0a77c19a07df2fULL}},
         {{0x0000000000000000ULL, 0x0000000000000000ULL, 0x0000000000000000ULL, 0x0000000000000000ULL}}},
        /* xi^(1(p^1-1)/6) */
        {{{0xaf9ba69633144907ULL, 0xca6b1d7387afb78aULL, 0x11bded5ef08a2087ULL, 0x02f34d751a1f3a7cULL}},
         {{0xa222ae234c492d72ULL, 0xd00f02a4565de15bULL, 0xdc2ff3a253dfc926ULL, 0x10a75716b3899551ULL}}},
        /* xi^(2(p^1-1)/6) */
        {{{0xb5773b104563ab30ULL, 0x347f91c8a9aa6454ULL, 0x7a007127242e0991ULL, 0x1956bcd8118214ecULL}},
         {{0x6e849f1ea0aa4757ULL, 0xaa1c7b6d89f89141ULL, 0xb6e713cdfae0ca3aULL, 0x26694fbb4e82ebc3ULL}}},
        /* xi^(3(p^1-1)/6) */
        {{{0xe4bbdd0c2936b629ULL, 0xbb30f162e133bacbULL, 0x31a9d1b6f9645366ULL, 0x253570bea500f8ddULL}},
         {{0xa1d77ce45ffe77c7ULL, 0x07affd117826d1dbULL, 0x6d16bd27bb7edc6bULL, 0x2c87200285defeccULL}}},
        /* xi^(4(p^1-1)/6) */
        {{{0x7361d77f843abe92ULL, 0xa5bb2bd3273411fbULL, 0x9c941f314b3e2399ULL, 0x15df9cddbb9fd3ecULL}},
         {{0x5dddfd154bd8c949ULL, 0x62cb29a5a4445b60ULL, 0x37bc870a0c7dd2b9ULL, 0x24830a9d3171f0fdULL}}},
        /* xi^(5(p^1-1)/6) */
        {{{0xc970692f41690fe7ULL, 0xe240342127694b0bULL, 0x32bee66b83c459e8ULL, 0x12aabced0ab08841ULL}},
         {{0x0d485d2340aebfa9ULL, 0x05193418ab2fcc57ULL, 0xd3b0a40b8a4910f5ULL, 0x2f21ebb535d2925aULL}}},
    },
    {
        /* xi^(0(p^2-1)/6) */
        {{{0xd35d438dc58f0d9dULL, 0x0a78eb28f5c70b3dULL, 0x666ea36f7879462cULL, 0x0e0a77c19a07df2fULL}},
         {{0x0000000000000000ULL, 0x0000000000000000ULL, 0x0000000000000000ULL, 0x0000000000000000ULL}}},
        /* xi^(1(p^2-1)/6) */
        {{{0xca8d800500fa1bf2ULL, 0xf0c5d61468b39769ULL, 0x0e201271ad0d4418ULL, 0x04290f65bad856e6ULL}},
         {{0x0000000000000000ULL, 0x0000000000000000ULL, 0x0000000000000000ULL, 0x0000000000000000ULL}}},
        /* xi^(2(p^2-1)/6) */
        {{{0x3350c88e13e80b9cULL, 0x7dce557cdb5e56b9ULL, 0x6001b4b8b615564aULL, 0x2682e617020217e0ULL}},
         {{0x0000000000000000ULL, 0x0000000000000000ULL, 0x0000000000000000ULL, 0x0000000000000000ULL}}},
        /* xi^(3(p^2-1)/6) */
        {{{0x68c3488912edefaaULL, 0x8d087f6872aabf4fULL, 0x51e1a24709081231ULL, 0x2259d6b14729c0faULL}},
         {{0x0000000000000000ULL, 0x0000000000000000ULL, 0x0000000000000000ULL, 0x0000000000000000ULL}}},
        /* xi^(4(p^2-1)/6) */
        {{{0x71930c11d782e155ULL, 0xa6bb947cffbe3323ULL, 0xaa303344d4741444ULL, 0x2c3b3f0d26594943ULL}},
         {{0x0000000000000000ULL, 0x0000000000000000ULL, 0x0000000000000000ULL, 0x0000000000000000ULL}}},
        /* xi^(5(p^2-1)/6) */
        {{{0x08cfc388c494f1abULL, 0x19b315148d1373d4ULL, 0x584e90fdcb6c0213ULL, 0x09e1685bdf2f8849ULL}},
         {{0x0000000000000000ULL, 0x0000000000000000ULL, 0x0000000000000000ULL, 0x0000000000000000ULL}}},
    },
    {
        /* xi^(0(p^3-1)/6) */
        {{{0xd35d438dc58f0d9dULL, 0x0a78eb28f5c70b3dULL, 0x666ea36f7879462cULL, 0x0e0a77c19a07df2fULL}},
         {{0x0000000000000000ULL, 0x0000000000000000ULL, 0x0000000000000000ULL, 0x0000000000000000ULL}}},
        /* xi^(1(p^3-1)/6) */
        {{{0x365316184e46d97dULL, 0x0af7129ed4c96d9fULL, 0x659da72fca1009b5ULL, 0x08116d8983a20d23ULL}},
         {{0xb1df4af7c39c1939ULL, 0x3d9f02878a73bf7fULL, 0x9b2220928caf0ae0ULL, 0x26684515eff054a6ULL}}},
        /* xi^(2(p^3-1)/6) */
        {{{0xc9af22f716ad6badULL, 0xb311782a4aa662b2ULL, 0x19eeaf64e248c7f4ULL, 0x20273e77e3439f82ULL}},
         {{0xacc02860f7ce93acULL, 0x3933d5817ba76b4cULL, 0x69e6188b446c8467ULL, 0x0a46036d4417cc55ULL}}},
        /* xi^(3(p^3-1)/6) */
        {{{0x5764af0aaf46471eULL, 0xdc50792e873e0fc1ULL, 0x86a673ff881d04f6ULL, 0x0b2eddb43c30a74cULL}},
         {{0x9a490f32787e8580ULL, 0x8fd16d7ff04af8b1ULL, 0x4b39888ec6027bf2ULL, 0x03dd2e705b52a15dULL}}},
        /* xi^(4(p^3-1)/6) */
        {{{0x448a93a57b6762dfULL, 0xbfd62df528fdeadfULL, 0xd858f5d00e9bd47aULL, 0x06b03d4d3476ec58ULL}},
         {{0x2b19daf4bcc936d1ULL, 0xa1a54e7a56f4299fULL, 0xb533eee05adeaef1ULL, 0x170c812b84dda0b2ULL}}},
        /* xi^(5(p^3-1)/6) */
        {{{0xe0bc4b2275cf559fULL, 0xc238b945c154e60fULL, 0x803982a5929a7d5eULL, 0x15ce052df7e4a37eULL}},
         {{0x2d28efbdbf3799a7ULL, 0x9b097e3c1ad60773ULL, 0x982d4113af4a535bULL, 0x24e18991e3056063ULL}}},
    },
};

/* b = 3 of E, Montgomery form. */
static const fp g1_b = {{0x7a17caa950ad28d7ULL, 0x1f6ac17ae15521b9ULL, 0x334bea4e696bd284ULL, 0x2a1f6744ce179d8eULL}};
/* b' = 3/xi of the twist E', and 3b' (used by the doubling step), Montgomery form. */
static const fp2 g2_b = {{{0x3bf938e377b802a8ULL, 0x020b1b273633535dULL, 0x26b7edf049755260ULL, 0x2514c6324384a86dULL}},
                         {{0x38e7ecccd1dcff67ULL, 0x65f0b37d93ce0d3eULL, 0xd749d0dd22ac00aaULL, 0x0141b9ce4a688d4dULL}}};
static const fp2 g2_b3 = {{{0x3baa927cb62e0d6aULL, 0xd71e7c52d1b664fdULL, 0x03873e63d95d4664ULL, 0x0e75b5b1082ab8f4ULL}},
                          {{0xaab7c6667596fe35ULL, 0x31d21a78bb6a27baULL, 0x85dd7297680401ffULL, 0x03c52d6adf39a7e9ULL}}};

#define PT(name) g1_##name
#define PF(name) fp_##name
#define PT_FIELD fp
#define PT_B (&g1_b)
#include "subnode/crypto/point_impl.h"
#undef PT
#undef PF
#undef PT_FIELD
#undef PT_B

#define PT(name) g2_##name
#define PF(name) fp2_##name
#define PT_FIELD fp2
#define PT_B (&g2_b)
#include "subnode/crypto/point_impl.h"
#undef PT
#undef PF
#undef PT_FIELD
#undef PT_B

/* The BN parameter x and 6x^2 = t - 1 (t the trace of Frobenius), big-endian for mul_bytes. */
#define BN_X UINT64_C(4965661367192848881)
static const uint8_t six_x_squared[16] = {0x6f, 0x4d, 0x82, 0x48, 0xee, 0xb8, 0x59, 0xfb,
                                          0xf8, 0x3e, 0x96, 0x82, 0xe8, 0x7c, 0xfd, 0x46};

/* The non-adjacent form of 6x + 2, least significant digit first (66 digits, top digit 1). */
static const int8_t ate_loop_naf[66] = {
    0, 0, 0, 1, 0, 1, 0, -1, 0, 0, -1, 0, 0, 0, 1, 0, 0, -1, 0, -1, 0, 0, 0, 1, 0, -1, 0, 0, 0, 0, -1, 0, 0,
    1, 0, -1, 0, 0, 1, 0, 0, 0, 0, 0, -1, 0, 0, -1, 0, 1, 0, -1, 0, 0, 0, -1, 0, -1, 0, 0, 0, 1, 0, -1, 0, 1,
};
_Static_assert(sizeof ate_loop_naf == 66, "6x + 2 has 66 NAF digits");

/* ---------------------------------------------------------------- parsing */

/* Reads a G1 point (x|y, 64 bytes); (0, 0) is infinity. */
static int read_g1(g1_jac *out, const uint8_t in[64])
{
    fp x, y;
    if (!fp_from_bytes(&x, in) || !fp_from_bytes(&y, in + 32)) return CURVES_E_FIELD;
    if (fp_is_zero(&x) && fp_is_zero(&y)) {
        g1_set_infinity(out);
        return CURVES_OK;
    }
    if (!g1_is_on_curve(&x, &y)) return CURVES_E_NOT_ON_CURVE;
    g1_from_affine(out, &x, &y);
    return CURVES_OK;
}

static void write_g1(uint8_t out[64], const g1_jac *p)
{
    if (g1_is_infinity(p)) {
        memset(out, 0, 64);
        return;
    }
    fp x, y;
    g1_to_affine(&x, &y, p);
    fp_to_bytes(out, &x);
    fp_to_bytes(out + 32, &y);
}

/*
 * psi = untwist, Frobenius, twist: (x, y) -> (conj(x) xi^((p-1)/3), conj(y) xi^((p-1)/2)). In
 * Jacobian coordinates Z is conjugated too (the Frobenius is a field automorphism).
 */
static void g2_psi(g2_jac *r, const g2_jac *a)
{
    fp2_conj(&r->x, &a->x);
    fp2_mul(&r->x, &r->x, &frob_gamma[0][2]);
    fp2_conj(&r->y, &a->y);
    fp2_mul(&r->y, &r->y, &frob_gamma[0][3]);
    fp2_conj(&r->z, &a->z);
}

/*
 * Q in G2 (order r) iff psi(Q) == [6x^2]Q, for Q on the twist. Why this suffices: psi satisfies
 * psi^2 - t psi + p = 0 on E'. If psi(Q) = [t-1]Q then
 * 0 = psi^2(Q) - t psi(Q) + pQ = [(t-1)^2 - t(t-1) + p]Q = [p + 1 - t]Q = [r]Q, since
 * #E(Fp) = p + 1 - t = r for bn254. Conversely on G2 psi acts as [p] = [t-1] mod r.
 * 6x^2 = t - 1 has 127 bits, half the cost of checking [r]Q = O.
 */
static bool g2_in_subgroup(const g2_jac *q)
{
    g2_jac lhs, rhs;
    g2_psi(&lhs, q);
    g2_mul_bytes(&rhs, q, six_x_squared, sizeof six_x_squared);
    return g2_eq(&lhs, &rhs);
}

/* Reads a G2 point (x_im|x_re|y_im|y_re, 128 bytes); all zeros is infinity. Affine output. */
static int read_g2(fp2 *x, fp2 *y, bool *infinity, const uint8_t in[128])
{
    if (!fp_from_bytes(&x->c1, in) || !fp_from_bytes(&x->c0, in + 32) || !fp_from_bytes(&y->c1, in + 64) ||
        !fp_from_bytes(&y->c0, in + 96)) {
        return CURVES_E_FIELD;
    }
    *infinity = fp2_is_zero(x) && fp2_is_zero(y);
    if (*infinity) return CURVES_OK;
    if (!g2_is_on_curve(x, y)) return CURVES_E_NOT_ON_CURVE;
    g2_jac q;
    g2_from_affine(&q, x, y);
    if (!g2_in_subgroup(&q)) return CURVES_E_SUBGROUP;
    return CURVES_OK;
}

/* ---------------------------------------------------------------- Miller loop */

/* A point of the twist in homogeneous projective coordinates: (X/Z, Y/Z). */
struct g2_proj {
    fp2 x, y, z;
};

/* One pair of the loop: P affine, Q affine, and the running point T = [k]Q. */
struct pair_state {
    fp px3;      /* 3 * x_P: the doubling line's coefficient at w is 3 X^2 * x_P */
    fp neg_px;   /* -x_P */
    fp py;       /* y_P */
    fp neg_py;   /* -y_P */
    fp2 qx, qy, neg_qy;
    struct g2_proj t;
};

/*
 * T = 2T and f *= the tangent line at T evaluated at P. The line, scaled by a factor in Fp2
 * that the final exponentiation removes, is -2YZ y_P + 3X^2 x_P w + (3b'Z^2 - Y^2) v w.
 */
static void doubling_step(fp12 *f, struct pair_state *s)
{
    struct g2_proj *t = &s->t;
    fp2 a, b, c, e, ff, g, h, i, j, tmp, l0, l3;
    fp2_mul(&a, &t->x, &t->y);
    fp2_half(&a, &a);
    fp2_sqr(&b, &t->y);
    fp2_sqr(&c, &t->z);
    fp2_mul(&e, &c, &g2_b3);
    fp2_dbl(&ff, &e);
    fp2_add(&ff, &ff, &e);
    fp2_add(&g, &b, &ff);
    fp2_half(&g, &g);
    fp2_add(&h, &t->y, &t->z);
    fp2_sqr(&h, &h);
    fp2_add(&tmp, &b, &c);
    fp2_sub(&h, &h, &tmp);
    fp2_sub(&i, &e, &b);
    fp2_sqr(&j, &t->x);

    fp2_sub(&tmp, &b, &ff);
    fp2_mul(&t->x, &a, &tmp);
    fp2_sqr(&tmp, &e);
    fp2_dbl(&c, &tmp);
    fp2_add(&c, &c, &tmp);
    fp2_sqr(&t->y, &g);
    fp2_sub(&t->y, &t->y, &c);
    fp2_mul(&t->z, &b, &h);

    fp2_mul_fp(&l0, &h, &s->neg_py);
    fp2_mul_fp(&l3, &j, &s->px3);
    fp12_mul_by_034(f, &l0, &l3, &i);
}

/*
 * T = T + Q (Q affine) and f *= the line through T and Q evaluated at P, scaled:
 * lambda y_P - theta x_P w + (theta x_Q - lambda y_Q) v w, theta = Y - y_Q Z, lambda = X - x_Q Z.
 */
static void addition_step(fp12 *f, struct pair_state *s, const fp2 *qx, const fp2 *qy)
{
    struct g2_proj *t = &s->t;
    fp2 theta, lambda, c, d, e, ff, g, h, j, tmp, l0, l3;
    fp2_mul(&tmp, qy, &t->z);
    fp2_sub(&theta, &t->y, &tmp);
    fp2_mul(&tmp, qx, &t->z);
    fp2_sub(&lambda, &t->x, &tmp);
    fp2_sqr(&c, &theta);
    fp2_sqr(&d, &lambda);
    fp2_mul(&e, &lambda, &d);
    fp2_mul(&ff, &t->z, &c);
    fp2_mul(&g, &t->x, &d);
    fp2_dbl(&tmp, &g);
    fp2_add(&h, &e, &ff);
    fp2_sub(&h, &h, &tmp);
    fp2_mul(&t->x, &lambda, &h);
    fp2_sub(&tmp, &g, &h);
    fp2_mul(&tmp, &theta, &tmp);
    fp2_mul(&c, &e, &t->y);
    fp2_sub(&t->y, &tmp, &c);
    fp2_mul(&t->z, &t->z, &e);

    fp2_mul(&j, &theta, qx);
    fp2_mul(&tmp, &lambda, qy);
    fp2_sub(&j, &j, &tmp);
    fp2_mul_fp(&l0, &lambda, &s->py);
    fp2_mul_fp(&l3, &theta, &s->neg_px);
    fp12_mul_by_034(f, &l0, &l3, &j);
}

/* Pairs per Miller-loop batch: the loop state lives on the stack, so the batch is bounded. */
#define PAIRS_PER_BATCH 8

/* f = the product of the optimal ate Miller loops of the n pairs (1 <= n <= PAIRS_PER_BATCH). */
static void miller_loop(fp12 *f, struct pair_state *pairs, size_t n)
{
    assert(n >= 1 && n <= PAIRS_PER_BATCH);
    fp12_set_one(f);
    for (size_t k = 0; k < n; k++) {
        pairs[k].t.x = pairs[k].qx;
        pairs[k].t.y = pairs[k].qy;
        fp2_set_one(&pairs[k].t.z);
    }
    for (int i = (int)sizeof ate_loop_naf - 2; i >= 0; i--) {
        if (i != (int)sizeof ate_loop_naf - 2) fp12_sqr(f, f);
        for (size_t k = 0; k < n; k++) {
            doubling_step(f, &pairs[k]);
            if (ate_loop_naf[i] == 1) {
                addition_step(f, &pairs[k], &pairs[k].qx, &pairs[k].qy);
            } else if (ate_loop_naf[i] == -1) {
                addition_step(f, &pairs[k], &pairs[k].qx, &pairs[k].neg_qy);
            }
        }
    }
    /* The optimal ate pairing's last two lines: with Q1 = pi(Q) and Q2 = pi^2(Q), add Q1 and -Q2. */
    for (size_t k = 0; k < n; k++) {
        fp2 q1x, q1y, q2x, q2y;
        fp2_conj(&q1x, &pairs[k].qx);
        fp2_mul(&q1x, &q1x, &frob_gamma[0][2]);
        fp2_conj(&q1y, &pairs[k].qy);
        fp2_mul(&q1y, &q1y, &frob_gamma[0][3]);
        fp2_mul(&q2x, &pairs[k].qx, &frob_gamma[1][2]);
        fp2_mul(&q2y, &pairs[k].qy, &frob_gamma[1][3]);
        fp2_neg(&q2y, &q2y);
        addition_step(f, &pairs[k], &q1x, &q1y);
        addition_step(f, &pairs[k], &q2x, &q2y);
    }
}

/* ---------------------------------------------------------------- final exponentiation */

/* r = a^e in the cyclotomic subgroup for a small e, by the same square-and-multiply. */
static void cyc_pow(fp12 *r, const fp12 *a, uint64_t e) { fp12_cyclotomic_pow_u64(r, a, e); }

/* True when f^((p^12 - 1)/r) == 1. f must be non-zero (a Miller loop value is). */
static bool final_exp_is_one(const fp12 *f)
{
    fp12 m, a, b, c, t, l0, l1, l2, res;
    final_exp_easy(&m, f);
    cyc_pow(&a, &m, BN_X);  /* m^x */
    cyc_pow(&b, &a, BN_X);  /* m^(x^2) */
    cyc_pow(&c, &b, BN_X);  /* m^(x^3) */

    fp12 a6, a12, a18, b6, b12, b18, b30, c36, m2;
    cyc_pow(&a6, &a, 6);
    fp12_cyclotomic_sqr(&a12, &a6);
    fp12_mul(&a18, &a12, &a6);
    cyc_pow(&b6, &b, 6);
    fp12_cyclotomic_sqr(&b12, &b6);
    fp12_mul(&b18, &b12, &b6);
    fp12_mul(&b30, &b18, &b12);
    cyc_pow(&c36, &c, 36);
    fp12_cyclotomic_sqr(&m2, &m);

    /* m^l0 = (m^2 a^18 b^30 c^36)^-1 */
    fp12_mul(&t, &m2, &a18);
    fp12_mul(&t, &t, &b30);
    fp12_mul(&t, &t, &c36);
    fp12_conj(&l0, &t);
    /* m^l1 = m (a^12 b^18 c^36)^-1 */
    fp12_mul(&t, &a12, &b18);
    fp12_mul(&t, &t, &c36);
    fp12_conj(&t, &t);
    fp12_mul(&l1, &m, &t);
    /* m^l2 = m b^6 */
    fp12_mul(&l2, &m, &b6);

    fp12_frobenius(&t, &l1, 1);
    fp12_mul(&res, &l0, &t);
    fp12_frobenius(&t, &l2, 2);
    fp12_mul(&res, &res, &t);
    fp12_frobenius(&t, &m, 3);
    fp12_mul(&res, &res, &t);
    return fp12_is_one(&res);
}

/* ---------------------------------------------------------------- precompiles */

uint64_t curves_bn254_add_gas(const uint8_t *input, size_t len) { return 150; }
uint64_t curves_bn254_mul_gas(const uint8_t *input, size_t len) { return 6000; }

uint64_t curves_bn254_pairing_gas(const uint8_t *input, size_t len)
{
    /* len / 192 < 2^64 / 192, so 34000 times it cannot wrap for any len a caller can hold. */
    return 45000 + 34000 * (uint64_t)(len / CURVES_BN254_PAIR_SIZE);
}

/* Copies up to n bytes of input into a zeroed buffer: the EIPs' implicit right padding. */
static void pad_input(uint8_t *buf, size_t n, const uint8_t *input, size_t len)
{
    memset(buf, 0, n);
    if (len > n) len = n;
    if (len > 0) memcpy(buf, input, len);
}

int curves_bn254_add(const uint8_t *input, size_t len, uint8_t out[CURVES_BN254_ADD_OUTPUT])
{
    assert(out != NULL);
    assert(input != NULL || len == 0);
    uint8_t buf[128];
    pad_input(buf, sizeof buf, input, len);
    g1_jac a, b;
    int rc = read_g1(&a, buf);
    if (rc == CURVES_OK) rc = read_g1(&b, buf + 64);
    if (rc != CURVES_OK) return rc;
    g1_add(&a, &a, &b);
    write_g1(out, &a);
    return CURVES_OK;
}

int curves_bn254_mul(const uint8_t *input, size_t len, uint8_t out[CURVES_BN254_MUL_OUTPUT])
{
    assert(out != NULL);
    assert(input != NULL || len == 0);
    uint8_t buf[96];
    pad_input(buf, sizeof buf, input, len);
    g1_jac a;
    int rc = read_g1(&a, buf);
    if (rc != CURVES_OK) return rc;
    g1_mul_bytes(&a, &a, buf + 64, 32);
    write_g1(out, &a);
    return CURVES_OK;
}

int curves_bn254_pairing(const uint8_t *input, size_t len, uint8_t out[CURVES_BN254_PAIRING_OUTPUT])
{
    assert(out != NULL);
    assert(input != NULL || len == 0);
    if (len % CURVES_BN254_PAIR_SIZE != 0) return CURVES_E_LENGTH;
    fp_self_check();

    struct pair_state batch[PAIRS_PER_BATCH];
    size_t in_batch = 0;
    fp12 acc, f;
    fp12_set_one(&acc);
    bool any = false;
    size_t pairs = len / CURVES_BN254_PAIR_SIZE;
    for (size_t k = 0; k < pairs; k++) {
        const uint8_t *pin = input + k * CURVES_BN254_PAIR_SIZE;
        g1_jac p;
        fp2 qx, qy;
        bool q_infinity;
        int rc = read_g1(&p, pin);
        if (rc == CURVES_OK) rc = read_g2(&qx, &qy, &q_infinity, pin + 64);
        if (rc != CURVES_OK) return rc;
        /* e(O, Q) = e(P, O) = 1: such a pair adds nothing to the product. */
        if (g1_is_infinity(&p) || q_infinity) continue;

        struct pair_state *s = &batch[in_batch++];
        /* read_g1 leaves a finite point with Z = 1, so X and Y are the affine coordinates. */
        s->py = p.y;
        fp_neg(&s->neg_py, &p.y);
        fp_neg(&s->neg_px, &p.x);
        fp_dbl(&s->px3, &p.x);
        fp_add(&s->px3, &s->px3, &p.x);
        s->qx = qx;
        s->qy = qy;
        fp2_neg(&s->neg_qy, &qy);
        if (in_batch == PAIRS_PER_BATCH) {
            miller_loop(&f, batch, in_batch);
            fp12_mul(&acc, &acc, &f);
            in_batch = 0;
            any = true;
        }
    }
    if (in_batch > 0) {
        miller_loop(&f, batch, in_batch);
        fp12_mul(&acc, &acc, &f);
        any = true;
    }
    bool one = !any || final_exp_is_one(&acc);
    memset(out, 0, CURVES_BN254_PAIRING_OUTPUT);
    out[CURVES_BN254_PAIRING_OUTPUT - 1] = one ? 1 : 0;
    return CURVES_OK;
}

const char *curves_strerror(int code)
{
    switch (code) {
    case CURVES_OK: return "success";
    case CURVES_E_LENGTH: return "input length not allowed by the precompile";
    case CURVES_E_FIELD: return "field element not below the modulus";
    case CURVES_E_NOT_ON_CURVE: return "point not on the curve";
    case CURVES_E_SUBGROUP: return "point not in the prime-order subgroup";
    case CURVES_E_ENCODING: return "malformed compressed point";
    case CURVES_E_VERSIONED_HASH: return "commitment does not match the versioned hash";
    case CURVES_E_PROOF: return "KZG proof does not verify";
    default: return "unknown curves error";
    }
}
