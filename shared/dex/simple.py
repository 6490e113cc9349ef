"""Simple venues for the core engine: a mid price per pair, a fixed offset per venue, a fee.

Raydium charges 0.25% and Meteora 0.20%; their prices for a pair differ by 2-5% (drawn once
per pair from SIM_SEED), each quote wobbles by up to 0.1%, and a fill lands up to 0.3% away
from its quote (the market moved while the transaction was in flight). No depth, no impact:
the realistic pool model of issue 3 replaces this module.
"""

from __future__ import annotations

import random
from decimal import ROUND_FLOOR, Decimal, localcontext

from shared.dex.venue import Quote, Venue
from shared.tokens import Token

# Reference prices in USD, for mid prices between any two registered tokens.
USD_PRICE: dict[str, Decimal] = {
    "SOL": Decimal("150"),
    "USDC": Decimal("1"),
    "USDT": Decimal("1"),
    "BONK": Decimal("0.00002"),
    "JUP": Decimal("0.8"),
    "RAY": Decimal("2"),
}

QUOTE_WOBBLE = 0.001  # each quote moves up to ±0.1%
FILL_DRIFT = 0.003  # a fill lands up to ±0.3% from its quote


def venue_offsets(seed: int, pair: tuple[str, str]) -> dict[str, float]:
    """Per-venue price offsets for a pair: Raydium within ±1.5%, Meteora 2-5% away from it."""
    rng = random.Random(f"{seed}:{min(pair)}:{max(pair)}")
    raydium = rng.uniform(-0.015, 0.015)
    gap = rng.uniform(0.02, 0.05) * rng.choice((-1, 1))
    return {"raydium": raydium, "meteora": raydium + gap}


def swap_output(
    amount_in: int, token_in: Token, token_out: Token, price: Decimal, fee_bps: int
) -> tuple[int, int]:
    """(amount_out, fee_amount) in base units: fee taken from the input (rounded up), output
    rounded down, so the venue never pays out more than the price allows."""
    fee_amount = -(-amount_in * fee_bps // 10_000)
    with localcontext() as ctx:
        ctx.prec = 60
        out = (Decimal(amount_in - fee_amount) * price).scaleb(
            token_out.decimals - token_in.decimals
        )
        return int(out.to_integral_value(rounding=ROUND_FLOOR)), fee_amount


class SimpleVenue(Venue):
    def __init__(self, *, seed: int, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.seed = seed

    def price(self, token_in: Token, token_out: Token) -> Decimal:
        """tokenOut per tokenIn (UI units) on this venue, before the fee."""
        mid = USD_PRICE[token_in.symbol] / USD_PRICE[token_out.symbol]
        offset = venue_offsets(self.seed, (token_in.symbol, token_out.symbol))[self.name]
        # The offset is the price of the pair's first symbol; the reverse direction inverts it.
        if token_in.symbol > token_out.symbol:
            offset = 1 / (1 + offset) - 1
        return mid * Decimal(1 + offset)

    def _quote(self, token_in: Token, token_out: Token, amount_in: int) -> Quote | None:
        if token_in.symbol not in USD_PRICE or token_out.symbol not in USD_PRICE:
            return None
        wobble = Decimal(1 + self.rng.uniform(-QUOTE_WOBBLE, QUOTE_WOBBLE))
        price = self.price(token_in, token_out) * wobble
        amount_out, fee_amount = swap_output(amount_in, token_in, token_out, price, self.fee_bps)
        return Quote(
            venue=self.name,
            pool_id=f"{self.name}-{token_in.symbol}-{token_out.symbol}",
            token_in=token_in.mint,
            token_out=token_out.mint,
            amount_in=amount_in,
            amount_out=amount_out,
            fee_amount=fee_amount,
            fee_bps=self.fee_bps,
        )

    def _fill(self, quote: Quote) -> int:
        drift = Decimal(1 + self.rng.uniform(-FILL_DRIFT, FILL_DRIFT))
        return int((quote.amount_out * drift).to_integral_value(rounding=ROUND_FLOOR))


class Raydium(SimpleVenue):
    name = "raydium"
    fee_bps = 25


class Meteora(SimpleVenue):
    name = "meteora"
    fee_bps = 20
