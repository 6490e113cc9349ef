/* A liquidity-book AMM at Meteora DLMM's program id (LBUZKhRxPF3XUpBCjp4YzTKgLccjZhTSDM9YuVaPwxo)
 * that takes Meteora's real `swap2` instruction and keeps its state in accounts laid out as
 * Meteora's (lb_clmm IDL 0.12.0, MeteoraAg/dlmm-sdk idls/dlmm.json: LbPair, BinArray,
 * BinArrayBitmapExtension, Oracle). The swap follows Meteora's published maths (lb_clmm
 * state/{bin,lb_pair,parameters,oracle}.rs, dlmm-sdk commons/src/quote.rs); our own code, and
 * the same maths as the project's shared/dex/dlmm.py. See programs/README.md for what is
 * simplified. */
#include "sbf.h"
#include "math128.h"

static const u8 IX_SWAP2[8] = {65, 75, 63, 76, 235, 91, 91, 136};
static const u8 D_LB_PAIR[8] = {33, 11, 49, 98, 181, 101, 177, 13};
static const u8 D_BIN_ARRAY[8] = {92, 142, 92, 220, 5, 148, 70, 181};
static const u8 D_ORACLE[8] = {139, 194, 131, 179, 140, 179, 229, 244};
static const u8 D_BITMAP_EXT[8] = {80, 111, 124, 113, 55, 237, 18, 5};

/* the event authority of this program id: PDA [b"__event_authority"]
 * (D1ZN9Wj1fRSUQfCjhvnu1hqDMT7hzjzBBpi12nVniYD6) */
static const Pk EVENT_AUTHORITY = {{178, 112, 214, 127, 169, 140, 81, 207, 2, 19, 5, 19, 88, 150, 43, 175, 53,
                                    116, 43, 237, 89, 201, 217, 68, 94, 156, 13, 12, 133, 199, 205, 145}};

/* lb_clmm's LBError (IDL) */
#define E_INVALID_INPUT 6002
#define E_SLIPPAGE 6003
#define E_BIN_ARRAY_NOT_FOUND 6009
#define E_INVALID_TOKEN_MINT 6010
#define E_INSUFFICIENT_LIQUIDITY 6012
#define E_MATH_OVERFLOW 6018
#define E_TYPE_CAST_FAILED 6019
#define E_INVALID_BIN_ARRAY 6027
#define E_POOL_DISABLED 6042
#define E_INVALID_POOL_TYPE 6043
#define E_NOT_SUPPORT_MINT 6069
#define E_INSUFFICIENT_REMAINING_ACCOUNTS 6074
#define E_INVALID_BIN_ID 6001

#define BASIS_POINT_MAX 10000UL
#define FEE_PRECISION 1000000000UL
#define MAX_FEE_RATE 100000000UL
#define BINS_PER_ARRAY 70
#define MIN_BIN_ID (-443636L)
#define MAX_BIN_ID 443636L
#define BITMAP_SIZE 512L /* BIN_ARRAY_BITMAP_SIZE: internal bitmap covers array indexes [-512, 511] */
#define EXT_BITMAP_ROWS 12
#define SAMPLE_LIFETIME 120

/* LbPair (bytemuck, 8-byte discriminator first) */
#define P_BASE_FACTOR 8
#define P_FILTER_PERIOD 10
#define P_DECAY_PERIOD 12
#define P_REDUCTION_FACTOR 14
#define P_VARIABLE_FEE_CONTROL 16
#define P_MAX_VA 20
#define P_PROTOCOL_SHARE 32
#define P_BASE_FEE_POWER 34
#define P_FUNCTION_TYPE 35
#define P_COLLECT_FEE_MODE 36
#define P_VA 40
#define P_VR 44
#define P_INDEX_REFERENCE 48
#define P_LAST_UPDATE 56
#define P_BUMP 72
#define P_BIN_STEP_SEED 73
#define P_PAIR_TYPE 75
#define P_ACTIVE_ID 76
#define P_BIN_STEP 80
#define P_STATUS 82
#define P_REQUIRE_BASE_FACTOR_SEED 83
#define P_BASE_FACTOR_SEED 84
#define P_ACTIVATION_TYPE 86
#define P_TOKEN_X_MINT 88
#define P_TOKEN_Y_MINT 120
#define P_RESERVE_X 152
#define P_RESERVE_Y 184
#define P_PROTOCOL_FEE_X 216
#define P_PROTOCOL_FEE_Y 224
#define P_ORACLE 552
#define P_BITMAP 584
#define P_BASE_KEY 784
#define P_ACTIVATION_POINT 816
#define LB_PAIR_LEN 904

