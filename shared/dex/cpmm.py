"""Raydium-style constant-product pools (Raydium AMM v4 swap-base-in maths).

For a swap of `amount_in` of the token whose reserve is x into the token whose reserve is y:

    fee        = ceil(amount_in * fee_bps / 10_000)        taken from the input
    net        = amount_in - fee
    amount_out = floor(y * net / (x + net))

and the pool afterwards holds x + amount_in (the fee stays in the pool, for its LPs) and
y - amount_out. So x*y never decreases, and amount_out < y always.
"""

from __future__ import annotations

from fractions import Fraction

import msgspec

from shared.dex.pool_maths import (
    BPS,
    StaleQuote,
    SwapResult,
    ceil_div,
    impact_bps,
    to_decimal,
)


class CpmmPool(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind", tag="cpmm"):
    """A constant-product pool. Reserves in base units of their mints; fee in bps of the input.

    Tagged (`"kind": "cpmm"` in JSON) so a `CpmmPool | DlmmPool` decodes to the right type.
    """

    pool_id: str
    venue: str = "raydium"
    mint_a: str
    mint_b: str
    reserve_a: int
    reserve_b: int
    fee_bps: int = 25

    def __post_init__(self) -> None:
        if self.mint_a == self.mint_b:
            raise ValueError("a pool needs two different mints")
        if self.reserve_a <= 0 or self.reserve_b <= 0:
            raise ValueError("reserves must be positive")
        if not 0 <= self.fee_bps < BPS:
            raise ValueError("fee_bps must be in [0, 10000)")


def cpmm_reserves(pool: CpmmPool, mint_in: str) -> tuple[int, int]:
    """(reserve of mint_in, reserve of the other mint); ValueError for a mint not in the pool."""
    if mint_in == pool.mint_a:
        return pool.reserve_a, pool.reserve_b
    if mint_in == pool.mint_b:
        return pool.reserve_b, pool.reserve_a
    raise ValueError(f"{mint_in} is not in pool {pool.pool_id}")


def cpmm_out(x: int, y: int, amount_in: int, fee_bps: int) -> tuple[int, int]:
    """(amount_out, fee) for `amount_in` against reserves x (in) and y (out). Exact integers."""
    fee = ceil_div(amount_in * fee_bps, BPS)
    net = amount_in - fee
    return y * net // (x + net), fee


def cpmm_quote(pool: CpmmPool, mint_in: str, amount_in: int) -> SwapResult:
    """What swapping `amount_in` base units of `mint_in` gives now. Does not mutate the pool.

    The output can be 0 for a dust input (the fee and the floor eat it); it is always < the
    output reserve, so a constant-product pool never runs out of liquidity.
    """
    if amount_in <= 0:
        raise ValueError("amount_in must be positive")
    x, y = cpmm_reserves(pool, mint_in)
    out, fee = cpmm_out(x, y, amount_in, pool.fee_bps)
    spot = Fraction(y, x)
    return SwapResult(
        pool_id=pool.pool_id,
        venue=pool.venue,
        mint_in=mint_in,
        mint_out=pool.mint_b if mint_in == pool.mint_a else pool.mint_a,
        amount_in=amount_in,
        amount_out=out,
        fee_amount=fee,
        price_impact_bps=impact_bps(amount_in - fee, out, spot),
        price_before=to_decimal(spot),
        price_after=to_decimal(Fraction(y - out, x + amount_in)),
    )


def cpmm_swap(pool: CpmmPool, mint_in: str, amount_in: int) -> tuple[SwapResult, CpmmPool]:
    """The quote and the pool after that swap."""
    result = cpmm_quote(pool, mint_in, amount_in)
    if mint_in == pool.mint_a:
        after = msgspec.structs.replace(
            pool,
            reserve_a=pool.reserve_a + amount_in,
            reserve_b=pool.reserve_b - result.amount_out,
        )
    else:
        after = msgspec.structs.replace(
            pool,
            reserve_b=pool.reserve_b + amount_in,
            reserve_a=pool.reserve_a - result.amount_out,
        )
    return result, after


def cpmm_apply(pool: CpmmPool, result: SwapResult) -> CpmmPool:
    """The pool after the swap `result` was quoted for.

    Raises StaleQuote when the pool has moved since: the same input would no longer give
    `result.amount_out` (re-quote and apply the new result instead).
    """
    if result.pool_id != pool.pool_id:
        raise ValueError(f"result is for {result.pool_id}, not {pool.pool_id}")
    fresh, after = cpmm_swap(pool, result.mint_in, result.amount_in)
    if fresh.amount_out != result.amount_out:
        raise StaleQuote(
            f"{pool.pool_id}: quoted {result.amount_out}, the pool now gives {fresh.amount_out}"
        )
    return after
