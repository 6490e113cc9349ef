/* A constant-product AMM at Raydium CPMM's program id (CPMMoo8L3F4NbTegBCKVNunggL7H1ZpdTHKxQB5qKP1C)
 * that takes Raydium's real instructions and keeps its state in accounts laid out as Raydium's
 * (raydium-io/raydium-cp-swap, programs/cp-swap/src: states/pool.rs, states/config.rs,
 * states/oracle.rs, instructions/swap_base_input.rs, instructions/initialize.rs,
 * curve/calculator.rs, curve/fees.rs, error.rs). Our own code, written from those sources.
 *
 * Instructions: swap_base_input (exact in) and initialize (create a pool). Errors are Raydium's
 * (6000 + ErrorCode index) and Anchor's. See programs/README.md for what is simplified. */
#include "sbf.h"
#include "math128.h"

/* sha256("global:<name>")[..8] and sha256("account:<Name>")[..8], sha256("event:SwapEvent") */
static const u8 IX_SWAP_BASE_INPUT[8] = {143, 190, 90, 218, 196, 30, 51, 222};
static const u8 IX_INITIALIZE[8] = {175, 175, 109, 31, 13, 152, 155, 237};
static const u8 D_POOL_STATE[8] = {247, 237, 227, 245, 215, 195, 222, 70};
static const u8 D_AMM_CONFIG[8] = {218, 244, 33, 104, 203, 203, 43, 111};
static const u8 D_OBSERVATION[8] = {122, 174, 197, 53, 129, 9, 165, 132};
static const u8 EV_SWAP[8] = {64, 198, 205, 232, 38, 8, 113, 226};

static const char AUTH_SEED[] = "vault_and_lp_mint_auth_seed";
static const char POOL_SEED[] = "pool";
static const char POOL_VAULT_SEED[] = "pool_vault";
static const char POOL_LP_MINT_SEED[] = "pool_lp_mint";
static const char OBSERVATION_SEED[] = "observation";
#define SEED_LEN(s) (sizeof(s) - 1)

/* The vault and LP-mint authority of this program id: PDA [AUTH_SEED], canonical bump 253
 * (GpMZbSM2GgvTKHJirzeGfMFoaZ8UR2X7F4v8vHTvxFbL) */
static const Pk AUTHORITY = {{235, 0, 217, 245, 178, 146, 180, 33, 74, 199, 208, 55, 180, 214, 240, 100, 80, 185,
                              100, 96, 13, 243, 115, 5, 43, 181, 232, 79, 47, 142, 154, 103}};
#define AUTH_BUMP 253

/* create_pool_fee_reveiver::ID (mainnet): DNXgeM9EiiaAbaWvwjHj9fQQLAX5ZsfHyvmYUNRAdNC8 */
static const Pk CREATE_POOL_FEE_RECEIVER = {{183, 208, 34, 82, 84, 172, 7, 227, 178, 189, 63, 134, 193, 240,
                                             241, 16, 63, 192, 112, 140, 193, 90, 239, 20, 7, 58, 166, 69, 63,
                                             85, 234, 105}};

/* Raydium's ErrorCode */
#define E_NOT_APPROVED 6000
#define E_EMPTY_SUPPLY 6002
#define E_EXCEEDED_SLIPPAGE 6005
#define E_ZERO_TRADING_TOKENS 6006
#define E_NOT_SUPPORT_MINT 6007
#define E_INVALID_VAULT 6008
#define E_INIT_LP_AMOUNT_TOO_LESS 6009
#define E_MATH_OVERFLOW 6011
#define E_INSUFFICIENT_VAULT 6012
#define E_INVALID_FEE_MODEL 6013

#define FEE_RATE_DENOMINATOR 1000000UL

/* AmmConfig (borsh, after the discriminator) */
#define AC_DISABLE_CREATE_POOL 9
#define AC_TRADE_FEE_RATE 12
#define AC_PROTOCOL_FEE_RATE 20
#define AC_FUND_FEE_RATE 28
#define AC_CREATE_POOL_FEE 36
#define AC_CREATOR_FEE_RATE 108
#define AMM_CONFIG_LEN 236

/* PoolState (repr(C, packed)): several u64 fields are unaligned. The SBPF VM has no alignment
 * faults, so they are read and written with plain 8-byte loads and stores. */
#define PS_AMM_CONFIG 8
#define PS_POOL_CREATOR 40
#define PS_TOKEN_0_VAULT 72
#define PS_TOKEN_1_VAULT 104
#define PS_LP_MINT 136
#define PS_TOKEN_0_MINT 168
#define PS_TOKEN_1_MINT 200
#define PS_TOKEN_0_PROGRAM 232
#define PS_TOKEN_1_PROGRAM 264
#define PS_OBSERVATION_KEY 296
#define PS_AUTH_BUMP 328
#define PS_STATUS 329
#define PS_LP_MINT_DECIMALS 330
#define PS_MINT_0_DECIMALS 331
#define PS_MINT_1_DECIMALS 332
#define PS_LP_SUPPLY 333
#define PS_PROTOCOL_FEES_0 341
#define PS_PROTOCOL_FEES_1 349
#define PS_FUND_FEES_0 357
#define PS_FUND_FEES_1 365
#define PS_OPEN_TIME 373
#define PS_RECENT_EPOCH 381
#define PS_CREATOR_FEE_ON 389
#define PS_ENABLE_CREATOR_FEE 390
#define PS_CREATOR_FEES_0 397
#define PS_CREATOR_FEES_1 405
#define POOL_STATE_LEN 637

/* ObservationState (repr(C, packed)) */
#define OBS_INITIALIZED 8
#define OBS_INDEX 9
#define OBS_POOL_ID 11
#define OBS_OBSERVATIONS 43
#define OBS_SIZE 40 /* block_timestamp u64, cumulative_token_0_price_x32 u128, ..._1_... u128 */
#define OBS_NUM 100
#define OBS_LAST_UPDATE 4043
#define OBSERVATION_LEN 4075
#define OBSERVATION_UPDATE_DURATION 15

