"""One attempt at executing an order: route, build, submit, confirm.

Every step is a conditional transition (see lifecycle); when one returns None another actor
owns the order and the attempt stops quietly. An order found `submitted` is reconciled with the
chain before anything else: its transaction either landed (confirm it) or is declared dead so
that it can never land (route again). A swap therefore settles at most once however often a
job runs.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal

import structlog

from shared.chain.pools import ChainPools
from shared.dex.chain import SimulatedChain, TxRecord, new_signature
from shared.dex.pool_maths import SwapResult
from shared.dex.routing import NoRoute, Route, best_route, direct_quotes
from shared.dex.store import PoolStore
from shared.errors import PermanentFailure, TransientFailure
from shared.faults import crash_point
from shared.order_events import (
    BuildingData,
    ConfirmedData,
    EventData,
    FailedData,
    FailureReason,
    OrderEvent,
    PreviousError,
    RoutingData,
    SubmittedData,
    Trigger,
)
from shared.orders.insert import limit_floor_base_units
from shared.orders.records import OrderRecords, OrderSteps
from shared.orders.statuses import TERMINAL
from shared.orders.steps import OrderFields
from shared.quotes import min_amount_out, route_label, route_view, venue_quote_view
from shared.schemas import OrderStatus
from shared.tokens import Token, format_price

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class OrderToExecute:
    id: uuid.UUID
    order_type: str
    status: OrderStatus
    attempt: int
    token_in: Token
    token_out: Token
    amount_in: int
    slippage_bps: int
    tx_signature: str | None
    min_amount_out: int | None
    created_at_epoch_s: float
    limit_price: Decimal | None = None
    wallet_address: str = ""
    priority_fee: str = "auto"  # "auto" or micro-lamports per compute unit
    tx_bytes: bytes | None = None  # the stored transaction of a `submitted` order (chain)
    tx_lvbh: int | None = None  # its lastValidBlockHeight

    def floor(self, quoted_out: int) -> int:
        """minAmountOut: the quote less the slippage, and for a limit order never below
        amountIn x limitPrice."""
        floor = min_amount_out(quoted_out, self.slippage_bps)
        if self.limit_price is not None:
            limit = limit_floor_base_units(
                self.amount_in, self.token_in, self.token_out, self.limit_price
            )
            floor = max(floor, limit)
        return floor

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


async def load_order(
    records: OrderRecords, order_id: uuid.UUID, resolve: Callable[[str], Awaitable[Token | None]]
) -> OrderToExecute | None:
    """The order as the job needs it; `resolve` finds tokens launched since this process
    started. None for an unknown order or one whose tokens are unknown."""
    row = await records.row(order_id)
    if row is None:
        return None
    token_in, token_out = await resolve(row["token_in"]), await resolve(row["token_out"])
    if token_in is None or token_out is None:
        return None
    return OrderToExecute(
        id=order_id,
        order_type=row["order_type"],
        limit_price=row["limit_price"],
        status=row["status"],
        attempt=row["attempt"],
        token_in=token_in,
        token_out=token_out,
        amount_in=int(row["amount_in"]),
        slippage_bps=row["slippage_bps"],
        tx_signature=row["tx_signature"],
        min_amount_out=None if row["min_amount_out"] is None else int(row["min_amount_out"]),
        created_at_epoch_s=float(row["created"]),
        wallet_address=row["wallet_address"],
        priority_fee=row["priority_fee"] or "auto",
        tx_bytes=None if row["tx_bytes"] is None else bytes(row["tx_bytes"]),
        tx_lvbh=row["tx_last_valid_block_height"],
    )


async def plan_route(
    store: PoolStore | ChainPools, mint_in: str, mint_out: str, amount_in: int
) -> Plan:
    """The best route against the pools as they are now, with every venue's direct quote
    from the same snapshot; PermanentFailure(NO_ROUTE) when nothing can fill the amount."""
    if isinstance(store, ChainPools):
        try:
            pools, routes = await store.routes(mint_in, mint_out, amount_in)
        except NoRoute as exc:
            raise PermanentFailure("NO_ROUTE", str(exc)) from None
        return Plan(routes[0], direct_quotes(pools, mint_in, mint_out, amount_in))
    snapshot = await store.snapshot()
    try:
        route = best_route(snapshot.pools, mint_in, mint_out, amount_in)
    except NoRoute as exc:
        raise PermanentFailure("NO_ROUTE", str(exc)) from None
    return Plan(route, direct_quotes(snapshot.pools, mint_in, mint_out, amount_in))


@dataclass(frozen=True, slots=True)
class Plan:
    route: Route
    venue_quotes: list[SwapResult]


def routing_data(
    order: OrderToExecute,
    plan: Plan,
    previous_error: PreviousError | None,
    trigger: Trigger | None,
) -> RoutingData:
    """The routing event: every venue's quote, the route chosen, its gain over the best single
    venue, and why this attempt runs (a retry's previous error, a waiting order's trigger)."""
    route = plan.route
    data = RoutingData(
        quotes=[venue_quote_view(q) for q in plan.venue_quotes],
        chosen=route_label(route),
        route=route_view(route),
        best_single_venue_amount_out=order.token_out.format(route.best_single_amount_out),
        gain_bps=route.gain_bps,
        previous_error=previous_error,
        trigger=trigger,  # why a waiting order fired
    )
    log.info(
        "route chosen",
        route=data.chosen,
        amount_out=route.amount_out,
        best_single_venue_out=route.best_single_amount_out,
        gain_bps=route.gain_bps,
        quotes={q.pool_id: q.amount_out for q in plan.venue_quotes},
    )
    return data


@dataclass
class Executor:
    """What an attempt needs: the orders (their steps), the pools and the chain. A worker runs
    many attempts at once: their reads, writes and publishes ride together (OrderSteps)."""

    steps: OrderSteps
    store: PoolStore
    chain: SimulatedChain
    quote_latency_ms: int = 0

    async def step(
        self,
        order: OrderToExecute,
        to: OrderStatus,
        attempt: int,
        data: EventData,
        fields: OrderFields | None = None,
    ) -> OrderEvent | None:
        """One step of the attempt; None when someone else moved the order first."""
        events = await self.steps.take(order, order.id, [(to, data)], attempt, fields)
        return events[0] if events else None

    async def fail(
        self, order: OrderToExecute, attempt: int, code: str, message: str
    ) -> OrderEvent | None:
        """Fail the order, unless a transaction it sent has settled: an order is never failed
        while the chain paid it. A `submitted` order's signature is decided first (declared
        dead if still undecided), and confirmed if it settled."""
        row = await self.steps.records.row(order.id)
        if row is not None and row["status"] == "submitted" and row["tx_signature"]:
            record = await self.chain.expire(row["tx_signature"], str(order.id))
            if record.status == "settled":
                log.warning("not failing: its transaction settled", code=code)
                await self._finish(order, attempt, row["tx_signature"], record, sent_at=None)
                return None
        log.warning("order failed", code=code, reason=message)
        return await self.step(
            order,
            "failed",
            attempt,
            FailedData(error=FailureReason(code=code, message=message)),
            OrderFields(failure_code=code, failure_reason=message),
        )

    async def run_attempt(
        self,
        order: OrderToExecute,
        attempt: int,
        previous_error: PreviousError | None,
        trigger: Trigger | None = None,
    ) -> None:
        """Run attempt number `attempt`. Raises OrderFailure; transient ones may be retried."""
        if order.status == "submitted" and order.tx_signature:
            record = await self.chain.expire(order.tx_signature, str(order.id))
            if record.status != "dead":
                await self._finish(order, attempt, order.tx_signature, record, sent_at=None)
                return
            log.info("earlier transaction expired unlanded; routing again")
        if self.quote_latency_ms:  # every pool is quoted at once: one round of latency
            await asyncio.sleep(self.quote_latency_ms / 1000)
        plan = await plan_route(
            self.store, order.token_in.mint, order.token_out.mint, order.amount_in
        )
        route = plan.route
        routing = routing_data(order, plan, previous_error, trigger)
        floor = order.floor(route.amount_out)
        signature = new_signature()
        building = BuildingData(
            venue=route_label(route),
            expected_amount_out=order.token_out.format(route.amount_out),
            min_amount_out=order.token_out.format(floor),
            slippage_bps=order.slippage_bps,
        )
        # Routing, building and submitted are all decided before the transaction is sent:
        # one write takes the three steps. The signature is stored before it is sent, so a
        # retry can always ask the chain what became of it.
        fields = OrderFields(venue=route_label(route), min_amount_out=floor, tx_signature=signature)
        decided: list[tuple[OrderStatus, EventData]] = [
            ("routing", routing),
            ("building", building),
            ("submitted", SubmittedData(tx_signature=signature)),
        ]
        if not await self.steps.take(order, order.id, decided, attempt, fields):
            return
        sent_at = time.monotonic()
        record = await self.chain.send(signature, str(order.id), route, floor)
        crash_point("landed")  # fault tests only
        await self._finish(order, attempt, signature, record, sent_at=sent_at, floor=floor)

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
        if record.status == "dead":  # declared dead meanwhile by a newer attempt: not landed
            raise TransientFailure("TX_EXPIRED", "the transaction was dropped before landing")
        if record.status == "slippage":
            floor = floor if floor is not None else order.min_amount_out
            raise PermanentFailure(
                "SLIPPAGE_EXCEEDED",
                f"the swap would pay less than minAmountOut "
                f"{order.token_out.format(floor or 0)} {order.token_out.symbol}",
            )
        confirmed = ConfirmedData(
            tx_hash=signature,
            amount_out=order.token_out.format(record.amount_out),
            executed_price=format_price(
                order.token_in, order.token_out, order.amount_in, record.amount_out
            ),
            slot=record.slot,
            execution_time_ms=0 if sent_at is None else round((time.monotonic() - sent_at) * 1000),
            total_time_ms=round((time.time() - order.created_at_epoch_s) * 1000),
        )
        await self.step(
            order, "confirmed", attempt, confirmed, OrderFields(amount_out=record.amount_out)
        )