/* BinArray: index i64 @8, version @16, lb_pair @24, bins @56 (144 bytes each) */
#define BA_INDEX 8
#define BA_LB_PAIR 24
#define BA_BINS 56
#define BIN_SIZE 144
#define BIN_ARRAY_LEN (BA_BINS + BINS_PER_ARRAY * BIN_SIZE)
/* Bin */
#define B_AMOUNT_X 0
#define B_AMOUNT_Y 8
#define B_PRICE 16
#define B_LIQUIDITY_SUPPLY 32
#define B_FEE_X_PER_TOKEN 80
#define B_FEE_Y_PER_TOKEN 96
/* BinArrayBitmapExtension */
#define X_LB_PAIR 8
#define X_POSITIVE 40
#define X_NEGATIVE 808
#define BITMAP_EXT_LEN 1576
/* Oracle: idx @8, active_size @16, length @24, then Observation {i128 cumulative_active_bin_id,
 * i64 created_at, i64 last_updated_at} x length */
#define O_IDX 8
#define O_ACTIVE_SIZE 16
#define O_LENGTH 24
#define O_OBSERVATIONS 32
#define OBSERVATION_SIZE 32

#define MAX_ARRAYS 48

enum {
    LB_PAIR, BITMAP_EXT, RESERVE_X, RESERVE_Y, USER_TOKEN_IN, USER_TOKEN_OUT, TOKEN_X_MINT, TOKEN_Y_MINT,
    ORACLE, HOST_FEE_IN, USER, TOKEN_X_PROGRAM, TOKEN_Y_PROGRAM, MEMO, EVENT_AUTH, PROGRAM, NAMED
};

typedef struct {
    u8 *pair;
    const Pk *pair_key, *pid;
    const u8 *ext; /* the bitmap extension's data, or 0 (None) */
    AI *arrays[MAX_ARRAYS];
    u64 narrays;
    int sfy; /* swap for y: X in, Y out */
    u64 bin_step, base_rate, vfc, max_va, protocol_share;
    i64 active, ref;
    u64 va, vr;
    u64 left, out, fee, protocol_fee;
} Ctx;

NOINLINE u64 check_program_account(const AI *a, const Pk *pid, const u8 *disc, u64 len) {
    if (!pk_eq(a->owner, pid)) return A_OWNED_BY_WRONG_PROGRAM;
    if (a->data_len < 8) return A_DISCRIMINATOR_NOT_FOUND;
    if (!bytes_eq8(a->data, disc)) return A_DISCRIMINATOR_MISMATCH;
    if (a->data_len < len) return A_ACCOUNT_DID_NOT_DESERIALIZE;
    return 0;
}

/* floor(id / 70) for a signed id, without signed division */
INLINE i64 array_index_of(i64 id) {
    if (id >= 0) return (i64)((u64)id / BINS_PER_ARRAY);
    return -(i64)(((u64)(-id) + BINS_PER_ARRAY - 1) / BINS_PER_ARRAY);
}

/* ---------------------------------------------------------------- the bin-array bitmaps */

/* The word holding bin array `idx`'s bit: the LbPair's bitmap for [-512, 511], the extension's
 * beyond; *bit its position, *ascending whether bits rise with idx. 0 when idx has no bit. */
