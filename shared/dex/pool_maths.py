"""What every pool model shares: the swap result, the errors, exact rounding helpers.

Amounts are integer base units (Python int, exact at any size). Prices are exact `Fraction`s,
or `Decimal`s computed in `PRICE_CONTEXT` (40 significant digits) where they have to travel as
JSON. A binary float appears only in reporting figures such as `price_impact_bps`, and those
are computed from exact values and rounded last.
"""

from __future__ import annotations

from decimal import Context, Decimal
from fractions import Fraction

import msgspec

BPS = 10_000

# Enough digits that a price per base unit (1e-12 .. 1e12) keeps ~28 significant digits.
PRICE_CONTEXT = Context(prec=40)


class InsufficientLiquidity(Exception):
    """The pool cannot fill the whole input: our orders are all-or-nothing, so no partial fill."""


class StaleQuote(Exception):
    """A swap result no longer matches the pool it is applied to (the pool moved): re-quote."""


class SwapResult(msgspec.Struct, frozen=True, kw_only=True):
    """One swap through one pool, as quoted against a given pool state.

    Amounts are base units: `amount_in` (of `mint_in`) includes `fee_amount` (also of
    `mint_in`, and it stays in the pool); `amount_out` (of `mint_out`) is what the trader gets.
    Prices are `mint_out` base units per `mint_in` base unit, before the fee: the pool's spot
    price before the swap and after it.

    `price_impact_bps` excludes the fee, as Jupiter's priceImpactPct does: how much worse the
    execution price of the fee-net input, `amount_out / (amount_in - fee_amount)`, is than
    `price_before`, in basis points (>= 0, rounded to 0.01 bps). `bins_crossed` is the number of
    bins the swap moved the active bin by (DLMM); 0 for a constant-product pool.
    """

    pool_id: str
    venue: str
    mint_in: str
    mint_out: str
    amount_in: int
    amount_out: int
    fee_amount: int
    price_impact_bps: float
    price_before: Decimal
    price_after: Decimal
    bins_crossed: int = 0

    @property
    def fee_bps(self) -> float:
        """The fee actually charged, in bps of `amount_in` (DLMM fees vary per bin)."""
        return 0.0 if self.amount_in == 0 else round(self.fee_amount * BPS / self.amount_in, 2)


def ceil_div(a: int, b: int) -> int:
    """Exact ceiling of a / b for b > 0."""
    return -(-a // b)


def to_decimal(value: Fraction) -> Decimal:
    """A Fraction as a 40-digit Decimal (for JSON), rounded half-even."""
    return PRICE_CONTEXT.divide(Decimal(value.numerator), Decimal(value.denominator))


def impact_bps(amount_net_in: int, amount_out: int, spot: Fraction) -> float:
    """How much worse `amount_out / amount_net_in` is than `spot`, in bps, fee excluded (>= 0).

    Computed exactly, then rounded to 0.01 bps for reporting.
    """
    if amount_net_in <= 0 or spot <= 0:
        return 0.0
    shortfall = 1 - Fraction(amount_out) / (amount_net_in * spot)
    return max(0.0, round(float(shortfall * BPS), 2))