#define POOL_STATUS_SWAP_DISABLED 4

/* ---------------------------------------------------------------------------------------- */

/* An Account<T> / AccountLoader<T> of this program as Anchor loads it */
NOINLINE u64 check_program_account(const AI *a, const Pk *pid, const u8 *disc, u64 len) {
    if (!pk_eq(a->owner, pid)) return A_OWNED_BY_WRONG_PROGRAM;
    if (a->data_len < 8) return A_DISCRIMINATOR_NOT_FOUND;
    if (!bytes_eq8(a->data, disc)) return A_DISCRIMINATOR_MISMATCH;
    if (a->data_len < len) return A_ACCOUNT_DID_NOT_DESERIALIZE;
    return 0;
}

/* ceil(a * rate / 1e6) or floor: Raydium's Fees::{trading_fee, creator_fee} / {protocol,fund}_fee */
INLINE u64 fee_of(u64 amount, u64 rate, int round_up, int *overflow) {
    return mul_div(amount, rate, FEE_RATE_DENOMINATOR, round_up, overflow);
}

/* One swap_base_input, computed as CurveCalculator::swap_base_input does */
typedef struct {
    u64 amount_in, minimum_amount_out;
    u64 now, epoch;
    int zero_for_one, creator_fee_on_input;
    u64 x, y; /* input / output vault amounts without the pool's fees */
    U128 price_0, price_1; /* token_price_x32 before the swap */
    u64 trade_fee_rate, creator_fee_rate, protocol_fee_rate, fund_fee_rate;
    u64 less_fees, swapped, output, trade_fee, protocol_fee, fund_fee, creator_fee;
} Swap;

/* floor(a * 2^32 / b) as 128 bits */
INLINE void price_x32(u64 a, u64 b, U128 *out) {
    U128 num = {a << 32, a >> 32}, den = {b, 0};
    u128_divmod(&num, &den, out, 0);
}

/* PoolState::get_swap_params (vault_amount_without_fee, token_price_x32) */
NOINLINE u64 swap_params(Swap *s, const u8 *pool, const AI *input_vault, const AI *output_vault) {
    u64 in_amount = RD64(input_vault->data + TA_AMOUNT), out_amount = RD64(output_vault->data + TA_AMOUNT);
    const u8 *k_in = input_vault->key->x, *k_out = output_vault->key->x;
    if (pk_eq(k_in, pool + PS_TOKEN_0_VAULT) && pk_eq(k_out, pool + PS_TOKEN_1_VAULT)) s->zero_for_one = 1;
    else if (pk_eq(k_in, pool + PS_TOKEN_1_VAULT) && pk_eq(k_out, pool + PS_TOKEN_0_VAULT)) s->zero_for_one = 0;
    else return E_INVALID_VAULT;
    u64 fees_0 = RD64(pool + PS_PROTOCOL_FEES_0), fees_1 = RD64(pool + PS_PROTOCOL_FEES_1);
    u64 f;
    if ((f = fees_0 + RD64(pool + PS_FUND_FEES_0)) < fees_0) return E_MATH_OVERFLOW;
    fees_0 = f;
    if ((f = fees_0 + RD64(pool + PS_CREATOR_FEES_0)) < fees_0) return E_MATH_OVERFLOW;
    fees_0 = f;
    if ((f = fees_1 + RD64(pool + PS_FUND_FEES_1)) < fees_1) return E_MATH_OVERFLOW;
    fees_1 = f;
    if ((f = fees_1 + RD64(pool + PS_CREATOR_FEES_1)) < fees_1) return E_MATH_OVERFLOW;
    fees_1 = f;
    u64 vault_0 = s->zero_for_one ? in_amount : out_amount, vault_1 = s->zero_for_one ? out_amount : in_amount;
    if (vault_0 < fees_0 || vault_1 < fees_1) return E_INSUFFICIENT_VAULT;
    u64 t0 = vault_0 - fees_0, t1 = vault_1 - fees_1;
    if (t0 == 0 || t1 == 0) return E_EMPTY_SUPPLY; /* Raydium divides by zero here (a panic) */
    price_x32(t1, t0, &s->price_0);
    price_x32(t0, t1, &s->price_1);
    s->x = s->zero_for_one ? t0 : t1;
    s->y = s->zero_for_one ? t1 : t0;
    /* is_creator_fee_on_input: 0 both tokens, 1 only token 0, 2 only token 1 */
    u8 fee_on = pool[PS_CREATOR_FEE_ON];
    if (fee_on > 2) return E_INVALID_FEE_MODEL;
    s->creator_fee_on_input = fee_on == 0 || (fee_on == 1 && s->zero_for_one) || (fee_on == 2 && !s->zero_for_one);
    return 0;
}

/* CurveCalculator::swap_base_input; E_ZERO_TRADING_TOKENS where Raydium's returns None */
NOINLINE u64 curve_swap_base_input(Swap *s) {
    int of = 0, of2 = 0;
    u64 in = s->amount_in;
    s->creator_fee = 0;
    if (s->creator_fee_on_input) {
        u64 rates = s->trade_fee_rate + s->creator_fee_rate;
        u64 total_fee = fee_of(in, rates, 1, &of);
        if (of || rates == 0) return E_ZERO_TRADING_TOKENS; /* split_creator_fee: denominator 0 */
        s->creator_fee = mul_div(total_fee, s->creator_fee_rate, rates, 0, &of2);
        s->trade_fee = total_fee - s->creator_fee;
        if (total_fee > in) return E_ZERO_TRADING_TOKENS;
        s->less_fees = in - total_fee;
    } else {
        s->trade_fee = fee_of(in, s->trade_fee_rate, 1, &of);
        if (of || s->trade_fee > in) return E_ZERO_TRADING_TOKENS;
        s->less_fees = in - s->trade_fee;
    }
    s->protocol_fee = fee_of(s->trade_fee, s->protocol_fee_rate, 0, &of);
    s->fund_fee = fee_of(s->trade_fee, s->fund_fee_rate, 0, &of2);
    if (of || of2) return E_ZERO_TRADING_TOKENS;
    /* swapped = floor(less_fees * y / (x + less_fees)); x + less_fees may need 65 bits */
    U128 num, den = {s->x + s->less_fees, s->x + s->less_fees < s->x}, q;
    mul64(s->less_fees, s->y, &num);
    u128_divmod(&num, &den, &q, 0);
    s->swapped = q.lo; /* < y */
    if (s->creator_fee_on_input) {
        s->output = s->swapped;
    } else {
        s->creator_fee = fee_of(s->swapped, s->creator_fee_rate, 1, &of);
        if (of || s->creator_fee > s->swapped) return E_ZERO_TRADING_TOKENS;
        s->output = s->swapped - s->creator_fee;
    }
    return 0;
}

