"""One interface over every pool model: quote, swap, apply, prices and a JSON view.

Amounts are base units; prices are exact Fractions of mint_out base units per mint_in base
unit. Every function is pure: a pool is a frozen value and a swap returns a new one.
"""

from __future__ import annotations

from decimal import Context, Decimal
from fractions import Fraction
from typing import Any

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


def reserves_view(pool: Pool) -> dict[str, Any]:
    """A JSON-ready summary for GET /api/pools: amounts as UI decimal strings (base units for
    unknown mints), `price` = the second token per unit of the first, in UI units."""
    a, b = tokens(pool)
    view: dict[str, Any] = {
        "poolId": pool.pool_id,
        "venue": pool.venue,
        "tokenA": _symbol(a),
        "tokenB": _symbol(b),
        "mintA": a,
        "mintB": b,
        "price": _ui_price(a, b, spot_price(pool, a)),
        "feeBps": round(fee_bps(pool), 4),
    }
    if isinstance(pool, CpmmPool):
        view |= {
            "type": "cpmm",
            "reserveA": _amount(a, pool.reserve_a),
            "reserveB": _amount(b, pool.reserve_b),
        }
        return view
    filled = [i for i, (x, y) in enumerate(pool.bins) if x or y]
    low = pool.min_bin_id + (filled[0] if filled else 0)
    high = pool.min_bin_id + (filled[-1] if filled else 0)
    view |= {
        "type": "dlmm",
        "reserveA": _amount(a, sum(x for x, _ in pool.bins)),
        "reserveB": _amount(b, sum(y for _, y in pool.bins)),
        "binStep": pool.bin_step,
        "activeId": pool.active_id,
        "binsWithLiquidity": len(filled),
        "priceRange": [
            _ui_price(a, b, bin_price(low, pool.bin_step)),
            _ui_price(a, b, bin_price(high, pool.bin_step)),
        ],
        "baseFeeBps": pool.base_fee_bps,
        "volatilityAccumulator": pool.volatility_accumulator,
        "feesA": _amount(a, pool.fee_x),
        "feesB": _amount(b, pool.fee_y),
    }
    return view