NOINLINE const u64 *bitmap_word(const Ctx *c, i64 idx, int *bit, int *ascending) {
    *ascending = 1;
    if (idx >= -BITMAP_SIZE && idx < BITMAP_SIZE) {
        u64 off = (u64)(idx + BITMAP_SIZE);
        *bit = (int)(off & 63);
        return (const u64 *)(c->pair + P_BITMAP) + (off >> 6);
    }
    if (!c->ext) return 0;
    if (idx >= BITMAP_SIZE) {
        u64 row = (u64)idx / BITMAP_SIZE - 1, col = (u64)idx % BITMAP_SIZE;
        if (row >= EXT_BITMAP_ROWS) return 0;
        *bit = (int)(col & 63);
        return (const u64 *)(c->ext + X_POSITIVE) + row * 8 + (col >> 6);
    }
    u64 j = (u64)(-(idx + 1)), row = j / BITMAP_SIZE - 1, col = j % BITMAP_SIZE;
    if (row >= EXT_BITMAP_ROWS) return 0;
    *ascending = 0;
    *bit = (int)(col & 63);
    return (const u64 *)(c->ext + X_NEGATIVE) + row * 8 + (col >> 6);
}

/* The first bin array at or after `start` (walking `dir`) that has liquidity; 0 on success,
 * E_INSUFFICIENT_LIQUIDITY when the bitmaps have none left. Whole zero words are skipped. */
NOINLINE u64 next_array_with_liquidity(const Ctx *c, i64 start, i64 dir, i64 *found) {
    i64 idx = start;
    for (;;) {
        int bit, asc;
        const u64 *w = bitmap_word(c, idx, &bit, &asc);
        if (!w) return E_INSUFFICIENT_LIQUIDITY;
        u64 word = *w;
        if ((word >> bit) & 1) {
            *found = idx;
            return 0;
        }
        /* bits left in this word in the walking direction */
        int up = (dir > 0) == (asc != 0);
        u64 rest = up ? (bit == 63 ? 0 : word >> (bit + 1)) : (bit == 0 ? 0 : word << (64 - bit));
        if (rest == 0) idx += dir * (i64)(up ? 64 - bit : bit + 1);
        else idx += dir;
    }
}

NOINLINE u8 *find_array(const Ctx *c, i64 idx) {
    for (u64 k = 0; k < c->narrays; k++) {
        u8 *d = c->arrays[k]->data;
        if (RDI64(d + BA_INDEX) == idx) return d;
    }
    return 0;
}

/* ---------------------------------------------------------------- fees */

/* ceil(u / d) for u < 2^128, 0 < d < 2^64 */
NOINLINE void ceil_div_u128(U128 *u, u64 d) {
    U128 den = {d, 0}, r;
    u128_divmod(u, &den, u, &r);
    if (!u128_is_zero(&r)) {
        U128 one = {1, 0};
        u128_add(u, &one);
    }
}

/* total fee rate (1e9 = 100%): base + ceil(vfc * (va * bin_step)^2 / 1e11), capped at 10% */
NOINLINE u64 total_fee_rate(const Ctx *c, u64 va) {
    u64 rate = c->base_rate;
    if (c->vfc) {
        U128 sq, v, hi;
        u64 s = va * c->bin_step; /* < 2^32 * 2^16 */
        mul64(s, s, &sq);
        v.lo = mul128x64(&sq, c->vfc, &hi);
        v.hi = hi.lo;
        if (hi.hi) return MAX_FEE_RATE;
        ceil_div_u128(&v, 100000000000UL);
        if (v.hi || v.lo >= MAX_FEE_RATE) return MAX_FEE_RATE;
        rate += v.lo;
    }
    return rate < MAX_FEE_RATE ? rate : MAX_FEE_RATE;
}

/* ---------------------------------------------------------------- one bin */

/* ceil((amount << 64) / price) (X in for Y out) or ceil(amount * price >> 64) (Y in for X out):
 * the input that takes `amount` out of a bin; E_TYPE_CAST_FAILED past a u64 */
