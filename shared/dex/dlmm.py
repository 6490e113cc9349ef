"""Meteora DLMM pools: liquidity in discrete price bins, with a volatility-driven fee.

The maths follows Meteora's program (lb_clmm; its published parts: `state/bin.rs`,
`state/lb_pair.rs`, `state/parameters.rs`, and the swap loop the SDKs mirror, dlmm-sdk
`commons/src/quote.rs`), so that a quote equals what the program lands:

Prices. Bin `i` has the price (1 + bin_step/10_000)^i in Y base units per X base unit
("price per lamport"), held as a Q64.64 integer like Meteora's. A pool may carry the prices its
bins store on chain (`prices`, as decoded from mainnet, where Meteora's fixed-point `pow` put
them); otherwise `bin_price_q64(i) = floor((1 + bin_step/10_000)^i * 2^64)` computed exactly
(and that is what our genesis writes into the bins). Within a bin the price is fixed (constant
sum). Bins below the active bin hold only Y, bins above it only X, the active bin both.

Swaps. X -> Y walks bins downward from the active bin, taking their Y and leaving X in them;
Y -> X walks upward. In each bin with liquidity on the output side, with P the bin's price,
`rate` the total fee rate (1e9 = 100%) and `left` the input still to swap:

    fee = ceil(left * rate / 1e9);  net = left - fee
    max_in = ceil(y_bin / P)  (X -> Y)  or  ceil(x_bin * P)  (Y -> X)
    net > max_in:   the bin is emptied: out = whole side; it takes
                    used = max_in + ceil(max_in * rate / (1e9 - rate)), the fee being used - max_in
    net == max_in:  the bin is emptied and the whole input stays in it (out = whole side)
    net < max_in:   out = floor(net * P)  [or floor(net / P)]; the whole input is used

The fee does not enter the bin's liquidity but stays in the pool's reserve for the LPs
(`fee_x`, `fee_y`; Meteora splits it between LPs and protocol, both held in the reserve). A
swap that runs out of bins raises InsufficientLiquidity: our orders are all-or-nothing.
Where the program's u64 arithmetic fails (a bin whose whole side needs more than 2^64 - 1 of
input, a bin amount past 2^64 - 1) the swap fails on chain (MathOverflow / TypeCastFailed):
the model raises AmountOverflow, an InsufficientLiquidity. Limit orders (in the bins of
mainnet pools) are not modelled.

Fees (1e9 precision, as Meteora):

    base_rate     = base_fee_bps * 100_000        (Meteora: base_factor * bin_step * 10 * 10^p)
    variable_rate = ceil(variable_fee_control * (va * bin_step)^2 / 1e11)
    rate          = min(base_rate + variable_rate, 1e8)              (capped at 10%)

Volatility (Meteora's `update_references` + `update_volatility_accumulator`). At the start of a
swap, with `elapsed = now_s - last_update_s`:

    elapsed >= filter_period_s:  index_reference = active_id and
                                 vr = va * reduction_factor / 10_000  (elapsed < decay_period_s)
                                 vr = 0                               (elapsed >= decay_period_s)
    elapsed <  filter_period_s:  index_reference and vr are kept (a burst of swaps keeps
                                 accumulating volatility from the same reference)

Before swapping in each bin i: `va = min(vr + |index_reference - i| * 10_000,
max_volatility_accumulator)`; the pool keeps the last va, and `last_update_s = now_s`.

The clock. Functions that price a swap take `now_s` (unix seconds, the chain's
Clock.unix_timestamp): with it the model applies Meteora's rule exactly, so a quote made with
the chain's clock equals the landing, filter period included. Without it (`now_s=None`, as
the router quotes) every swap is treated as arriving inside the decay window
(filter_period_s <= elapsed < decay_period_s) and `last_update_s` is left alone;
`dlmm_decay(pool, elapsed_s)` then models a quiet period past the decay window.
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
    bin crossed); `filter_period_s`, `decay_period_s` and `last_update_s` (the chain's unix
    time of the last swap) drive the reference update when a swap passes `now_s`. `prices`:
    the Q64.64 price stored in each bin (same length as `bins`), or empty for the exact
    `bin_price_q64`. Tagged `"kind": "dlmm"` in JSON."""

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
    filter_period_s: int = 30
    decay_period_s: int = 600
    volatility_accumulator: int = 0
    volatility_reference: int = 0
    index_reference: int = 0
    last_update_s: int = 0
    fee_x: int = 0
    fee_y: int = 0
    prices: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.mint_x == self.mint_y:
            raise ValueError("a pool needs two different mints")
        if not 1 <= self.bin_step <= 400:
            raise ValueError("bin_step must be in [1, 400] bps")
        if not self.bins:
            raise ValueError("a DLMM pool needs at least one bin")
        if self.prices and len(self.prices) != len(self.bins):
            raise ValueError("prices must give one price per bin")
        if self.filter_period_s < 0 or self.decay_period_s < 0:
            raise ValueError("filter and decay periods must be >= 0")


