/* Unsigned 128-bit (and 192-bit products) arithmetic in 64-bit words: clang's BPF target has
 * no __int128. Division is Knuth's algorithm D on 32-bit digits (as in Hacker's Delight,
 * divlu): exact, no floating point, no signed division. */
#ifndef MATH128_H
#define MATH128_H
#include "sbf.h"

typedef struct { u64 lo, hi; } U128;

#define M32 0xffffffffUL

INLINE void mul64(u64 a, u64 b, U128 *r) {
    u64 al = a & M32, ah = a >> 32, bl = b & M32, bh = b >> 32;
    u64 ll = al * bl, lh = al * bh, hl = ah * bl, hh = ah * bh;
    u64 mid = (ll >> 32) + (lh & M32) + (hl & M32);
    r->lo = (ll & M32) | (mid << 32);
    r->hi = hh + (lh >> 32) + (hl >> 32) + (mid >> 32);
}
INLINE int u128_lt(const U128 *a, const U128 *b) { return a->hi < b->hi || (a->hi == b->hi && a->lo < b->lo); }
INLINE int u128_is_zero(const U128 *a) { return (a->lo | a->hi) == 0; }
/* a += b; returns the carry out */
INLINE int u128_add(U128 *a, const U128 *b) {
    u64 lo = a->lo + b->lo, c = lo < a->lo;
    u64 hi = a->hi + b->hi;
    int carry = hi < a->hi;
    u64 hi2 = hi + c;
    carry |= hi2 < hi;
    a->lo = lo;
    a->hi = hi2;
    return carry;
}
/* a -= b (b <= a) */
INLINE void u128_sub(U128 *a, const U128 *b) {
    u64 borrow = a->lo < b->lo;
    a->lo -= b->lo;
    a->hi = a->hi - b->hi - borrow;
}

INLINE int nlz64(u64 x) {
    int n = 0;
    if (!(x >> 32)) { n += 32; x <<= 32; }
    if (!(x >> 48)) { n += 16; x <<= 16; }
    if (!(x >> 56)) { n += 8; x <<= 8; }
    if (!(x >> 60)) { n += 4; x <<= 4; }
    if (!(x >> 62)) { n += 2; x <<= 2; }
    if (!(x >> 63)) n += 1;
    return n;
}

/* (u1 * 2^64 + u0) / v for v != 0 and u1 < v; *rem = the remainder */
NOINLINE u64 divlu(u64 u1, u64 u0, u64 v, u64 *rem) {
    const u64 b = 1UL << 32;
    int s = nlz64(v);
    v <<= s;
    u64 vn1 = v >> 32, vn0 = v & M32;
    u64 un32 = s ? (u1 << s) | (u0 >> (64 - s)) : u1;
    u64 un10 = u0 << s;
    u64 un1 = un10 >> 32, un0 = un10 & M32;
    u64 q1 = un32 / vn1, rhat = un32 - q1 * vn1;
    while (q1 >= b || q1 * vn0 > b * rhat + un1) {
        q1--;
        rhat += vn1;
        if (rhat >= b) break;
    }
    u64 un21 = un32 * b + un1 - q1 * v;
    u64 q0 = un21 / vn1;
    rhat = un21 - q0 * vn1;
    while (q0 >= b || q0 * vn0 > b * rhat + un0) {
        q0--;
        rhat += vn1;
        if (rhat >= b) break;
    }
    *rem = (un21 * b + un0 - q0 * v) >> s;
    return q1 * b + q0;
}

/* q = u / v, r = u % v for v != 0 (q and r may be NULL) */
NOINLINE void u128_divmod(const U128 *u, const U128 *v, U128 *q, U128 *r) {
    U128 qq, rr;
    if ((u->hi | v->hi) == 0) { /* both fit in 64 bits: one native division */
        qq.lo = u->lo / v->lo;
        qq.hi = 0;
        rr.lo = u->lo - qq.lo * v->lo;
        rr.hi = 0;
    } else if (v->hi == 0 && v->lo <= M32) { /* a 32-bit divisor: four native divisions */
        u64 d = v->lo, c = u->hi >> 32, q3 = c / d, rem = c - q3 * d;
        c = rem << 32 | (u->hi & M32);
        u64 q2 = c / d;
        rem = c - q2 * d;
        c = rem << 32 | u->lo >> 32;
        u64 q1 = c / d;
        rem = c - q1 * d;
        c = rem << 32 | (u->lo & M32);
        u64 q0 = c / d;
        rr.lo = c - q0 * d;
        rr.hi = 0;
        qq.hi = q3 << 32 | q2;
        qq.lo = q1 << 32 | q0;
    } else if (v->hi == 0) {
        u64 rem;
        qq.hi = u->hi / v->lo;
        u64 rh = u->hi - qq.hi * v->lo;
        qq.lo = divlu(rh, u->lo, v->lo, &rem);
        rr.lo = rem;
        rr.hi = 0;
    } else {
        int n = nlz64(v->hi);
        u64 v1 = n ? (v->hi << n) | (v->lo >> (64 - n)) : v->hi;
        u64 rem;
        u64 q1 = divlu(u->hi >> 1, (u->lo >> 1) | (u->hi << 63), v1, &rem) >> (63 - n);
        if (q1) q1--;
        U128 t; /* q1 * v < 2^128 */
        mul64(q1, v->lo, &t);
        t.hi += q1 * v->hi;
        rr = *u;
        u128_sub(&rr, &t);
        if (!u128_lt(&rr, v)) {
            q1++;
            u128_sub(&rr, v);
        }
        qq.lo = q1;
        qq.hi = 0;
    }
    if (q) *q = qq;
    if (r) *r = rr;
}

/* floor(a * b / c) and ceil(a * b / c) for u64 a, b and c != 0; *overflow = 1 when the
 * quotient does not fit in 64 bits (the value returned is then meaningless) */
NOINLINE u64 mul_div(u64 a, u64 b, u64 c, int round_up, int *overflow) {
    U128 p, d = {c, 0}, q, r;
    mul64(a, b, &p);
    if (p.hi == 0) { /* the product fits in 64 bits */
        u64 qq = p.lo / c;
        *overflow = 0;
        return qq + (round_up && qq * c != p.lo);
    }
    u128_divmod(&p, &d, &q, &r);
    if (round_up && !u128_is_zero(&r)) {
        U128 one = {1, 0};
        if (u128_add(&q, &one)) q.hi = ~0UL;
    }
    *overflow = q.hi != 0;
    return q.lo;
}

/* p * n as 192 bits: *hi = bits 64..191, returns bits 0..63 */
INLINE u64 mul128x64(const U128 *p, u64 n, U128 *hi) {
    U128 a, b;
    mul64(p->lo, n, &a);
    mul64(p->hi, n, &b);
    u64 w1 = a.hi + b.lo, c = w1 < a.hi;
    hi->lo = w1;
    hi->hi = b.hi + c;
    return a.lo;
}

/* integer square root of a 128-bit value (floor), bit by bit */
NOINLINE u64 isqrt128(const U128 *x) {
    U128 rem = *x;
    u64 res = 0;
    for (int bit = 63; bit >= 0; bit--) {
        /* candidate (res | 1<<bit)^2 <= x ? */
        u64 c = res | (1UL << bit);
        U128 sq;
        mul64(c, c, &sq);
        if (!u128_lt(&rem, &sq)) res = c;
    }
    return res;
}

#endif
