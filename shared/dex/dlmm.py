"""Meteora DLMM pools: liquidity in discrete price bins, with a volatility-driven fee.

The maths follows Meteora's on-chain program (lb_clmm: `state/bin.rs`, `state/lb_pair.rs`,
`state/parameters.rs`), simplified where it does not change a quote:

Prices. Bin `i` has the price (1 + bin_step/10_000)^i in Y base units per X base unit
("price per lamport"), held as a Q64.64 integer like Meteora's: `bin_price_q64(i) =
floor((1 + bin_step/10_000)^i * 2^64)`, computed exactly (Meteora's own fixed-point `pow` can
differ from it in the last few of its 64 fractional bits). Within a bin the price is fixed
(constant sum: x*P + y is the bin's liquidity). Bins below the active bin hold only Y, bins
above it only X, the active bin both.

Swaps. X -> Y walks bins downward from the active bin, taking their Y and leaving X in them;
Y -> X walks upward. In each bin with liquidity on the output side, with P the bin's price and
`rate` the total fee rate (1e9 = 100%):

    max_in     = ceil(y_bin / P)            (X -> Y)  or  ceil(x_bin * P)  (Y -> X)
    max_fee    = ceil(max_in * rate / (1e9 - rate))
    if input left > max_in + max_fee:       the bin is emptied: out = whole side,
                                            used = max_in + max_fee, fee = max_fee
    else:   fee = ceil(left * rate / 1e9);  out = min(floor((left - fee) * P), side)  [or / P]

The fee is taken from the input in each bin, rounded up; as on Meteora it does not enter the
bin's liquidity but is held in the pool's reserve for the LPs (`fee_x`, `fee_y`). Meteora's
protocol share of the fee is taken as 0 (all fees stay with the pool). A swap that runs out of
bins before its input is used raises InsufficientLiquidity: our orders are all-or-nothing.

Fees (1e9 precision, as Meteora):

    base_rate     = base_fee_bps * 100_000        (Meteora: base_factor * bin_step * 10)
    variable_rate = ceil(variable_fee_control * (va * bin_step)^2 / 1e11)
    rate          = min(base_rate + variable_rate, 1e8)              (capped at 10%)

Volatility (Meteora's `update_references` + `update_volatility_accumulator`). At the start of
a swap: `index_reference = active_id`, `vr = va_previous * reduction_factor / 10_000`. Before
swapping in each bin i: `va = min(vr + |index_reference - i| * 10_000,
max_volatility_accumulator)`; the pool keeps the last va. Meteora picks the branch from the time
since the last swap; this model has no clock, so every swap is treated as arriving inside
Meteora's decay window (filter_period <= elapsed < decay_period). A caller with a clock can
call `dlmm_decay(pool, elapsed_s)`: past the decay period the volatility is forgotten, as on
Meteora (vr = 0). Swaps within the filter period (which keep the old reference) are not
modelled.
"""

from __future__ import annotations

import math
from fractions import Fraction
from functools import lru_cache
from typing import NamedTuple

import msgspec

from shared.dex.pool_maths import (
    InsufficientLiquidity,
    StaleQuote,
    SwapResult,
    ceil_div,
    impact_bps,
    to_decimal,
)

BASIS_POINT_MAX = 10_000
FEE_PRECISION = 1_000_000_000  # fee rates: 1e9 = 100%
MAX_FEE_RATE = 100_000_000  # 10%
SCALE_OFFSET = 64
ONE_Q64 = 1 << SCALE_OFFSET

# Meteora's presets per bin step: (variable_fee_control, max_volatility_accumulator,
# decay_period_s); reduction_factor is 5000 for all of them.
PRESETS: dict[int, tuple[int, int, int]] = {
    1: (2_000_000, 100_000, 120),
    2: (500_000, 250_000, 120),
    4: (120_000, 300_000, 600),
    5: (120_000, 300_000, 600),
    8: (120_000, 300_000, 600),
    10: (40_000, 350_000, 600),
    15: (30_000, 350_000, 600),
    20: (20_000, 350_000, 600),
    25: (15_000, 350_000, 600),
    50: (10_000, 250_000, 1_200),
    60: (10_000, 250_000, 1_200),
    100: (7_500, 150_000, 1_200),
}


