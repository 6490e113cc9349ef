"""The venue interface: what the router and the worker need from a DEX, and nothing more.

SAQ's backends show the shape: the public method does the bookkeeping (latency, injected
faults), a private hook does the maths. A realistic pool model replaces `_quote`/`_fill`
without touching the router or the worker.
"""

from __future__ import annotations

import asyncio
import random
from abc import ABC, abstractmethod

import msgspec

from shared.tokens import Token


class Quote(msgspec.Struct, frozen=True, kw_only=True):
    """What a venue would pay for `amount_in` now. Amounts in base units."""

    venue: str
    pool_id: str
    token_in: str  # mint
    token_out: str  # mint
    amount_in: int
    amount_out: int  # net of the fee
    fee_amount: int  # in token_in base units
    fee_bps: int


class Venue(ABC):
    name: str
    fee_bps: int

    def __init__(self, *, quote_latency_ms: int, rng: random.Random) -> None:
        self.quote_latency_ms = quote_latency_ms
        self.rng = rng

    async def quote(self, token_in: Token, token_out: Token, amount_in: int) -> Quote | None:
        """A quote after the venue's latency, or None when the venue has no pool for the pair."""
        if self.quote_latency_ms:
            await asyncio.sleep(self.quote_latency_ms / 1000)
        return self._quote(token_in, token_out, amount_in)

    def fill(self, quote: Quote) -> int:
        """The output the swap really gets when it lands: the market has moved since the quote."""
        return self._fill(quote)

    @abstractmethod
    def _quote(self, token_in: Token, token_out: Token, amount_in: int) -> Quote | None: ...

    @abstractmethod
    def _fill(self, quote: Quote) -> int: ...
