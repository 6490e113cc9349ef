"""One interface over every pool model: quote, swap, apply, prices and a JSON view.

Amounts are base units; prices are exact Fractions of mint_out base units per mint_in base
unit. Every function is pure: a pool is a frozen value and a swap returns a new one.
"""

from __future__ import annotations

from decimal import Context, Decimal
from fractions import Fraction
from typing import Any

import msgspec

from shared.dex.cpmm import CpmmPool, cpmm_apply, cpmm_quote, cpmm_reserves, cpmm_swap
from shared.dex.dlmm import (
    FEE_PRECISION,
    DlmmPool,
    bin_price,
    dlmm_apply,
    dlmm_current_fee_rate,
    dlmm_quote,
    dlmm_segments,
    dlmm_spot_price,
    dlmm_swap,
)
from shared.dex.pool_maths import BPS, SwapResult
from shared.tokens import find_token

Pool = CpmmPool | DlmmPool

_DISPLAY = Context(prec=12)  # significant digits of prices in views


def tokens(pool: Pool) -> tuple[str, str]:
    """The pool's two mints: (a, b) for a CPMM pool, (x, y) for a DLMM pool."""
    if isinstance(pool, CpmmPool):
        return pool.mint_a, pool.mint_b
    return pool.mint_x, pool.mint_y


def other_mint(pool: Pool, mint: str) -> str:
    a, b = tokens(pool)
    if mint == a:
        return b
    if mint == b:
        return a
    raise ValueError(f"{mint} is not in pool {pool.pool_id}")


def holding(pool: Pool, mint: str) -> int:
    """How much of `mint` the pool holds in its reserves or bins (base units; fees apart)."""
    if isinstance(pool, CpmmPool):
        return pool.reserve_a if mint == pool.mint_a else pool.reserve_b
    index = 0 if mint == pool.mint_x else 1
    return sum(b[index] for b in pool.bins)


def quote(pool: Pool, mint_in: str, amount_in: int) -> SwapResult:
    """What `amount_in` base units of `mint_in` would get from the pool now (no mutation).

    DLMM pools raise InsufficientLiquidity when their bins cannot absorb the whole input.
    """
    if isinstance(pool, CpmmPool):
        return cpmm_quote(pool, mint_in, amount_in)
    return dlmm_quote(pool, mint_in, amount_in)


def swap(pool: Pool, mint_in: str, amount_in: int) -> tuple[SwapResult, Pool]:
    """The quote and the pool after that swap."""
    if isinstance(pool, CpmmPool):
        return cpmm_swap(pool, mint_in, amount_in)
    return dlmm_swap(pool, mint_in, amount_in)


def apply(pool: Pool, result: SwapResult) -> Pool:
    """The pool after the quoted swap; StaleQuote if the pool moved since the quote."""
    if isinstance(pool, CpmmPool):
        return cpmm_apply(pool, result)
    return dlmm_apply(pool, result)


def spot_price(pool: Pool, mint_in: str) -> Fraction:
    """mint_out base units per mint_in base unit at the current state, before the fee."""
    if isinstance(pool, CpmmPool):
        x, y = cpmm_reserves(pool, mint_in)
        return Fraction(y, x)
    return dlmm_spot_price(pool, mint_in)


def marginal_price(pool: Pool, mint_in: str, amount_in: int = 0) -> Fraction:
    """Output per unit of input, fee included, for the next unit of a swap that has already
    put `amount_in` into the pool: d(amount_out)/d(amount_in). Ignores integer rounding.

    CPMM: g*x*y / (x + g*a)^2 with g = 1 - fee. DLMM: the rate of the bin the swap has reached,
    P*(1 - fee rate) (or (1 - fee rate)/P); 0 beyond the last bin.
    """
    if isinstance(pool, CpmmPool):
        x, y = cpmm_reserves(pool, mint_in)
        g = Fraction(BPS - pool.fee_bps, BPS)
        return g * x * y / (x + g * amount_in) ** 2
    reached = 0
    for segment in dlmm_segments(pool, mint_in, amount_in + 1):
        reached += segment.capacity
        if reached > amount_in:
            return segment.rate
    return Fraction(0)