/* require_gte!(constant_after, constant_before): (x + less_fees) * (y - swapped) >= x * y */
NOINLINE int constant_holds(const Swap *s) {
    U128 before, after_lo, x_new = {s->x + s->less_fees, s->x + s->less_fees < s->x}, hi;
    mul64(s->x, s->y, &before);
    u64 lo = mul128x64(&x_new, s->y - s->swapped, &hi); /* 192-bit product */
    after_lo.lo = lo;
    after_lo.hi = hi.lo;
    if (hi.hi) return 1;
    return !u128_lt(&after_lo, &before);
}

/* PoolState::update_fees */
NOINLINE u64 update_fees(u8 *pool, const Swap *s) {
    u64 p_off = s->zero_for_one ? PS_PROTOCOL_FEES_0 : PS_PROTOCOL_FEES_1;
    u64 f_off = s->zero_for_one ? PS_FUND_FEES_0 : PS_FUND_FEES_1;
    /* the creator fee is in the input token when on input, else in the output token */
    int creator_in_0 = s->creator_fee_on_input ? s->zero_for_one : !s->zero_for_one;
    u64 c_off = creator_in_0 ? PS_CREATOR_FEES_0 : PS_CREATOR_FEES_1;
    if (!pool[PS_ENABLE_CREATOR_FEE] && s->creator_fee) return A_REQUIRE_EQ;
    u64 p = RD64(pool + p_off) + s->protocol_fee, f = RD64(pool + f_off) + s->fund_fee;
    u64 c = RD64(pool + c_off) + s->creator_fee;
    if (p < s->protocol_fee || f < s->fund_fee || c < s->creator_fee) return E_MATH_OVERFLOW;
    WR64(pool + p_off, p);
    WR64(pool + f_off, f);
    WR64(pool + c_off, c);
    return 0;
}

/* ObservationState::update(block_timestamp, token_0_price_x32, token_1_price_x32) */
NOINLINE u64 observation_update(u8 *obs, u64 now, const U128 *price_0, const U128 *price_1) {
    u64 idx = RD16(obs + OBS_INDEX);
    if (idx >= OBS_NUM) return E_MATH_OVERFLOW;
    u8 *last = obs + OBS_OBSERVATIONS + idx * OBS_SIZE;
    if (!obs[OBS_INITIALIZED]) {
        obs[OBS_INITIALIZED] = 1;
        WR64(last, now);
        zero_bytes(last + 8, 32);
        WR64(obs + OBS_LAST_UPDATE, now);
        return 0;
    }
    u64 next = idx == OBS_NUM - 1 ? 0 : idx + 1;
    u64 last_ts = RD64(last);
    if (RD64(obs + OBS_LAST_UPDATE) == 0) WR64(obs + OBS_LAST_UPDATE, last_ts);
    u64 since_obs = now > last_ts ? now - last_ts : 0;
    u64 last_update = RD64(obs + OBS_LAST_UPDATE);
    u64 since_update = now > last_update ? now - last_update : 0;
    if (since_update == 0 || since_obs == 0) return 0;
    U128 d0, d1, hi;
    d0.lo = mul128x64(price_0, since_update, &hi);
    d0.hi = hi.lo;
    if (hi.hi) return E_MATH_OVERFLOW;
    d1.lo = mul128x64(price_1, since_update, &hi);
    d1.hi = hi.lo;
    if (hi.hi) return E_MATH_OVERFLOW;
    U128 c0 = {RD64(last + 8), RD64(last + 16)}, c1 = {RD64(last + 24), RD64(last + 32)};
    u128_add(&c0, &d0); /* wrapping */
    u128_add(&c1, &d1);
    u8 *dst = last;
    if (since_obs >= OBSERVATION_UPDATE_DURATION) {
        dst = obs + OBS_OBSERVATIONS + next * OBS_SIZE;
        WR64(dst, now);
        WR16(obs + OBS_INDEX, next);
    }
    WR64(dst + 8, c0.lo);
    WR64(dst + 16, c0.hi);
    WR64(dst + 24, c1.lo);
    WR64(dst + 32, c1.hi);
    WR64(obs + OBS_LAST_UPDATE, now);
    return 0;
}

/* emit!(SwapEvent{..}): "Program data: <base64(discriminator || borsh)>" */
NOINLINE void emit_swap_event(const Swap *s, const AI *a_pool, const AI *in_mint, const AI *out_mint) {
    u8 *e = (u8 *)(HEAP + 16384);
    u8 *p = e;
    copy_bytes(p, EV_SWAP, 8);
    p += 8;
    copy_bytes(p, a_pool->key->x, 32);
    p += 32;
    wr64u(p, s->x);
    wr64u(p + 8, s->y);
    wr64u(p + 16, s->amount_in);
    wr64u(p + 24, s->output);
    wr64u(p + 32, 0); /* input_transfer_fee */
    wr64u(p + 40, 0); /* output_transfer_fee */
    p[48] = 1;        /* base_input */
    p += 49;
    copy_bytes(p, in_mint->key->x, 32);
    copy_bytes(p + 32, out_mint->key->x, 32);
    p += 64;
    wr64u(p, s->trade_fee);
    wr64u(p + 8, s->creator_fee);
    p[16] = (u8)s->creator_fee_on_input;
    p += 17;
    Bytes b = {e, (u64)(p - e)};
    sol_log_data(&b, 1);
}

