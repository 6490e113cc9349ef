"""Best-venue routing: quote every venue at once, take the largest net output."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import msgspec
import structlog

from shared.dex.venue import Quote, Venue
from shared.errors import PermanentFailure
from shared.tokens import Token

log = structlog.get_logger(__name__)


class Route(msgspec.Struct, frozen=True):
    best: Quote
    quotes: tuple[Quote, ...]  # every venue's quote, best first

    @property
    def savings_bps(self) -> int:
        """How much more the chosen venue pays than the worst one, in basis points of the worst."""
        worst = self.quotes[-1].amount_out
        return 0 if worst == 0 else (self.best.amount_out - worst) * 10_000 // worst


async def find_route(
    venues: Sequence[Venue], token_in: Token, token_out: Token, amount_in: int
) -> Route:
    """Raise PermanentFailure(NO_ROUTE) when no venue can fill the order."""
    results = await asyncio.gather(*(v.quote(token_in, token_out, amount_in) for v in venues))
    quotes = sorted(
        (q for q in results if q is not None and q.amount_out > 0),
        key=lambda q: q.amount_out,
        reverse=True,
    )
    if not quotes:
        raise PermanentFailure(
            "NO_ROUTE", f"no venue quotes {token_in.symbol} -> {token_out.symbol} for this amount"
        )
    route = Route(best=quotes[0], quotes=tuple(quotes))
    log.info(
        "route chosen",
        venue=route.best.venue,
        quotes={q.venue: q.amount_out for q in quotes},
        savings_bps=route.savings_bps,
        savings_base_units=route.best.amount_out - quotes[-1].amount_out,
    )
    return route