class DlmmPool(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind", tag="dlmm"):
    """A DLMM pool. Amounts in base units; `bins[k]` is (amount_x, amount_y) of bin
    `min_bin_id + k` (bins outside that range are empty). `fee_x`/`fee_y`: fees held in the
    reserve for the LPs, outside the bins. Volatility fields in Meteora's units (10_000 = one
    bin crossed). Tagged `"kind": "dlmm"` in JSON."""

    pool_id: str
    venue: str = "meteora"
    mint_x: str
    mint_y: str
    bin_step: int  # bps between adjacent bins' prices
    active_id: int
    min_bin_id: int
    bins: tuple[tuple[int, int], ...]
    base_fee_bps: int = 20
    variable_fee_control: int = 40_000
    max_volatility_accumulator: int = 350_000
    reduction_factor: int = 5_000
    decay_period_s: int = 600
    volatility_accumulator: int = 0
    volatility_reference: int = 0
    index_reference: int = 0
    fee_x: int = 0
    fee_y: int = 0

    def __post_init__(self) -> None:
        if self.mint_x == self.mint_y:
            raise ValueError("a pool needs two different mints")
        if not 1 <= self.bin_step <= 400:
            raise ValueError("bin_step must be in [1, 400] bps")
        if not self.bins:
            raise ValueError("a DLMM pool needs at least one bin")


_GUARD_BITS = 64


@lru_cache(maxsize=1 << 16)
def bin_price_q64(bin_id: int, bin_step: int) -> int:
    """floor((1 + bin_step/10_000)^bin_id * 2^64): Y base units per X base unit, Q64.64.

    Exact. Fixed-point powers with 64 guard bits bracket the true value from below (every
    step floored) and above (every step ceiled); when both brackets floor to the same Q64.64
    value, that is the exact floor. Otherwise (vanishingly rare) exact integers settle it.
    """
    n = abs(bin_id)
    num, den = BASIS_POINT_MAX + bin_step, BASIS_POINT_MAX
    if bin_id < 0:
        num, den = den, num
    bits = SCALE_OFFSET + _GUARD_BITS
    low = high = 1 << bits
    base_low, base_high = (num << bits) // den, ceil_div(num << bits, den)
    while n:
        if n & 1:
            low = (low * base_low) >> bits
            high = ceil_div(high * base_high, 1 << bits)
        n >>= 1
        if n:
            base_low = (base_low * base_low) >> bits
            base_high = ceil_div(base_high * base_high, 1 << bits)
    if low >> _GUARD_BITS == high >> _GUARD_BITS:
        return low >> _GUARD_BITS
    n = abs(bin_id)
    return (num**n << SCALE_OFFSET) // den**n


def bin_price(bin_id: int, bin_step: int) -> Fraction:
    """A bin's price as an exact Fraction (Y base units per X base unit)."""
    return Fraction(bin_price_q64(bin_id, bin_step), ONE_Q64)


def fee_rate(pool: DlmmPool, volatility_accumulator: int) -> int:
    """Total fee rate (1e9 = 100%) for a given volatility accumulator, capped at 10%."""
    base = pool.base_fee_bps * (FEE_PRECISION // BASIS_POINT_MAX)
    variable = 0
    if pool.variable_fee_control:
        square = (volatility_accumulator * pool.bin_step) ** 2
        variable = ceil_div(pool.variable_fee_control * square, 100_000_000_000)
    return min(base + variable, MAX_FEE_RATE)


def _direction(pool: DlmmPool, mint_in: str) -> bool:
    """True for X -> Y ("swap for y")."""
    if mint_in == pool.mint_x:
        return True
    if mint_in == pool.mint_y:
        return False
    raise ValueError(f"{mint_in} is not in pool {pool.pool_id}")


class _Walk(msgspec.Struct):
    amount_out: int
    fee: int
    end_id: int
    va: int
    vr: int
    changed: dict[int, tuple[int, int]]  # bin index (not id) -> new (x, y)


def _walk(pool: DlmmPool, swap_for_y: bool, amount_in: int) -> _Walk:
    """Meteora's swap loop over the bins. Pure: returns the changed bins."""
    vr = pool.volatility_accumulator * pool.reduction_factor // BASIS_POINT_MAX
    ref = active = pool.active_id
    bins, lo, step = pool.bins, pool.min_bin_id, pool.bin_step
    max_va = pool.max_volatility_accumulator
    left = amount_in
    out_total = fee_total = 0
    va = pool.volatility_accumulator
    changed: dict[int, tuple[int, int]] = {}
    move = -1 if swap_for_y else 1
    while True:
        i = active - lo
        if not 0 <= i < len(bins):
            raise InsufficientLiquidity(
                f"{pool.pool_id}: ran out of bins with {left} of {amount_in} left to swap"
            )
        bx, by = bins[i]
        side = by if swap_for_y else bx
        if side:
            va = min(vr + abs(ref - active) * BASIS_POINT_MAX, max_va)
            rate = fee_rate(pool, va)
            price = bin_price_q64(active, step)
            if swap_for_y:
                max_in = ceil_div(by << SCALE_OFFSET, price)
            else:
                max_in = ceil_div(bx * price, ONE_Q64)
            max_fee = ceil_div(max_in * rate, FEE_PRECISION - rate)
            if left > max_in + max_fee:
                used, out, fee = max_in + max_fee, side, max_fee
            else:
                fee = ceil_div(left * rate, FEE_PRECISION)
                net = left - fee
                if swap_for_y:
                    out = min((price * net) >> SCALE_OFFSET, side)
                else:
                    out = min((net << SCALE_OFFSET) // price, side)
                used = left
            into_bin = used - fee
            changed[i] = (bx + into_bin, by - out) if swap_for_y else (bx - out, by + into_bin)
            left -= used
            out_total += out
            fee_total += fee
            if left == 0:
                return _Walk(out_total, fee_total, active, va, vr, changed)
        active += move


def dlmm_quote(pool: DlmmPool, mint_in: str, amount_in: int) -> SwapResult:
    """What swapping `amount_in` base units of `mint_in` gives now. Does not mutate the pool.

    Raises InsufficientLiquidity when the bins cannot absorb the whole input.
    """
    if amount_in <= 0:
        raise ValueError("amount_in must be positive")
    swap_for_y = _direction(pool, mint_in)
    return _result(pool, swap_for_y, amount_in, _walk(pool, swap_for_y, amount_in))


def dlmm_swap(pool: DlmmPool, mint_in: str, amount_in: int) -> tuple[SwapResult, DlmmPool]:
    """The quote and the pool after that swap."""
    if amount_in <= 0:
        raise ValueError("amount_in must be positive")
    swap_for_y = _direction(pool, mint_in)
    walk = _walk(pool, swap_for_y, amount_in)
    bins = list(pool.bins)
    for i, amounts in walk.changed.items():
        bins[i] = amounts
    after = msgspec.structs.replace(
        pool,
        active_id=walk.end_id,
        bins=tuple(bins),
        volatility_accumulator=walk.va,
        volatility_reference=walk.vr,
        index_reference=pool.active_id,
        fee_x=pool.fee_x + (walk.fee if swap_for_y else 0),
        fee_y=pool.fee_y + (0 if swap_for_y else walk.fee),
    )
    return _result(pool, swap_for_y, amount_in, walk), after


def _result(pool: DlmmPool, swap_for_y: bool, amount_in: int, walk: _Walk) -> SwapResult:
    before = bin_price(pool.active_id, pool.bin_step)
    after = bin_price(walk.end_id, pool.bin_step)
    if not swap_for_y:
        before, after = 1 / before, 1 / after
    return SwapResult(
        pool_id=pool.pool_id,
        venue=pool.venue,
        mint_in=pool.mint_x if swap_for_y else pool.mint_y,
        mint_out=pool.mint_y if swap_for_y else pool.mint_x,
        amount_in=amount_in,
        amount_out=walk.amount_out,
        fee_amount=walk.fee,
        price_impact_bps=impact_bps(amount_in - walk.fee, walk.amount_out, before),
        price_before=to_decimal(before),
        price_after=to_decimal(after),
        bins_crossed=abs(walk.end_id - pool.active_id),
    )


def dlmm_apply(pool: DlmmPool, result: SwapResult) -> DlmmPool:
    """The pool after the swap `result` was quoted for (the walk is recomputed, so the bins,
    active bin, volatility and fees are exactly those the quote assumed).

    Raises StaleQuote when the pool has moved since and the same input no longer gives
    `result.amount_out`.
    """
    if result.pool_id != pool.pool_id:
        raise ValueError(f"result is for {result.pool_id}, not {pool.pool_id}")
    fresh, after = dlmm_swap(pool, result.mint_in, result.amount_in)
    if fresh.amount_out != result.amount_out:
        raise StaleQuote(
            f"{pool.pool_id}: quoted {result.amount_out}, the pool now gives {fresh.amount_out}"
        )
    return after


def dlmm_spot_price(pool: DlmmPool, mint_in: str) -> Fraction:
    """The active bin's price in mint_out base units per mint_in base unit, before the fee."""
    price = bin_price(pool.active_id, pool.bin_step)
    return price if _direction(pool, mint_in) else 1 / price


class Segment(NamedTuple):
    """One bin of a swap's marginal-rate curve: output per unit of input = rate_num / rate_den
    (kept as two ints: cheap to build, exact), and the input, fee included, that empties it."""

    rate_num: int
    rate_den: int
    capacity: int

    @property
    def rate(self) -> Fraction:
        return Fraction(self.rate_num, self.rate_den)


def dlmm_segments(pool: DlmmPool, mint_in: str, up_to: int) -> list[Segment]:
    """The pool's marginal-rate curve for one swap from the current state, in walk order: one
    Segment per bin with liquidity on the output side, where the rate is mint_out per mint_in
    base unit net of that bin's fee (P * (1 - fee rate), or (1 - fee rate) / P) and the
    capacity the input, fee included, that empties the bin. Rates never increase along the
    walk. Stops once the capacities reach `up_to` or the bins run out. For the router's split:
    within a bin the output is linear in the input, so the curve is exact up to the integer
    rounding of each bin.
    """
    swap_for_y = _direction(pool, mint_in)
    vr = pool.volatility_accumulator * pool.reduction_factor // BASIS_POINT_MAX
    ref = active = pool.active_id
    bins, lo, step = pool.bins, pool.min_bin_id, pool.bin_step
    move = -1 if swap_for_y else 1
    segments: list[Segment] = []
    total = 0
    while total < up_to and 0 <= active - lo < len(bins):
        bx, by = bins[active - lo]
        side = by if swap_for_y else bx
        if side:
            va = min(vr + abs(ref - active) * BASIS_POINT_MAX, pool.max_volatility_accumulator)
            rate = fee_rate(pool, va)
            price = bin_price_q64(active, step)
            if swap_for_y:
                max_in = ceil_div(by << SCALE_OFFSET, price)
                num, den = price * (FEE_PRECISION - rate), ONE_Q64 * FEE_PRECISION
            else:
                max_in = ceil_div(bx * price, ONE_Q64)
                num, den = ONE_Q64 * (FEE_PRECISION - rate), price * FEE_PRECISION
            capacity = max_in + ceil_div(max_in * rate, FEE_PRECISION - rate)
            segments.append(Segment(num, den, capacity))
            total += capacity
        active += move
    return segments


def dlmm_capacity(pool: DlmmPool, mint_in: str) -> int:
    """The output side's liquidity in the bins: an upper bound of any swap's amount_out."""
    index = 1 if _direction(pool, mint_in) else 0
    return sum(b[index] for b in pool.bins)


def dlmm_current_fee_rate(pool: DlmmPool) -> int:
    """The fee rate (1e9 = 100%) the next swap pays in the active bin."""
    vr = pool.volatility_accumulator * pool.reduction_factor // BASIS_POINT_MAX
    return fee_rate(pool, min(vr, pool.max_volatility_accumulator))


def dlmm_decay(pool: DlmmPool, elapsed_s: int) -> DlmmPool:
    """The pool after `elapsed_s` seconds without swaps: past Meteora's decay period the
    volatility is forgotten (the next swap starts from vr = 0); before it nothing changes
    (the next swap decays va by reduction_factor, which `_walk` does)."""
    if elapsed_s >= pool.decay_period_s and pool.volatility_accumulator:
        return msgspec.structs.replace(pool, volatility_accumulator=0, volatility_reference=0)
    return pool


def active_id_for_price(price: Fraction, bin_step: int) -> int:
    """The bin whose price is nearest `price` (Y base units per X base unit)."""
    if price <= 0:
        raise ValueError("price must be positive")
    # A float log picks a starting bin only; exact comparisons settle it.
    log_price = math.log(price.numerator) - math.log(price.denominator)
    guess = round(log_price / math.log1p(bin_step / BASIS_POINT_MAX))
    while bin_price(guess + 1, bin_step) <= price:
        guess += 1
    while bin_price(guess, bin_step) > price:
        guess -= 1
    below, above = bin_price(guess, bin_step), bin_price(guess + 1, bin_step)
    return guess if price - below <= above - price else guess + 1


def dlmm_from_spot(
    pool_id: str,
    mint_x: str,
    mint_y: str,
    spot_price: Fraction,
    bin_step: int,
    liquidity_x: int,
    liquidity_y: int,
    bins_each_side: int,
    *,
    venue: str = "meteora",
    base_fee_bps: int = 20,
    variable_fee_control: int | None = None,
    max_volatility_accumulator: int | None = None,
) -> DlmmPool:
    """A pool whose active bin is the one nearest `spot_price` (Y base units per X base unit),
    with `liquidity_y` spread over the active bin and the `bins_each_side` bins below it and
    `liquidity_x` over the active bin and the bins above, in Meteora's "curve" shape made
    triangular: bin k away from the active one gets weight 2 * (n + 1 - k), the active bin
    n + 1 of each side (it holds both tokens), out of (n + 1)^2; rounding leftovers go to the
    active bin. So the active bin holds 1/(n+1) of each side and the outermost bins the least.
    Fee parameters default to Meteora's preset for `bin_step` (or bin step 10's).
    """
    n = bins_each_side
    if n < 0 or liquidity_x < 0 or liquidity_y < 0:
        raise ValueError("liquidity and bins_each_side must be >= 0")
    active = active_id_for_price(spot_price, bin_step)
    if bin_price_q64(active - n, bin_step) == 0:
        raise ValueError("price too small for this bin step")
    total_weight = (n + 1) ** 2

    def spread(liquidity: int) -> list[int]:
        # amounts[k] for k = 0 (active) .. n (outermost)
        amounts = [liquidity * (n + 1) // total_weight]
        amounts += [liquidity * 2 * (n + 1 - k) // total_weight for k in range(1, n + 1)]
        amounts[0] += liquidity - sum(amounts)
        return amounts

    ys, xs = spread(liquidity_y), spread(liquidity_x)
    bins = [(0, ys[n - j]) for j in range(n)]  # active-n .. active-1: only Y
    bins.append((xs[0], ys[0]))
    bins += [(xs[k], 0) for k in range(1, n + 1)]  # active+1 .. active+n: only X
    vfc, max_va, decay = PRESETS.get(bin_step, PRESETS[10])
    return DlmmPool(
        pool_id=pool_id,
        venue=venue,
        mint_x=mint_x,
        mint_y=mint_y,
        bin_step=bin_step,
        active_id=active,
        min_bin_id=active - n,
        bins=tuple(bins),
        base_fee_bps=base_fee_bps,
        variable_fee_control=vfc if variable_fee_control is None else variable_fee_control,
        max_volatility_accumulator=max_va
        if max_volatility_accumulator is None
        else max_volatility_accumulator,
        decay_period_s=decay,
        index_reference=active,
    )