enum {
    S_PAYER, S_AUTHORITY, S_AMM_CONFIG, S_POOL_STATE, S_INPUT_TOKEN, S_OUTPUT_TOKEN, S_INPUT_VAULT,
    S_OUTPUT_VAULT, S_INPUT_PROGRAM, S_OUTPUT_PROGRAM, S_INPUT_MINT, S_OUTPUT_MINT, S_OBSERVATION, S_COUNT
};


NOINLINE u64 swap_base_input(const Input *in) {
    if (in->n < S_COUNT) return A_NOT_ENOUGH_KEYS;
    if (in->data_len < 24) return A_INSTRUCTION_DID_NOT_DESERIALIZE;
    AI *a = in->ai;
    const Pk *pid = in->program_id;
    u64 err;
    /* the Swap accounts, in Anchor's order */
    if (!a[S_PAYER].is_signer) return A_ACCOUNT_NOT_SIGNER;
    if ((err = check_program_account(&a[S_AMM_CONFIG], pid, D_AMM_CONFIG, AMM_CONFIG_LEN))) return err;
    if ((err = check_program_account(&a[S_POOL_STATE], pid, D_POOL_STATE, POOL_STATE_LEN))) return err;
    if (!a[S_POOL_STATE].is_writable) return A_CONSTRAINT_MUT;
    for (int i = S_INPUT_TOKEN; i <= S_OUTPUT_VAULT; i++) {
        if ((err = check_token_account(&a[i]))) return err;
        if (!a[i].is_writable) return A_CONSTRAINT_MUT;
    }
    if ((err = check_token_program(&a[S_INPUT_PROGRAM])) || (err = check_token_program(&a[S_OUTPUT_PROGRAM]))) return err;
    if ((err = check_mint(&a[S_INPUT_MINT])) || (err = check_mint(&a[S_OUTPUT_MINT]))) return err;
    if ((err = check_program_account(&a[S_OBSERVATION], pid, D_OBSERVATION, OBSERVATION_LEN))) return err;
    if (!a[S_OBSERVATION].is_writable) return A_CONSTRAINT_MUT;
    u8 *pool = a[S_POOL_STATE].data;
    if (!pk_eq(a[S_AUTHORITY].key, &AUTHORITY)) return A_CONSTRAINT_SEEDS;
    if (!pk_eq(a[S_AMM_CONFIG].key, pool + PS_AMM_CONFIG)) return A_CONSTRAINT_ADDRESS;
    for (int i = S_INPUT_VAULT; i <= S_OUTPUT_VAULT; i++)
        if (!pk_eq(a[i].key, pool + PS_TOKEN_0_VAULT) && !pk_eq(a[i].key, pool + PS_TOKEN_1_VAULT)) return A_CONSTRAINT_RAW;
    if (!pk_eq(a[S_INPUT_MINT].key, a[S_INPUT_VAULT].data + TA_MINT)) return A_CONSTRAINT_ADDRESS;
    if (!pk_eq(a[S_OUTPUT_MINT].key, a[S_OUTPUT_VAULT].data + TA_MINT)) return A_CONSTRAINT_ADDRESS;
    if (!pk_eq(a[S_OBSERVATION].key, pool + PS_OBSERVATION_KEY)) return A_CONSTRAINT_ADDRESS;
    /* Token-2022 transfer fees are not modelled: only SPL Token mints */
    if (!pk_eq(a[S_INPUT_MINT].owner, &TOKEN_PROGRAM) || !pk_eq(a[S_OUTPUT_MINT].owner, &TOKEN_PROGRAM))
        return E_NOT_SUPPORT_MINT;

    Swap *s = (Swap *)(HEAP + 12288);
    s->amount_in = rd64u(in->data + 8);
    s->minimum_amount_out = rd64u(in->data + 16);
    Clock clock;
    sol_get_clock_sysvar(&clock);
    s->now = (u64)clock.unix_timestamp;
    s->epoch = clock.epoch;
    if ((pool[PS_STATUS] & POOL_STATUS_SWAP_DISABLED) || s->now < RD64(pool + PS_OPEN_TIME)) return E_NOT_APPROVED;
    if (s->amount_in == 0) return A_REQUIRE_GT; /* require_gt!(actual_amount_in, 0) */
    if ((err = swap_params(s, pool, &a[S_INPUT_VAULT], &a[S_OUTPUT_VAULT]))) return err;
    const u8 *cfg = a[S_AMM_CONFIG].data;
    s->trade_fee_rate = RD64(cfg + AC_TRADE_FEE_RATE);
    s->protocol_fee_rate = RD64(cfg + AC_PROTOCOL_FEE_RATE);
    s->fund_fee_rate = RD64(cfg + AC_FUND_FEE_RATE);
    s->creator_fee_rate = pool[PS_ENABLE_CREATOR_FEE] ? RD64(cfg + AC_CREATOR_FEE_RATE) : 0;
    if ((err = curve_swap_base_input(s))) return err;
    if (s->output == 0) return A_REQUIRE_GT; /* require_gt!(amount_received, 0) */
    if (s->output < s->minimum_amount_out) return E_EXCEEDED_SLIPPAGE;
    if ((err = update_fees(pool, s))) return err;
    emit_swap_event(s, &a[S_POOL_STATE], &a[S_INPUT_MINT], &a[S_OUTPUT_MINT]);
    if (!constant_holds(s)) return A_REQUIRE_GTE;

    Transfer t = {a, in->n, &a[S_INPUT_PROGRAM], &a[S_INPUT_TOKEN], &a[S_INPUT_MINT], &a[S_INPUT_VAULT],
                  &a[S_PAYER], s->amount_in, 0};
    if ((err = token_transfer_checked(&t))) return err;
    Seed seeds[2] = {{(const u8 *)AUTH_SEED, SEED_LEN(AUTH_SEED)}, {pool + PS_AUTH_BUMP, 1}};
    Seeds signer = {seeds, 2};
    Transfer t2 = {a, in->n, &a[S_OUTPUT_PROGRAM], &a[S_OUTPUT_VAULT], &a[S_OUTPUT_MINT], &a[S_OUTPUT_TOKEN],
                   &a[S_AUTHORITY], s->output, &signer};
    if ((err = token_transfer_checked(&t2))) return err;
    if ((err = observation_update(a[S_OBSERVATION].data, s->now, &s->price_0, &s->price_1))) return err;
    WR64(pool + PS_RECENT_EPOCH, s->epoch);
    return 0;
}