NOINLINE u64 amount_in_for(const U128 *price, u64 amount, int sfy, u64 *result) {
    U128 q;
    int rem;
    if (sfy) {
        U128 num = {0, amount}, r;
        u128_divmod(&num, price, &q, &r);
        rem = !u128_is_zero(&r);
    } else {
        u64 w0 = mul128x64(price, amount, &q);
        rem = w0 != 0;
    }
    if (q.hi || (rem && q.lo == ~0UL)) return E_TYPE_CAST_FAILED;
    *result = q.lo + (u64)rem;
    return 0;
}

/* floor(price * amount >> 64) (X in, Y out) or floor((amount << 64) / price) (Y in, X out) */
NOINLINE u64 amount_out_for(const U128 *price, u64 amount, int sfy, u64 *result) {
    U128 q;
    if (sfy) mul128x64(price, amount, &q);
    else {
        U128 num = {0, amount};
        u128_divmod(&num, price, &q, 0);
    }
    if (q.hi) return E_TYPE_CAST_FAILED;
    *result = q.lo;
    return 0;
}

/* The swap in the active bin (its output side is not empty): quote.rs'
 * swap_exact_in_quote_at_bin without limit orders, then Bin::swap's state update. */
NOINLINE u64 swap_in_bin(Ctx *c, u8 *bin) {
    u64 *bx = (u64 *)(bin + B_AMOUNT_X), *by = (u64 *)(bin + B_AMOUNT_Y);
    u64 side = c->sfy ? *by : *bx;
    u64 delta = (u64)(c->ref > c->active ? c->ref - c->active : c->active - c->ref);
    u64 va = c->vr + delta * BASIS_POINT_MAX;
    c->va = va < c->max_va ? va : c->max_va;
    u64 rate = total_fee_rate(c, c->va);
    U128 price = {RD64(bin + B_PRICE), RD64(bin + B_PRICE + 8)};
    if (u128_is_zero(&price)) return E_INVALID_BIN_ID; /* prices are stored (see README) */
    u64 err, max_in, used, out, fee;
    int of = 0;
    if ((err = amount_in_for(&price, side, c->sfy, &max_in))) return err;
    fee = mul_div(c->left, rate, FEE_PRECISION, 1, &of); /* compute_fee_from_amount */
    u64 net = c->left - fee;
    if (net > max_in) { /* the bin is emptied, the rest moves on */
        fee = mul_div(max_in, rate, FEE_PRECISION - rate, 1, &of); /* compute_fee */
        if (of) return E_MATH_OVERFLOW;
        used = max_in + fee;
        out = side;
    } else if (net == max_in) {
        used = c->left;
        out = side;
    } else {
        used = c->left;
        if ((err = amount_out_for(&price, net, c->sfy, &out))) return err;
        if (out > side) out = side;
    }
    u64 into = used - fee;
    u64 protocol = c->protocol_share ? mul_div(fee, c->protocol_share, BASIS_POINT_MAX, 0, &of) : 0;
    if (c->sfy) {
        if (*bx + into < *bx) return E_MATH_OVERFLOW;
        *bx += into;
        *by -= out;
    } else {
        if (*by + into < *by) return E_MATH_OVERFLOW;
        *by += into;
        *bx -= out;
    }
    /* update_fee_per_token_stored(fee - protocol_fee): (lp_fee << 64) / (liquidity_supply >> 64) */
    u64 supply = RD64(bin + B_LIQUIDITY_SUPPLY + 8);
    if (supply && fee > protocol) {
        U128 num = {0, fee - protocol}, den = {supply, 0}, q;
        u128_divmod(&num, &den, &q, 0);
        u8 *stored = bin + (c->sfy ? B_FEE_X_PER_TOKEN : B_FEE_Y_PER_TOKEN);
        U128 acc = {RD64(stored), RD64(stored + 8)};
        if (u128_add(&acc, &q)) return E_MATH_OVERFLOW;
        WR64(stored, acc.lo);
        WR64(stored + 8, acc.hi);
    }
    c->left -= used;
    if (c->out + out < c->out) return E_MATH_OVERFLOW;
    c->out += out;
    c->fee += fee;
    c->protocol_fee += protocol;
    return 0;
}