class AmountOverflow(InsufficientLiquidity):
    """The program's u64 arithmetic would overflow for this swap (Meteora fails it with
    MathOverflow or TypeCastFailed): the pool cannot fill it."""


U64_MAX = (1 << 64) - 1
# Meteora's default filter period (StaticParameters::default), and 10 s for the bin steps whose
# preset decays in 120 s (as the mainnet bin-step-1 SOL/USDC pool has).
DEFAULT_FILTER_PERIOD_S = 30
SHORT_FILTER_PERIOD_S = 10


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
    exact: int = (num**n << SCALE_OFFSET) // den**n
    return exact


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


def _price(pool: DlmmPool, index: int) -> int:
    """The Q64.64 price of the bin at `index` in `pool.bins`: the stored one, else exact."""
    if pool.prices:
        return pool.prices[index]
    return bin_price_q64(pool.min_bin_id + index, pool.bin_step)


def dlmm_references(pool: DlmmPool, now_s: int | None = None) -> tuple[int, int]:
    """(index_reference, volatility_reference) a swap at `now_s` starts from (Meteora's
    `update_references`); `now_s=None`: as inside the decay window."""
    if now_s is not None:
        elapsed = now_s - pool.last_update_s
        if elapsed < pool.filter_period_s:
            return pool.index_reference, pool.volatility_reference
        if elapsed >= pool.decay_period_s:
            return pool.active_id, 0
    reduced = pool.volatility_accumulator * pool.reduction_factor // BASIS_POINT_MAX
    return pool.active_id, reduced


class _Walk(msgspec.Struct):
    amount_out: int
    fee: int
    end_id: int
    va: int
    vr: int
    ref: int
    changed: dict[int, tuple[int, int]]  # bin index (not id) -> new (x, y)