/* ---------------------------------------------------------------- initialize */

/* Rent::minimum_balance(space) from the Rent sysvar: (128 + space) * lamports_per_byte *
 * exemption_threshold (an f64, decoded exactly: no floating point on this target) */
NOINLINE u64 rent_minimum_balance(u64 space) {
    u8 rent[24];
    sol_get_rent_sysvar(rent);
    u64 per_byte = rd64u(rent), bits = rd64u(rent + 8);
    U128 base;
    mul64(128 + space, per_byte, &base);
    u64 exponent = (bits >> 52) & 0x7ff, mantissa = (bits & ((1UL << 52) - 1)) | (1UL << 52);
    if (exponent == 0) return 0;
    /* value = base * mantissa * 2^(exponent - 1075) */
    U128 hi;
    u64 lo = mul128x64(&base, mantissa, &hi); /* 192-bit product: hi:lo */
    i64 shift = 1075 - (i64)exponent;
    if (shift <= 0 || shift >= 128) return ~0UL; /* thresholds >= 2^53 or tiny: not real */
    /* (hi:lo) >> shift, keep 64 bits */
    if (shift >= 64) {
        u64 s2 = (u64)shift - 64;
        return s2 ? (hi.lo >> s2) | (hi.hi << (64 - s2)) : hi.lo;
    }
    return (lo >> shift) | (hi.lo << (64 - shift));
}

/* a CPI to `program` with `metas`/`data`, passing every account of the instruction */
typedef struct { const Input *in; const Pk *program; const AM *metas; u64 nmetas; const u8 *data; u64 len; const Seeds *signer; } Cpi;

NOINLINE u64 cpi(const Cpi *c) {
    IX ix = {c->program, c->metas, c->nmetas, c->data, c->len};
    return sol_invoke_signed_c(&ix, c->in->ai, (int)c->in->n, c->signer, c->signer ? 1 : 0);
}

/* Anchor's `init` / Raydium's create_or_allocate_account: a PDA `target` of `space` bytes owned
 * by `owner`, paid by `payer` (create_account; or transfer + allocate + assign when the address
 * already holds lamports) */
NOINLINE u64 create_account(const Input *in, const AI *payer, const AI *target, const Seeds *signer, u64 space, const Pk *owner) {
    u8 *d = (u8 *)(HEAP + 20480);
    u64 rent = rent_minimum_balance(space), err;
    if (*target->lamports == 0) {
        AM metas[2] = {{payer->key, 1, 1}, {target->key, 1, 1}};
        WR32(d, 0);
        wr64u(d + 4, rent);
        wr64u(d + 12, space);
        copy_bytes(d + 20, owner->x, 32);
        Cpi c = {in, &SYSTEM_PROGRAM, metas, 2, d, 52, signer};
        return cpi(&c);
    }
    u64 have = *target->lamports, need = rent > have ? rent - have : 0;
    if (need) {
        AM metas[2] = {{payer->key, 1, 1}, {target->key, 1, 0}};
        WR32(d, 2);
        wr64u(d + 4, need);
        Cpi c = {in, &SYSTEM_PROGRAM, metas, 2, d, 12, 0};
        if ((err = cpi(&c))) return err;
    }
    AM one[1] = {{target->key, 1, 1}};
    WR32(d, 8); /* Allocate */
    wr64u(d + 4, space);
    Cpi c1 = {in, &SYSTEM_PROGRAM, one, 1, d, 12, signer};
    if ((err = cpi(&c1))) return err;
    WR32(d, 1); /* Assign */
    copy_bytes(d + 4, owner->x, 32);
    Cpi c2 = {in, &SYSTEM_PROGRAM, one, 1, d, 36, signer};
    return cpi(&c2);
}

enum {
    I_CREATOR, I_AMM_CONFIG, I_AUTHORITY, I_POOL_STATE, I_TOKEN_0_MINT, I_TOKEN_1_MINT, I_LP_MINT,
    I_CREATOR_TOKEN_0, I_CREATOR_TOKEN_1, I_CREATOR_LP_TOKEN, I_TOKEN_0_VAULT, I_TOKEN_1_VAULT,
    I_CREATE_POOL_FEE, I_OBSERVATION, I_TOKEN_PROGRAM, I_TOKEN_0_PROGRAM, I_TOKEN_1_PROGRAM,
    I_ATA_PROGRAM, I_SYSTEM_PROGRAM, I_RENT, I_COUNT
};

/* find_program_address over up to 3 seeds; *bump out; 0 when `expected` is that address */
NOINLINE u64 check_pda(const Seed *seeds, u64 n, const Pk *pid, const AI *expected, u8 *bump) {
    Pk addr;
    if (sol_try_find_program_address(seeds, n, pid, &addr, bump)) return A_CONSTRAINT_SEEDS;
    return pk_eq(&addr, expected->key) ? 0 : A_CONSTRAINT_SEEDS;
}

typedef struct {
    u8 lp_bump, vault_0_bump, vault_1_bump, obs_bump, pool_bump;
    u64 amount_0, amount_1, open_time, now, epoch;
} Init;