/* The swap loop: bin array by bin array (skipping arrays without liquidity, as the bitmap
 * says), bin by bin within one. */
NOINLINE u64 walk(Ctx *c) {
    i64 dir = c->sfy ? -1 : 1;
    for (;;) {
        i64 idx = array_index_of(c->active), found;
        u64 err = next_array_with_liquidity(c, idx, dir, &found);
        if (err) return err;
        if (found != idx) c->active = found * BINS_PER_ARRAY + (c->sfy ? BINS_PER_ARRAY - 1 : 0);
        u8 *array = find_array(c, found);
        if (!array) return E_BIN_ARRAY_NOT_FOUND;
        i64 lo = found * BINS_PER_ARRAY;
        for (;;) {
            u8 *bin = array + BA_BINS + (u64)(c->active - lo) * BIN_SIZE;
            u64 side = c->sfy ? RD64(bin + B_AMOUNT_Y) : RD64(bin + B_AMOUNT_X);
            if (side) {
                if ((err = swap_in_bin(c, bin))) return err;
                if (!c->left) return 0;
            }
            i64 next = c->active + dir;
            if (next < MIN_BIN_ID || next > MAX_BIN_ID) return E_INSUFFICIENT_LIQUIDITY;
            c->active = next;
            if (next < lo || next >= lo + BINS_PER_ARRAY) break;
        }
    }
}

/* ---------------------------------------------------------------- the oracle */

/* DynamicOracle::update(active_id, now) (lb_clmm state/oracle.rs); cumulative_active_bin_id
 * is an i128 kept as two's complement words */
NOINLINE u64 oracle_update(u8 *oracle, u64 oracle_len, i64 active_id, i64 now) {
    u64 length = RD64(oracle + O_LENGTH);
    if (length == 0 || O_OBSERVATIONS + length * OBSERVATION_SIZE > oracle_len) return E_MATH_OVERFLOW;
    if (RD64(oracle + O_ACTIVE_SIZE) == 0) WR64(oracle + O_ACTIVE_SIZE, 1);
    u64 idx = RD64(oracle + O_IDX);
    if (idx >= length) return E_MATH_OVERFLOW;
    u8 *s = oracle + O_OBSERVATIONS + idx * OBSERVATION_SIZE;
    i64 created = RDI64(s + 16), updated = RDI64(s + 24);
    int initialized = created > 0 && updated > 0;
    U128 cum;
    if (initialized) {
        u64 delta = (u64)(now - updated), mag = (u64)(active_id < 0 ? -active_id : active_id);
        U128 d;
        mul64(mag, delta, &d);
        if (active_id < 0) { /* negate */
            d.lo = ~d.lo;
            d.hi = ~d.hi;
            U128 one = {1, 0};
            u128_add(&d, &one);
        }
        cum.lo = RD64(s);
        cum.hi = RD64(s + 8);
        u128_add(&cum, &d);
    } else {
        cum.lo = (u64)active_id;
        cum.hi = active_id < 0 ? ~0UL : 0;
    }
    if (initialized && now >= created + SAMPLE_LIFETIME) { /* next_reset */
        idx = (idx + 1) % length;
        WR64(oracle + O_IDX, idx);
        s = oracle + O_OBSERVATIONS + idx * OBSERVATION_SIZE;
        if (!(RDI64(s + 16) > 0 && RDI64(s + 24) > 0)) {
            u64 size = RD64(oracle + O_ACTIVE_SIZE) + 1;
            WR64(oracle + O_ACTIVE_SIZE, size < length ? size : length);
        }
        zero_bytes(s, OBSERVATION_SIZE);
    }
    WR64(s, cum.lo); /* Observation::update: cumulative, last_updated_at, then created_at */
    WR64(s + 8, cum.hi);
    WR64(s + 24, now);
    if (!(RDI64(s + 16) > 0 && RDI64(s + 24) > 0)) WR64(s + 16, now);
    return 0;
}

/* ---------------------------------------------------------------- swap2 */