def _walk(pool: DlmmPool, swap_for_y: bool, amount_in: int, now_s: int | None) -> _Walk:
    """Meteora's swap loop over the bins. Pure: returns the changed bins."""
    if amount_in > U64_MAX:
        raise AmountOverflow(f"{pool.pool_id}: {amount_in} in does not fit a u64")
    ref, vr = dlmm_references(pool, now_s)
    active = pool.active_id
    bins, lo = pool.bins, pool.min_bin_id
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
            price = _price(pool, i)
            if swap_for_y:
                max_in = ceil_div(by << SCALE_OFFSET, price)
            else:
                max_in = ceil_div(bx * price, ONE_Q64)
            if max_in > U64_MAX:
                raise AmountOverflow(f"{pool.pool_id}: bin {active} needs {max_in} > u64 in")
            fee = ceil_div(left * rate, FEE_PRECISION)
            net = left - fee
            if net > max_in:  # the bin is emptied and the rest moves on
                fee = ceil_div(max_in * rate, FEE_PRECISION - rate)
                used, out = max_in + fee, side
            elif net == max_in:  # emptied exactly: the whole input stays here
                used, out = left, side
            else:
                used = left
                if swap_for_y:
                    out = min((price * net) >> SCALE_OFFSET, side)
                else:
                    out = min((net << SCALE_OFFSET) // price, side)
            into_bin = used - fee
            new = (bx + into_bin, by - out) if swap_for_y else (bx - out, by + into_bin)
            if max(new) > U64_MAX:
                raise AmountOverflow(f"{pool.pool_id}: bin {active} would exceed a u64")
            changed[i] = new
            left -= used
            out_total += out
            fee_total += fee
            if left == 0:
                return _Walk(out_total, fee_total, active, va, vr, ref, changed)
        active += move


def dlmm_quote(
    pool: DlmmPool, mint_in: str, amount_in: int, now_s: int | None = None
) -> SwapResult:
    """What swapping `amount_in` base units of `mint_in` gives at `now_s` (the chain's unix
    time; None: see the module docstring). Does not mutate the pool.

    Raises InsufficientLiquidity when the bins cannot absorb the whole input.
    """
    if amount_in <= 0:
        raise ValueError("amount_in must be positive")
    swap_for_y = _direction(pool, mint_in)
    return _result(pool, swap_for_y, amount_in, _walk(pool, swap_for_y, amount_in, now_s))


def dlmm_swap(
    pool: DlmmPool, mint_in: str, amount_in: int, now_s: int | None = None
) -> tuple[SwapResult, DlmmPool]:
    """The quote and the pool after that swap (with `now_s`, its `last_update_s` is now_s)."""
    if amount_in <= 0:
        raise ValueError("amount_in must be positive")
    swap_for_y = _direction(pool, mint_in)
    walk = _walk(pool, swap_for_y, amount_in, now_s)
    bins = list(pool.bins)
    for i, amounts in walk.changed.items():
        bins[i] = amounts
    after = msgspec.structs.replace(
        pool,
        active_id=walk.end_id,
        bins=tuple(bins),
        volatility_accumulator=walk.va,
        volatility_reference=walk.vr,
        index_reference=walk.ref,
        last_update_s=pool.last_update_s if now_s is None else now_s,
        fee_x=pool.fee_x + (walk.fee if swap_for_y else 0),
        fee_y=pool.fee_y + (0 if swap_for_y else walk.fee),
    )
    return _result(pool, swap_for_y, amount_in, walk), after


def _fraction_price(pool: DlmmPool, bin_id: int) -> Fraction:
    i = bin_id - pool.min_bin_id
    if pool.prices and 0 <= i < len(pool.prices):
        return Fraction(pool.prices[i], ONE_Q64)
    return bin_price(bin_id, pool.bin_step)


def _result(pool: DlmmPool, swap_for_y: bool, amount_in: int, walk: _Walk) -> SwapResult:
    before = _fraction_price(pool, pool.active_id)
    after = _fraction_price(pool, walk.end_id)
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


def dlmm_apply(pool: DlmmPool, result: SwapResult, now_s: int | None = None) -> DlmmPool:
    """The pool after the swap `result` was quoted for (the walk is recomputed, so the bins,
    active bin, volatility and fees are exactly those the quote assumed).

    Raises StaleQuote when the pool has moved since and the same input no longer gives
    `result.amount_out`.
    """
    if result.pool_id != pool.pool_id:
        raise ValueError(f"result is for {result.pool_id}, not {pool.pool_id}")
    fresh, after = dlmm_swap(pool, result.mint_in, result.amount_in, now_s)
    if fresh.amount_out != result.amount_out:
        raise StaleQuote(
            f"{pool.pool_id}: quoted {result.amount_out}, the pool now gives {fresh.amount_out}"
        )
    return after


def dlmm_spot_price(pool: DlmmPool, mint_in: str) -> Fraction:
    """The active bin's price in mint_out base units per mint_in base unit, before the fee."""
    price = _fraction_price(pool, pool.active_id)
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


def dlmm_segments(
    pool: DlmmPool, mint_in: str, up_to: int, now_s: int | None = None
) -> list[Segment]:
    """The pool's marginal-rate curve for one swap from the current state at `now_s`, in walk
    order: one Segment per bin with liquidity on the output side, where the rate is mint_out
    per mint_in base unit net of that bin's fee (P * (1 - fee rate), or (1 - fee rate) / P) and
    the capacity the least input, fee included, that empties the bin. Rates never increase
    along the walk. Stops once the capacities reach `up_to` or the bins run out. For the
    router's split: within a bin the output is linear in the input, so the curve is exact up
    to the integer rounding of each bin.
    """
    swap_for_y = _direction(pool, mint_in)
    ref, vr = dlmm_references(pool, now_s)
    active = pool.active_id
    bins, lo = pool.bins, pool.min_bin_id
    move = -1 if swap_for_y else 1
    segments: list[Segment] = []
    total = 0
    while total < up_to and 0 <= active - lo < len(bins):
        i = active - lo
        bx, by = bins[i]
        side = by if swap_for_y else bx
        if side:
            va = min(vr + abs(ref - active) * BASIS_POINT_MAX, pool.max_volatility_accumulator)
            rate = fee_rate(pool, va)
            price = _price(pool, i)
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


def dlmm_current_fee_rate(pool: DlmmPool, now_s: int | None = None) -> int:
    """The fee rate (1e9 = 100%) the next swap, at `now_s`, pays in the active bin."""
    ref, vr = dlmm_references(pool, now_s)
    va = vr + abs(ref - pool.active_id) * BASIS_POINT_MAX
    return fee_rate(pool, min(va, pool.max_volatility_accumulator))


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
        filter_period_s=SHORT_FILTER_PERIOD_S if decay <= 120 else DEFAULT_FILTER_PERIOD_S,
        decay_period_s=decay,
        index_reference=active,
    )