/* the creator's token accounts: token::mint and token::authority constraints */
INLINE u64 check_creator_token(const AI *t, const AI *mint, const AI *creator) {
    u64 err;
    if ((err = check_token_account(t))) return err;
    if (!t->is_writable) return A_CONSTRAINT_MUT;
    if (!pk_eq(t->data + TA_MINT, mint->key)) return A_CONSTRAINT_TOKEN_MINT;
    if (!pk_eq(t->data + TA_OWNER, creator->key)) return A_CONSTRAINT_TOKEN_OWNER;
    return 0;
}

NOINLINE u64 initialize_accounts(const Input *in, Init *it) {
    AI *a = in->ai;
    const Pk *pid = in->program_id;
    u64 err;
    if (!a[I_CREATOR].is_signer) return A_ACCOUNT_NOT_SIGNER;
    if (!a[I_CREATOR].is_writable) return A_CONSTRAINT_MUT;
    if ((err = check_program_account(&a[I_AMM_CONFIG], pid, D_AMM_CONFIG, AMM_CONFIG_LEN))) return err;
    if (!pk_eq(a[I_AUTHORITY].key, &AUTHORITY)) return A_CONSTRAINT_SEEDS;
    if (!a[I_POOL_STATE].is_writable) return A_CONSTRAINT_MUT;
    if ((err = check_mint(&a[I_TOKEN_0_MINT])) || (err = check_mint(&a[I_TOKEN_1_MINT]))) return err;
    if (pk_cmp(a[I_TOKEN_0_MINT].key->x, a[I_TOKEN_1_MINT].key->x) >= 0) return A_CONSTRAINT_RAW;
    if (!pk_eq(a[I_TOKEN_0_MINT].owner, a[I_TOKEN_0_PROGRAM].key) || !pk_eq(a[I_TOKEN_1_MINT].owner, a[I_TOKEN_1_PROGRAM].key))
        return A_CONSTRAINT_MINT_TOKEN_PROGRAM;
    const Pk *pool_key = a[I_POOL_STATE].key;
    Seed lp[2] = {{(const u8 *)POOL_LP_MINT_SEED, SEED_LEN(POOL_LP_MINT_SEED)}, {pool_key->x, 32}};
    if ((err = check_pda(lp, 2, pid, &a[I_LP_MINT], &it->lp_bump))) return err;
    if ((err = check_creator_token(&a[I_CREATOR_TOKEN_0], &a[I_TOKEN_0_MINT], &a[I_CREATOR]))) return err;
    if ((err = check_creator_token(&a[I_CREATOR_TOKEN_1], &a[I_TOKEN_1_MINT], &a[I_CREATOR]))) return err;
    Seed v0[3] = {{(const u8 *)POOL_VAULT_SEED, SEED_LEN(POOL_VAULT_SEED)}, {pool_key->x, 32}, {a[I_TOKEN_0_MINT].key->x, 32}};
    if ((err = check_pda(v0, 3, pid, &a[I_TOKEN_0_VAULT], &it->vault_0_bump))) return err;
    Seed v1[3] = {{(const u8 *)POOL_VAULT_SEED, SEED_LEN(POOL_VAULT_SEED)}, {pool_key->x, 32}, {a[I_TOKEN_1_MINT].key->x, 32}};
    if ((err = check_pda(v1, 3, pid, &a[I_TOKEN_1_VAULT], &it->vault_1_bump))) return err;
    if (!pk_eq(a[I_CREATE_POOL_FEE].key, &CREATE_POOL_FEE_RECEIVER)) return A_CONSTRAINT_ADDRESS;
    if ((err = check_token_account(&a[I_CREATE_POOL_FEE]))) return err;
    Seed ob[2] = {{(const u8 *)OBSERVATION_SEED, SEED_LEN(OBSERVATION_SEED)}, {pool_key->x, 32}};
    if ((err = check_pda(ob, 2, pid, &a[I_OBSERVATION], &it->obs_bump))) return err;
    if (!pk_eq(a[I_TOKEN_PROGRAM].key, &TOKEN_PROGRAM)) return A_INVALID_PROGRAM_ID;
    if ((err = check_token_program(&a[I_TOKEN_0_PROGRAM])) || (err = check_token_program(&a[I_TOKEN_1_PROGRAM]))) return err;
    if (!pk_eq(a[I_ATA_PROGRAM].key, &ATA_PROGRAM) || !pk_eq(a[I_SYSTEM_PROGRAM].key, &SYSTEM_PROGRAM)) return A_INVALID_PROGRAM_ID;
    if (!pk_eq(a[I_RENT].key, &RENT_SYSVAR)) return A_ACCOUNT_SYSVAR_MISMATCH;
    return 0;
}

/* Anchor's `init` of the LP mint, the creator's LP token account and the observation account,
 * done while Anchor validates the accounts (before the handler) */