/* the LbPair's signer seeds (LbPair::seeds), into `s` (5 slots); returns the count or 0 */
NOINLINE u64 pair_seeds(const u8 *pair, Seed *s) {
    const u8 *mx = pair + P_TOKEN_X_MINT, *my = pair + P_TOKEN_Y_MINT;
    int x_first = pk_cmp(mx, my) < 0;
    const u8 *lo = x_first ? mx : my, *hi = x_first ? my : mx;
    u8 type = pair[P_PAIR_TYPE];
    u64 n = 0;
    if (type == 1 || type == 2) s[n++] = (Seed){pair + P_BASE_KEY, 32};
    s[n++] = (Seed){lo, 32};
    s[n++] = (Seed){hi, 32};
    if (type == 2) { /* CustomizablePermissionless: [base, min, max, bump] */
    } else if (type == 1) {
        s[n++] = (Seed){pair + P_BIN_STEP_SEED, 2};
    } else if (type == 0) {
        s[n++] = (Seed){pair + P_BIN_STEP_SEED, 2};
        if (pair[P_REQUIRE_BASE_FACTOR_SEED]) s[n++] = (Seed){pair + P_BASE_FACTOR_SEED, 2};
    } else {
        return 0;
    }
    s[n++] = (Seed){pair + P_BUMP, 1};
    return n;
}

NOINLINE u64 check_accounts(AI *a, const Pk *pid) {
    u64 err;
    AI *pa = &a[LB_PAIR];
    if ((err = check_program_account(pa, pid, D_LB_PAIR, LB_PAIR_LEN))) return err;
    if (!pa->is_writable) return A_CONSTRAINT_MUT;
    if (!pk_eq(a[BITMAP_EXT].key, pid)) {
        if ((err = check_program_account(&a[BITMAP_EXT], pid, D_BITMAP_EXT, BITMAP_EXT_LEN))) return err;
        if (!pk_eq(a[BITMAP_EXT].data + X_LB_PAIR, pa->key)) return A_CONSTRAINT_HAS_ONE;
    }
    for (int i = RESERVE_X; i <= USER_TOKEN_OUT; i++) {
        if ((err = check_token_account(&a[i]))) return err;
        if (!a[i].is_writable) return A_CONSTRAINT_MUT;
    }
    const u8 *pair = pa->data, *in_mint = a[USER_TOKEN_IN].data + TA_MINT, *out_mint = a[USER_TOKEN_OUT].data + TA_MINT;
    const u8 *mx = pair + P_TOKEN_X_MINT, *my = pair + P_TOKEN_Y_MINT;
    if (pk_eq(in_mint, out_mint)) return E_INVALID_TOKEN_MINT;
    if (!pk_eq(in_mint, mx) && !pk_eq(in_mint, my)) return E_INVALID_TOKEN_MINT;
    if (!pk_eq(out_mint, mx) && !pk_eq(out_mint, my)) return E_INVALID_TOKEN_MINT;
    if ((err = check_mint(&a[TOKEN_X_MINT])) || (err = check_mint(&a[TOKEN_Y_MINT]))) return err;
    if ((err = check_program_account(&a[ORACLE], pid, D_ORACLE, O_OBSERVATIONS))) return err;
    if (!a[ORACLE].is_writable) return A_CONSTRAINT_MUT;
    if (!pk_eq(a[HOST_FEE_IN].key, pid)) return E_INVALID_INPUT; /* host fees: not supported */
    if (!a[USER].is_signer) return A_ACCOUNT_NOT_SIGNER;
    if ((err = check_token_program(&a[TOKEN_X_PROGRAM])) || (err = check_token_program(&a[TOKEN_Y_PROGRAM]))) return err;
    if (!pk_eq(a[MEMO].key, &MEMO_PROGRAM)) return A_INVALID_PROGRAM_ID;
    if (!pk_eq(a[EVENT_AUTH].key, &EVENT_AUTHORITY)) return A_CONSTRAINT_SEEDS;
    if (!pk_eq(a[PROGRAM].key, pid)) return A_INVALID_PROGRAM_ID;
    /* has_one = reserve_x, reserve_y, token_x_mint, token_y_mint, oracle */
    if (!pk_eq(a[RESERVE_X].key, pair + P_RESERVE_X) || !pk_eq(a[RESERVE_Y].key, pair + P_RESERVE_Y) ||
        !pk_eq(a[TOKEN_X_MINT].key, mx) || !pk_eq(a[TOKEN_Y_MINT].key, my) || !pk_eq(a[ORACLE].key, pair + P_ORACLE))
        return A_CONSTRAINT_HAS_ONE;
    /* Token-2022 (transfer fees, hooks) is not modelled */
    if (!pk_eq(a[TOKEN_X_MINT].owner, &TOKEN_PROGRAM) || !pk_eq(a[TOKEN_Y_MINT].owner, &TOKEN_PROGRAM))
        return E_NOT_SUPPORT_MINT;
    return 0;
}

