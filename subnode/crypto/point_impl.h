/*
 * point_impl.h - Jacobian point arithmetic on y^2 = x^3 + b over any field of field_impl.h.
 * INTERNAL, a template like field_impl.h: bn254.c and bls12_381.c include it once for G1
 * (over Fp) and once for G2 (over Fp2, the twist), after field_impl.h, with:
 *   PT(name)  the function/type prefix, e.g. #define PT(name) g1_##name
 *   PF(name)  the field's functions,    e.g. #define PF(name) fp_##name
 *   PT_FIELD  the field type (fp or fp2)
 *   PT_B      an expression giving a `const PT_FIELD *` to the curve's b
 * and #undefs them afterwards. Every function is static.
 *
 * Jacobian coordinates: (X, Y, Z) is the affine point (X/Z^2, Y/Z^3); Z = 0 is the point at
 * infinity. Formulas for a = 0 from the Explicit-Formulas Database (dbl-2009-l, add-2007-bl).
 * Not constant time (public data only).
 */
#if !defined(PT) || !defined(PF) || !defined(PT_FIELD) || !defined(PT_B)
#error "define PT, PF, PT_FIELD and PT_B before including point_impl.h"
#endif

typedef struct { PT_FIELD x, y, z; } PT(jac);

TPL void PT(set_infinity)(PT(jac) *r)
{
    PF(set_one)(&r->x);
    PF(set_one)(&r->y);
    PF(set_zero)(&r->z);
}

TPL bool PT(is_infinity)(const PT(jac) *a) { return PF(is_zero)(&a->z); }

TPL void PT(from_affine)(PT(jac) *r, const PT_FIELD *x, const PT_FIELD *y)
{
    r->x = *x;
    r->y = *y;
    PF(set_one)(&r->z);
}

/* Affine coordinates of a finite point (one field inversion). */
TPL void PT(to_affine)(PT_FIELD *x, PT_FIELD *y, const PT(jac) *a)
{
    PT_FIELD zi, zi2;
    assert(!PT(is_infinity)(a));
    PF(inv)(&zi, &a->z);
    PF(sqr)(&zi2, &zi);
    PF(mul)(x, &a->x, &zi2);
    PF(mul)(&zi2, &zi2, &zi);
    PF(mul)(y, &a->y, &zi2);
}

/* y^2 == x^3 + b for affine coordinates. */
TPL bool PT(is_on_curve)(const PT_FIELD *x, const PT_FIELD *y)
{
    PT_FIELD lhs, rhs;
    PF(sqr)(&lhs, y);
    PF(sqr)(&rhs, x);
    PF(mul)(&rhs, &rhs, x);
    PF(add)(&rhs, &rhs, PT_B);
    return PF(eq)(&lhs, &rhs);
}

TPL void PT(neg)(PT(jac) *r, const PT(jac) *a)
{
    r->x = a->x;
    PF(neg)(&r->y, &a->y);
    r->z = a->z;
}

/* dbl-2009-l. Doubling infinity gives infinity (Z stays 0). */
TPL void PT(dbl)(PT(jac) *r, const PT(jac) *a)
{
    PT_FIELD A, B, C, D, E, F, t;
    PF(sqr)(&A, &a->x);
    PF(sqr)(&B, &a->y);
    PF(sqr)(&C, &B);
    PF(add)(&D, &a->x, &B);
    PF(sqr)(&D, &D);
    PF(sub)(&D, &D, &A);
    PF(sub)(&D, &D, &C);
    PF(dbl)(&D, &D);
    PF(dbl)(&E, &A);
    PF(add)(&E, &E, &A);
    PF(sqr)(&F, &E);
    /* Z3 first: it reads Y and Z, which r may alias. */
    PF(mul)(&t, &a->y, &a->z);
    PF(dbl)(&r->z, &t);
    PF(dbl)(&t, &D);
    PF(sub)(&r->x, &F, &t);
    PF(sub)(&t, &D, &r->x);
    PF(mul)(&t, &E, &t);
    PF(dbl)(&C, &C);
    PF(dbl)(&C, &C);
    PF(dbl)(&C, &C);
    PF(sub)(&r->y, &t, &C);
}