NOINLINE u64 initialize_init_accounts(const Input *in, Init *it) {
    AI *a = in->ai;
    const Pk *pid = in->program_id;
    u64 err;
    u8 *d = (u8 *)(HEAP + 20480 + 128);
    const Pk *pool_key = a[I_POOL_STATE].key;
    Seed lp[3] = {{(const u8 *)POOL_LP_MINT_SEED, SEED_LEN(POOL_LP_MINT_SEED)}, {pool_key->x, 32}, {&it->lp_bump, 1}};
    Seeds lp_signer = {lp, 3};
    if ((err = create_account(in, &a[I_CREATOR], &a[I_LP_MINT], &lp_signer, MINT_LEN, &TOKEN_PROGRAM))) return err;
    /* InitializeMint2 (20): decimals 9, mint authority = the authority PDA, no freeze authority */
    d[0] = 20;
    d[1] = 9;
    copy_bytes(d + 2, AUTHORITY.x, 32);
    d[34] = 0;
    AM mint_meta[1] = {{a[I_LP_MINT].key, 1, 0}};
    Cpi c = {in, &TOKEN_PROGRAM, mint_meta, 1, d, 35, 0};
    if ((err = cpi(&c))) return err;
    /* the creator's associated LP token account: ATA Create */
    AM ata[6] = {{a[I_CREATOR].key, 1, 1}, {a[I_CREATOR_LP_TOKEN].key, 1, 0}, {a[I_CREATOR].key, 0, 0},
                 {a[I_LP_MINT].key, 0, 0}, {&SYSTEM_PROGRAM, 0, 0}, {&TOKEN_PROGRAM, 0, 0}};
    d[0] = 0;
    Cpi c2 = {in, &ATA_PROGRAM, ata, 6, d, 1, 0};
    if ((err = cpi(&c2))) return err;
    Seed ob[3] = {{(const u8 *)OBSERVATION_SEED, SEED_LEN(OBSERVATION_SEED)}, {pool_key->x, 32}, {&it->obs_bump, 1}};
    Seeds ob_signer = {ob, 3};
    if ((err = create_account(in, &a[I_CREATOR], &a[I_OBSERVATION], &ob_signer, OBSERVATION_LEN, pid))) return err;
    copy_bytes(a[I_OBSERVATION].data, D_OBSERVATION, 8);
    return 0;
}

/* create_token_account: a vault PDA owned by `program`, InitializeAccount3 with the authority */
NOINLINE u64 create_vault(const Input *in, int vault, int mint, int program, const u8 *bump) {
    AI *a = in->ai;
    u64 err;
    Seed s[4] = {{(const u8 *)POOL_VAULT_SEED, SEED_LEN(POOL_VAULT_SEED)}, {a[I_POOL_STATE].key->x, 32},
                 {a[mint].key->x, 32}, {bump, 1}};
    Seeds signer = {s, 4};
    if ((err = create_account(in, &a[I_CREATOR], &a[vault], &signer, TOKEN_ACCOUNT_LEN, a[program].key))) return err;
    u8 *d = (u8 *)(HEAP + 20480 + 256);
    d[0] = 18; /* InitializeAccount3(owner) */
    copy_bytes(d + 1, AUTHORITY.x, 32);
    AM metas[2] = {{a[vault].key, 1, 0}, {a[mint].key, 0, 0}};
    Cpi c = {in, a[program].key, metas, 2, d, 33, 0};
    return cpi(&c);
}

/* create_pool: the PoolState at the PDA [POOL_SEED, amm_config, token_0_mint, token_1_mint],
 * or at a random address that signs */
NOINLINE u64 create_pool_state(const Input *in, Init *it) {
    AI *a = in->ai;
    AI *pool_ai = &a[I_POOL_STATE];
    if (!pk_eq(pool_ai->owner, &SYSTEM_PROGRAM)) return E_NOT_APPROVED;
    Seed ps[5] = {{(const u8 *)POOL_SEED, SEED_LEN(POOL_SEED)}, {a[I_AMM_CONFIG].key->x, 32},
                  {a[I_TOKEN_0_MINT].key->x, 32}, {a[I_TOKEN_1_MINT].key->x, 32}, {&it->pool_bump, 1}};
    Pk expected;
    if (sol_try_find_program_address(ps, 4, in->program_id, &expected, &it->pool_bump)) return A_CONSTRAINT_SEEDS;
    if (!pk_eq(&expected, pool_ai->key) && !pool_ai->is_signer) return A_REQUIRE_EQ;
    Seeds pool_signer = {ps, 5};
    u64 err = create_account(in, &a[I_CREATOR], pool_ai, &pool_signer, POOL_STATE_LEN, in->program_id);
    if (err) return err;
    copy_bytes(pool_ai->data, D_POOL_STATE, 8);
    copy_bytes(a[I_OBSERVATION].data + OBS_POOL_ID, pool_ai->key->x, 32);
    return 0;
}

/* the creator's deposit, then the LP tokens: isqrt(amount_0 * amount_1) - 100 */
NOINLINE u64 deposit_and_mint(const Input *in, Init *it, u64 *liquidity) {
    AI *a = in->ai;
    u64 err;
    Transfer t0 = {a, in->n, &a[I_TOKEN_0_PROGRAM], &a[I_CREATOR_TOKEN_0], &a[I_TOKEN_0_MINT], &a[I_TOKEN_0_VAULT],
                   &a[I_CREATOR], it->amount_0, 0};
    if (it->amount_0 && (err = token_transfer_checked(&t0))) return err;
    Transfer t1 = {a, in->n, &a[I_TOKEN_1_PROGRAM], &a[I_CREATOR_TOKEN_1], &a[I_TOKEN_1_MINT], &a[I_TOKEN_1_VAULT],
                   &a[I_CREATOR], it->amount_1, 0};
    if (it->amount_1 && (err = token_transfer_checked(&t1))) return err;
    u64 vault_0 = RD64(a[I_TOKEN_0_VAULT].data + TA_AMOUNT), vault_1 = RD64(a[I_TOKEN_1_VAULT].data + TA_AMOUNT);
    if (vault_0 == 0 || vault_1 == 0) return E_EMPTY_SUPPLY;
    U128 product;
    mul64(vault_0, vault_1, &product);
    *liquidity = isqrt128(&product);
    if (*liquidity < 100) return E_INIT_LP_AMOUNT_TOO_LESS; /* lock_lp_amount = 100 */
    u8 *d = (u8 *)(HEAP + 20480 + 384);
    d[0] = 7; /* MintTo, signed by the authority */
    wr64u(d + 1, *liquidity - 100);
    AM mint_to[3] = {{a[I_LP_MINT].key, 1, 0}, {a[I_CREATOR_LP_TOKEN].key, 1, 0}, {&AUTHORITY, 0, 1}};
    static const u8 auth_bump = AUTH_BUMP;
    Seed as[2] = {{(const u8 *)AUTH_SEED, SEED_LEN(AUTH_SEED)}, {&auth_bump, 1}};
    Seeds auth_signer = {as, 2};
    Cpi c = {in, &TOKEN_PROGRAM, mint_to, 3, d, 9, &auth_signer};
    return cpi(&c);
}