NOINLINE u64 swap2(const Input *in) {
    AI *a = in->ai;
    const Pk *pid = in->program_id;
    const u8 *data = in->data;
    u64 dlen = in->data_len, err;
    if (in->n < NAMED) return A_NOT_ENOUGH_KEYS;
    if (dlen < 28) return A_INSTRUCTION_DID_NOT_DESERIALIZE;
    u64 amount_in = rd64u(data + 8), min_out = rd64u(data + 16);
    /* remaining_accounts_info: Vec<RemainingAccountsSlice { accounts_type: AccountsType, length: u8 }> */
    u64 nslices = (u64)data[24] | (u64)data[25] << 8 | (u64)data[26] << 16 | (u64)data[27] << 24;
    u64 p = 28, hooks = 0;
    for (u64 k = 0; k < nslices; k++) {
        if (p + 2 > dlen) return A_INSTRUCTION_DID_NOT_DESERIALIZE;
        u8 tag = data[p++];
        if (tag > 4) return A_INSTRUCTION_DID_NOT_DESERIALIZE;
        if (tag == 3) { /* TransferHookMultiReward(u8) */
            p++;
            if (p + 1 > dlen) return A_INSTRUCTION_DID_NOT_DESERIALIZE;
        }
        hooks += data[p++];
    }
    if (in->n < NAMED + hooks) return E_INSUFFICIENT_REMAINING_ACCOUNTS;
    if ((err = check_accounts(a, pid))) return err;

    Ctx *c = (Ctx *)(HEAP + 4608);
    u8 *pair = a[LB_PAIR].data;
    c->pair = pair;
    c->pair_key = a[LB_PAIR].key;
    c->pid = pid;
    c->ext = pk_eq(a[BITMAP_EXT].key, pid) ? 0 : a[BITMAP_EXT].data;
    c->narrays = 0;
    for (u64 k = NAMED + hooks; k < in->n; k++) {
        AI *b = &a[k];
        if (c->narrays == MAX_ARRAYS) return E_INVALID_BIN_ARRAY;
        if ((err = check_program_account(b, pid, D_BIN_ARRAY, BIN_ARRAY_LEN))) return err;
        if (!pk_eq(b->data + BA_LB_PAIR, a[LB_PAIR].key)) return E_INVALID_BIN_ARRAY;
        if (!b->is_writable) return A_ACCOUNT_NOT_MUTABLE;
        c->arrays[c->narrays++] = b;
    }

    Clock clock;
    sol_get_clock_sysvar(&clock);
    i64 now = clock.unix_timestamp;
    if (pair[P_STATUS] != 0) return E_POOL_DISABLED;
    u8 type = pair[P_PAIR_TYPE];
    if (type == 1 || type == 2) { /* permissioned launch pools open at activation_point */
        u64 point = pair[P_ACTIVATION_TYPE] == 0 ? clock.slot : (u64)now;
        if (point < RD64(pair + P_ACTIVATION_POINT)) return E_POOL_DISABLED;
    } else if (type != 0) {
        return E_INVALID_POOL_TYPE;
    }
    if (pair[P_COLLECT_FEE_MODE] != 0) return E_INVALID_INPUT; /* only fees on the input */
    if (amount_in == 0) return E_INVALID_INPUT;
    c->sfy = pk_eq(a[USER_TOKEN_OUT].data + TA_MINT, pair + P_TOKEN_Y_MINT);

    /* fee parameters */
    c->bin_step = RD16(pair + P_BIN_STEP);
    u64 base = (u64)RD16(pair + P_BASE_FACTOR) * c->bin_step * 10;
    for (u8 i = 0; i < pair[P_BASE_FEE_POWER]; i++) base *= 10;
    c->base_rate = base;
    c->vfc = RD32(pair + P_VARIABLE_FEE_CONTROL);
    c->max_va = RD32(pair + P_MAX_VA);
    c->protocol_share = RD16(pair + P_PROTOCOL_SHARE);

    /* update_references(now) */
    i64 active_before = RDI32(pair + P_ACTIVE_ID);
    c->active = active_before;
    c->va = RD32(pair + P_VA);
    c->vr = RD32(pair + P_VR);
    c->ref = RDI32(pair + P_INDEX_REFERENCE);
    i64 elapsed = now - RDI64(pair + P_LAST_UPDATE);
    if (elapsed >= (i64)RD16(pair + P_FILTER_PERIOD)) {
        c->ref = active_before;
        c->vr = elapsed < (i64)RD16(pair + P_DECAY_PERIOD) ? c->va * RD16(pair + P_REDUCTION_FACTOR) / BASIS_POINT_MAX : 0;
    }
    if ((err = oracle_update(a[ORACLE].data, a[ORACLE].data_len, active_before, now))) return err;

    c->left = amount_in;
    c->out = c->fee = c->protocol_fee = 0;
    if ((err = walk(c))) return err;
    if (c->out < min_out) return E_SLIPPAGE;

    WR32(pair + P_ACTIVE_ID, (u32)c->active);
    WR32(pair + P_VA, c->va);
    WR32(pair + P_VR, c->vr);
    WR32(pair + P_INDEX_REFERENCE, (u32)c->ref);
    WR64(pair + P_LAST_UPDATE, (u64)now);
    u64 pf_off = c->sfy ? P_PROTOCOL_FEE_X : P_PROTOCOL_FEE_Y, pf = RD64(pair + pf_off);
    if (pf + c->protocol_fee < pf) return E_MATH_OVERFLOW;
    WR64(pair + pf_off, pf + c->protocol_fee);

    int sfy = c->sfy;
    Transfer t = {a, in->n, &a[sfy ? TOKEN_X_PROGRAM : TOKEN_Y_PROGRAM], &a[USER_TOKEN_IN],
                  &a[sfy ? TOKEN_X_MINT : TOKEN_Y_MINT], &a[sfy ? RESERVE_X : RESERVE_Y], &a[USER], amount_in, 0};
    if ((err = token_transfer_checked(&t))) return err;
    Seed seeds[6];
    u64 nseeds = pair_seeds(pair, seeds);
    if (!nseeds) return E_INVALID_POOL_TYPE;
    Seeds signer = {seeds, nseeds};
    Transfer t2 = {a, in->n, &a[sfy ? TOKEN_Y_PROGRAM : TOKEN_X_PROGRAM], &a[sfy ? RESERVE_Y : RESERVE_X],
                   &a[sfy ? TOKEN_Y_MINT : TOKEN_X_MINT], &a[USER_TOKEN_OUT], &a[LB_PAIR], c->out, &signer};
    return token_transfer_checked(&t2);
}

u64 entrypoint(u8 *input) {
    Input *in = (Input *)(HEAP + 4096);
    u64 err = parse_input(input, (AI *)HEAP, 64, in);
    if (err) return err;
    if (in->data_len < 8) return A_INSTRUCTION_FALLBACK_NOT_FOUND;
    if (bytes_eq8(in->data, IX_SWAP2)) return swap2(in);
    return A_INSTRUCTION_FALLBACK_NOT_FOUND;
}