/* add-2007-bl with the special cases (infinity, equal points, opposite points). */
TPL void PT(add)(PT(jac) *r, const PT(jac) *a, const PT(jac) *b)
{
    if (PT(is_infinity)(a)) {
        *r = *b;
        return;
    }
    if (PT(is_infinity)(b)) {
        *r = *a;
        return;
    }
    PT_FIELD z1z1, z2z2, u1, u2, s1, s2, h, i, j, rr, v, t;
    PF(sqr)(&z1z1, &a->z);
    PF(sqr)(&z2z2, &b->z);
    PF(mul)(&u1, &a->x, &z2z2);
    PF(mul)(&u2, &b->x, &z1z1);
    PF(mul)(&s1, &a->y, &b->z);
    PF(mul)(&s1, &s1, &z2z2);
    PF(mul)(&s2, &b->y, &a->z);
    PF(mul)(&s2, &s2, &z1z1);
    PF(sub)(&h, &u2, &u1);
    PF(sub)(&rr, &s2, &s1);
    if (PF(is_zero)(&h)) {
        if (PF(is_zero)(&rr)) {
            PT(dbl)(r, a);
        } else {
            PT(set_infinity)(r);
        }
        return;
    }
    PF(dbl)(&rr, &rr);
    PF(dbl)(&i, &h);
    PF(sqr)(&i, &i);
    PF(mul)(&j, &h, &i);
    PF(mul)(&v, &u1, &i);
    /* Z3 = ((Z1 + Z2)^2 - Z1Z1 - Z2Z2) H, before r (which may alias a or b) is written. */
    PT_FIELD z3;
    PF(add)(&z3, &a->z, &b->z);
    PF(sqr)(&z3, &z3);
    PF(sub)(&z3, &z3, &z1z1);
    PF(sub)(&z3, &z3, &z2z2);
    PF(mul)(&z3, &z3, &h);
    /* X3 = r^2 - J - 2V */
    PT_FIELD x3, y3;
    PF(sqr)(&x3, &rr);
    PF(sub)(&x3, &x3, &j);
    PF(dbl)(&t, &v);
    PF(sub)(&x3, &x3, &t);
    /* Y3 = r (V - X3) - 2 S1 J */
    PF(sub)(&t, &v, &x3);
    PF(mul)(&y3, &rr, &t);
    PF(mul)(&t, &s1, &j);
    PF(dbl)(&t, &t);
    PF(sub)(&y3, &y3, &t);
    r->x = x3;
    r->y = y3;
    r->z = z3;
}

/* a == b as points (projective equality, infinity equal only to itself). */
TPL bool PT(eq)(const PT(jac) *a, const PT(jac) *b)
{
    bool ia = PT(is_infinity)(a), ib = PT(is_infinity)(b);
    if (ia || ib) return ia && ib;
    PT_FIELD z1z1, z2z2, l, r;
    PF(sqr)(&z1z1, &a->z);
    PF(sqr)(&z2z2, &b->z);
    PF(mul)(&l, &a->x, &z2z2);
    PF(mul)(&r, &b->x, &z1z1);
    if (!PF(eq)(&l, &r)) return false;
    PF(mul)(&l, &a->y, &z2z2);
    PF(mul)(&l, &l, &b->z);
    PF(mul)(&r, &b->y, &z1z1);
    PF(mul)(&r, &r, &a->z);
    return PF(eq)(&l, &r);
}

/*
 * r = [k]a for a big-endian scalar of len bytes (any value; not reduced). Fixed 4-bit windows
 * over a table of 16 multiples: about 256 doublings and 64 additions for 32 bytes.
 */
TPL void PT(mul_bytes)(PT(jac) *r, const PT(jac) *a, const uint8_t *k, size_t len)
{
    PT(jac) table[16];
    PT(jac) acc;
    PT(set_infinity)(&table[0]);
    table[1] = *a;
    for (int i = 2; i < 16; i++) {
        if (i % 2 == 0) {
            PT(dbl)(&table[i], &table[i / 2]);
        } else {
            PT(add)(&table[i], &table[i - 1], a);
        }
    }
    PT(set_infinity)(&acc);
    for (size_t i = 0; i < len; i++) {
        for (int half = 0; half < 2; half++) {
            unsigned nibble = half == 0 ? (unsigned)(k[i] >> 4) : (unsigned)(k[i] & 15);
            if (!PT(is_infinity)(&acc)) {
                PT(dbl)(&acc, &acc);
                PT(dbl)(&acc, &acc);
                PT(dbl)(&acc, &acc);
                PT(dbl)(&acc, &acc);
            }
            if (nibble != 0) PT(add)(&acc, &acc, &table[nibble]);
        }
    }
    *r = acc;
}
