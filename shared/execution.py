"""One attempt at executing an order: route, build, submit, confirm.

Every step is a conditional transition (see lifecycle); when one returns None another actor
owns the order and the attempt stops quietly. An order found `submitted` is reconciled with the
chain before anything else: its transaction either landed (confirm it) or is declared dead so
that it can never land (route again). A swap therefore settles at most once however often a
job runs.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from redis.asyncio import Redis

from shared.db import pool
from shared.dex.chain import SimulatedChain, TxRecord, new_signature
from shared.dex.router import Route, find_route
from shared.dex.venue import Quote, Venue
from shared.errors import PermanentFailure
from shared.events import publish_event
from shared.lifecycle import TERMINAL, OrderFields, transition
from shared.schemas import OrderEvent, OrderStatus
from shared.tokens import Token, find_token, format_price

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class OrderToExecute:
    id: uuid.UUID
    status: OrderStatus
    attempt: int
    token_in: Token
    token_out: Token
    amount_in: int
    slippage_bps: int
    tx_signature: str | None
    min_amount_out: int | None
    created_at_epoch_s: float

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


async def load_order(order_id: uuid.UUID) -> OrderToExecute | None:
    row = await pool().fetchrow(
        """SELECT status, attempt, token_in, token_out, amount_in, slippage_bps, tx_signature,
                  min_amount_out, extract(epoch FROM created_at) AS created
           FROM orders WHERE id = $1""",
        order_id,
    )
    if row is None:
        return None
    token_in, token_out = find_token(row["token_in"]), find_token(row["token_out"])
    assert token_in is not None and token_out is not None
    return OrderToExecute(
        id=order_id,
        status=row["status"],
        attempt=row["attempt"],
        token_in=token_in,
        token_out=token_out,
        amount_in=int(row["amount_in"]),
        slippage_bps=row["slippage_bps"],
        tx_signature=row["tx_signature"],
        min_amount_out=None if row["min_amount_out"] is None else int(row["min_amount_out"]),
        created_at_epoch_s=float(row["created"]),
    )


def min_amount_out(quoted_out: int, slippage_bps: int) -> int:
    """The least the swap may pay: the quote less the slippage tolerance, rounded down."""
    return quoted_out * (10_000 - slippage_bps) // 10_000


def quote_view(quote: Quote, order: OrderToExecute) -> dict[str, Any]:
    return {
        "venue": quote.venue,
        "poolId": quote.pool_id,
        "amountOut": order.token_out.format(quote.amount_out),
        "feeBps": quote.fee_bps,
        "feeAmount": order.token_in.format(quote.fee_amount),
        "price": format_price(order.token_in, order.token_out, quote.amount_in, quote.amount_out),
    }


@dataclass
class Executor:
    """What an attempt needs: the venues, the chain, and where to publish."""

    redis: Redis
    namespace: str
    venues: Sequence[Venue]
    chain: SimulatedChain

    async def step(
        self,
        order: OrderToExecute,
        to: OrderStatus,
        attempt: int,
        data: dict[str, Any],
        fields: OrderFields | None = None,
    ) -> OrderEvent | None:
        """Transition, then publish the committed event. None: someone else moved the order."""
        event = await transition(order.id, to, attempt=attempt, data=data, fields=fields)
        if event is None:
            log.info("step skipped: order moved by another actor", to=to)
            return None
        await publish_event(self.redis, self.namespace, event)
        return event

    async def fail(
        self, order: OrderToExecute, attempt: int, code: str, message: str
    ) -> OrderEvent | None:
        log.warning("order failed", code=code, reason=message)
        return await self.step(
            order,
            "failed",
            attempt,
            {"error": {"code": code, "message": message}},
            OrderFields(failure_code=code, failure_reason=message),
        )

    async def run_attempt(
        self, order: OrderToExecute, attempt: int, previous_error: dict[str, str] | None
    ) -> None:
        """Run attempt number `attempt`. Raises OrderFailure; transient ones may be retried."""
        if order.status == "submitted" and order.tx_signature:
            record = await self.chain.expire(order.tx_signature, str(order.id))
            if record.status != "dead":
                await self._finish(order, attempt, order.tx_signature, record, sent_at=None)
                return
            log.info("earlier transaction expired unlanded; routing again")
        route = await find_route(self.venues, order.token_in, order.token_out, order.amount_in)
        if not await self._route(order, attempt, route, previous_error):
            return
        floor = min_amount_out(route.best.amount_out, order.slippage_bps)
        signature = new_signature()
        building = {
            "venue": route.best.venue,
            "poolId": route.best.pool_id,
            "expectedAmountOut": order.token_out.format(route.best.amount_out),
            "minAmountOut": order.token_out.format(floor),
            "slippageBps": order.slippage_bps,
        }
        fields = OrderFields(venue=route.best.venue, min_amount_out=floor)
        if not await self.step(order, "building", attempt, building, fields):
            return
        # The signature is stored before it is sent: a retry can always ask the chain about it.
        submitted = {"txSignature": signature}
        if not await self.step(
            order, "submitted", attempt, submitted, OrderFields(tx_signature=signature)
        ):
            return
        sent_at = time.monotonic()
        venue = next(v for v in self.venues if v.name == route.best.venue)
        record = await self.chain.send(signature, str(order.id), venue.fill(route.best), floor)
        await self._finish(order, attempt, signature, record, sent_at=sent_at, floor=floor)

    async def _route(
        self,
        order: OrderToExecute,
        attempt: int,
        route: Route,
        previous_error: dict[str, str] | None,
    ) -> bool:
        data: dict[str, Any] = {
            "quotes": [quote_view(q, order) for q in route.quotes],
            "chosen": route.best.venue,
            "savingsBps": route.savings_bps,
        }
        if previous_error:
            data["previousError"] = previous_error
        return await self.step(order, "routing", attempt, data) is not None

    async def _finish(
        self,
        order: OrderToExecute,
        attempt: int,
        signature: str,
        record: TxRecord,
        *,
        sent_at: float | None,
        floor: int | None = None,
    ) -> None:
        if record.status == "slippage":
            floor = floor if floor is not None else order.min_amount_out
            raise PermanentFailure(
                "SLIPPAGE_EXCEEDED",
                f"the swap would pay less than minAmountOut "
                f"{order.token_out.format(floor or 0)} {order.token_out.symbol}",
            )
        confirmed = {
            "txHash": signature,
            "amountOut": order.token_out.format(record.amount_out),
            "executedPrice": format_price(
                order.token_in, order.token_out, order.amount_in, record.amount_out
            ),
            "slot": record.slot,
            "executionTimeMs": 0 if sent_at is None else round((time.monotonic() - sent_at) * 1000),
            "totalTimeMs": round((time.time() - order.created_at_epoch_s) * 1000),
        }
        await self.step(
            order, "confirmed", attempt, confirmed, OrderFields(amount_out=record.amount_out)
        )