def fee_bps(pool: Pool) -> float:
    """The fee rate the next swap pays, in bps (a DLMM pool's grows with volatility)."""
    if isinstance(pool, CpmmPool):
        return float(pool.fee_bps)
    return dlmm_current_fee_rate(pool) * BPS / FEE_PRECISION


def _amount(mint: str, base_units: int) -> str:
    token = find_token(mint)
    return token.format(base_units) if token else str(base_units)


def _ui_price(mint_base: str, mint_quote: str, price: Fraction) -> str:
    """`price` (quote base units per base base unit) in UI units, 12 significant digits."""
    base, quote_token = find_token(mint_base), find_token(mint_quote)
    if base and quote_token:
        price *= Fraction(10) ** (base.decimals - quote_token.decimals)
    value = _DISPLAY.divide(Decimal(price.numerator), Decimal(price.denominator))
    return f"{value:f}"


def _symbol(mint: str) -> str:
    token = find_token(mint)
    return token.symbol if token else mint


class BinView(msgspec.Struct, rename="camel"):
    """One DLMM bin with liquidity: its price (tokenB per tokenA, UI units) and amounts."""

    bin_id: int
    price: str
    amount_a: str
    amount_b: str


class PoolView(msgspec.Struct, rename="camel", omit_defaults=True):
    """A pool now, for GET /api/pools: amounts as UI decimal strings (base units for unknown
    mints), `price` = tokenB per unit of tokenA in UI units. The DLMM fields are absent on a
    CPMM pool; `bins` only in GET /api/pools/{poolId}."""

    pool_id: str
    venue: str
    type: str
    token_a: str
    token_b: str
    mint_a: str
    mint_b: str
    price: str
    fee_bps: float
    reserve_a: str
    reserve_b: str
    bin_step: int | None = None
    active_id: int | None = None
    bins_with_liquidity: int | None = None
    price_range: list[str] | None = None
    base_fee_bps: int | None = None
    volatility_accumulator: int | None = None
    fees_a: str | None = None
    fees_b: str | None = None
    bins: list[BinView] | None = None


def pool_view(pool: Pool, with_bins: bool = False) -> PoolView:
    """The pool as GET /api/pools shows it; `with_bins`: every DLMM bin with liquidity too,
    ordered by bin id (the chart traders read a DLMM pool by)."""
    a, b = tokens(pool)
    common: dict[str, Any] = {
        "pool_id": pool.pool_id,
        "venue": pool.venue,
        "token_a": _symbol(a),
        "token_b": _symbol(b),
        "mint_a": a,
        "mint_b": b,
        "price": _ui_price(a, b, spot_price(pool, a)),
        "fee_bps": round(fee_bps(pool), 4),
    }
    if isinstance(pool, CpmmPool):
        return PoolView(
            type="cpmm",
            reserve_a=_amount(a, pool.reserve_a),
            reserve_b=_amount(b, pool.reserve_b),
            **common,
        )
    filled = [i for i, (x, y) in enumerate(pool.bins) if x or y]
    low = pool.min_bin_id + (filled[0] if filled else 0)
    high = pool.min_bin_id + (filled[-1] if filled else 0)
    bins = None
    if with_bins:
        bins = [
            BinView(
                bin_id=pool.min_bin_id + i,
                price=_ui_price(a, b, bin_price(pool.min_bin_id + i, pool.bin_step)),
                amount_a=_amount(a, pool.bins[i][0]),
                amount_b=_amount(b, pool.bins[i][1]),
            )
            for i in filled
        ]
    return PoolView(
        type="dlmm",
        reserve_a=_amount(a, sum(x for x, _ in pool.bins)),
        reserve_b=_amount(b, sum(y for _, y in pool.bins)),
        bin_step=pool.bin_step,
        active_id=pool.active_id,
        bins_with_liquidity=len(filled),
        price_range=[
            _ui_price(a, b, bin_price(low, pool.bin_step)),
            _ui_price(a, b, bin_price(high, pool.bin_step)),
        ],
        base_fee_bps=pool.base_fee_bps,
        volatility_accumulator=pool.volatility_accumulator,
        fees_a=_amount(a, pool.fee_x),
        fees_b=_amount(b, pool.fee_y),
        bins=bins,
        **common,
    )