/* AmmConfig.create_pool_fee lamports to the fee receiver (wrapped SOL), then SyncNative */
NOINLINE u64 charge_create_pool_fee(const Input *in, u64 fee) {
    AI *a = in->ai;
    u8 *d = (u8 *)(HEAP + 20480 + 448);
    AM tr[2] = {{a[I_CREATOR].key, 1, 1}, {a[I_CREATE_POOL_FEE].key, 1, 0}};
    WR32(d, 2);
    wr64u(d + 4, fee);
    Cpi c = {in, &SYSTEM_PROGRAM, tr, 2, d, 12, 0};
    u64 err = cpi(&c);
    if (err) return err;
    AM sync[1] = {{a[I_CREATE_POOL_FEE].key, 1, 0}};
    d[0] = 17;
    Cpi c2 = {in, &TOKEN_PROGRAM, sync, 1, d, 1, 0};
    return cpi(&c2);
}

/* PoolState::initialize */
NOINLINE void write_pool_state(const Input *in, const Init *it, u64 liquidity) {
    AI *a = in->ai;
    u8 *pool = a[I_POOL_STATE].data;
    copy_bytes(pool + PS_AMM_CONFIG, a[I_AMM_CONFIG].key->x, 32);
    copy_bytes(pool + PS_POOL_CREATOR, a[I_CREATOR].key->x, 32);
    copy_bytes(pool + PS_TOKEN_0_VAULT, a[I_TOKEN_0_VAULT].key->x, 32);
    copy_bytes(pool + PS_TOKEN_1_VAULT, a[I_TOKEN_1_VAULT].key->x, 32);
    copy_bytes(pool + PS_LP_MINT, a[I_LP_MINT].key->x, 32);
    copy_bytes(pool + PS_TOKEN_0_MINT, a[I_TOKEN_0_MINT].key->x, 32);
    copy_bytes(pool + PS_TOKEN_1_MINT, a[I_TOKEN_1_MINT].key->x, 32);
    copy_bytes(pool + PS_TOKEN_0_PROGRAM, a[I_TOKEN_0_MINT].owner->x, 32);
    copy_bytes(pool + PS_TOKEN_1_PROGRAM, a[I_TOKEN_1_MINT].owner->x, 32);
    copy_bytes(pool + PS_OBSERVATION_KEY, a[I_OBSERVATION].key->x, 32);
    pool[PS_AUTH_BUMP] = AUTH_BUMP;
    pool[PS_STATUS] = 0;
    pool[PS_LP_MINT_DECIMALS] = 9;
    pool[PS_MINT_0_DECIMALS] = a[I_TOKEN_0_MINT].data[MINT_DECIMALS];
    pool[PS_MINT_1_DECIMALS] = a[I_TOKEN_1_MINT].data[MINT_DECIMALS];
    WR64(pool + PS_LP_SUPPLY, liquidity);
    WR64(pool + PS_OPEN_TIME, it->open_time);
    WR64(pool + PS_RECENT_EPOCH, it->epoch);
    pool[PS_CREATOR_FEE_ON] = 0; /* BothToken */
    pool[PS_ENABLE_CREATOR_FEE] = 0;
}

NOINLINE u64 initialize(const Input *in) {
    if (in->n < I_COUNT) return A_NOT_ENOUGH_KEYS;
    if (in->data_len < 32) return A_INSTRUCTION_DID_NOT_DESERIALIZE;
    AI *a = in->ai;
    Init *it = (Init *)(HEAP + 12288);
    u64 err, liquidity;
    it->amount_0 = rd64u(in->data + 8);
    it->amount_1 = rd64u(in->data + 16);
    it->open_time = rd64u(in->data + 24);
    if ((err = initialize_accounts(in, it))) return err;
    if ((err = initialize_init_accounts(in, it))) return err;
    /* is_supported_mint: SPL Token mints only (Token-2022 extensions are not modelled) */
    if (!pk_eq(a[I_TOKEN_0_MINT].owner, &TOKEN_PROGRAM) || !pk_eq(a[I_TOKEN_1_MINT].owner, &TOKEN_PROGRAM))
        return E_NOT_SUPPORT_MINT;
    const u8 *cfg = a[I_AMM_CONFIG].data;
    if (cfg[AC_DISABLE_CREATE_POOL]) return E_NOT_APPROVED;
    Clock clock;
    sol_get_clock_sysvar(&clock);
    it->now = (u64)clock.unix_timestamp;
    it->epoch = clock.epoch;
    if (it->open_time <= it->now) it->open_time = it->now + 1;
    if ((err = create_vault(in, I_TOKEN_0_VAULT, I_TOKEN_0_MINT, I_TOKEN_0_PROGRAM, &it->vault_0_bump))) return err;
    if ((err = create_vault(in, I_TOKEN_1_VAULT, I_TOKEN_1_MINT, I_TOKEN_1_PROGRAM, &it->vault_1_bump))) return err;
    if ((err = create_pool_state(in, it))) return err;
    if ((err = deposit_and_mint(in, it, &liquidity))) return err;
    u64 fee = RD64(cfg + AC_CREATE_POOL_FEE);
    if (fee && (err = charge_create_pool_fee(in, fee))) return err;
    write_pool_state(in, it, liquidity);
    return 0;
}

u64 entrypoint(u8 *input) {
    Input *in = (Input *)(HEAP + 8192);
    u64 err = parse_input(input, (AI *)HEAP, 64, in);
    if (err) return err;
    if (in->data_len < 8) return A_INSTRUCTION_FALLBACK_NOT_FOUND;
    if (bytes_eq8(in->data, IX_SWAP_BASE_INPUT)) return swap_base_input(in);
    if (bytes_eq8(in->data, IX_INITIALIZE)) return initialize(in);
    return A_INSTRUCTION_FALLBACK_NOT_FOUND;
}
