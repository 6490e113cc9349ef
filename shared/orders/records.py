"""How a process reaches its orders: every write and every hot read of an order goes through
one OrderRecords (the tables, with group commit) and every step through one OrderSteps
(written, then published, then counted). Both are built once per process, in create_app and
create_worker, and handed to whatever needs them.

    submit:  OrderRecords.insert          one INSERT for the orders submitted together
    a step:  OrderSteps.take / .outside   one UPDATE + INSERT for the steps taken together,
                                          then one publish for their events
    reads:   OrderRecords.row / .events_after   one SELECT for the reads made together
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import structlog

from shared.batching import Batcher
from shared.db import pool
from shared.events import EventPublisher
from shared.faults import crash_point
from shared.order_events import EventData, OrderEvent
from shared.orders.insert import CreatedOrder, created_order, insert_orders, new_insert
from shared.orders.reads import ReplayedEvent, load_events
from shared.orders.steps import OrderFields, StepRequest, take_steps
from shared.orders.submission import NewOrder
from shared.schemas import OrderStatus
from shared.telemetry.recording import step_committed

log = structlog.get_logger(__name__)

_ROWS_SQL = """
SELECT id, order_type, status, attempt, token_in, token_out, amount_in, slippage_bps,
       tx_signature, min_amount_out, limit_price, extract(epoch FROM created_at) AS created,
       wallet_address, priority_fee, tx_bytes, tx_last_valid_block_height
FROM orders WHERE id = ANY($1::uuid[])
"""


async def read_rows(order_ids: list[uuid.UUID]) -> list[asyncpg.Record | None]:
    """The rows of `order_ids` (None for an unknown one), in one query."""
    rows = {row["id"]: row for row in await pool().fetch(_ROWS_SQL, order_ids)}
    return [rows.get(order_id) for order_id in order_ids]


class OrderRecords:
    """The orders tables as this process writes and reads them, concurrent callers together."""

    def __init__(self) -> None:
        self._inserts = Batcher("order_inserts", insert_orders)
        self._steps = Batcher("order_steps", take_steps)
        self._rows = Batcher("order_reads", read_rows)
        self._events = Batcher("history_reads", load_events)

    async def insert(
        self, order: NewOrder, idempotency: tuple[str, str] | None = None
    ) -> CreatedOrder | None:
        """Store a new order with its first event(s). With `idempotency` (key, request hash):
        None when that key was used before (nothing is stored)."""
        insert = new_insert(order, idempotency)
        row = await self._inserts(insert)
        return None if row is None else created_order(insert, row)

    async def take_steps(self, request: StepRequest) -> list[OrderEvent]:
        """The request's stored events, [] when another actor moved the order first."""
        return await self._steps(request)

    async def transition(
        self,
        order_id: uuid.UUID,
        to: OrderStatus,
        *,
        attempt: int | None,
        data: EventData,
        fields: OrderFields | None = None,
    ) -> OrderEvent | None:
        """One step, written and not published (OrderSteps publishes): its event, or None
        when another actor (a newer attempt, a cancel) moved the order first."""
        request = StepRequest(order_id, [(to, data)], attempt, fields or OrderFields())
        events = await self.take_steps(request)
        return events[0] if events else None

    async def row(self, order_id: uuid.UUID) -> asyncpg.Record | None:
        return await self._rows(order_id)

    async def events_after(self, order_id: uuid.UUID, after_seq: int = 0) -> list[ReplayedEvent]:
        """The order's events after `after_seq`, in seq order."""
        return await self._events((order_id, after_seq))


class OrderSteps:
    """The one way a step is taken: written (conditionally), then published, then counted.
    `order` is what telemetry knows of the order (None from outside an attempt)."""

    def __init__(self, records: OrderRecords, publisher: EventPublisher) -> None:
        self.records = records
        self.publisher = publisher

    async def take(
        self,
        order: Any,
        order_id: uuid.UUID,
        steps: list[tuple[OrderStatus, EventData]],
        attempt: int | None,
        fields: OrderFields | None = None,
    ) -> list[OrderEvent]:
        """Take `steps` in a row, all or none; [] when another actor moved the order first.
        `attempt` None: at whatever attempt the order is (a cancel, an expiry)."""
        crash_point(steps[0][0])  # fault tests only: killed before the step was written
        request = StepRequest(order_id, steps, attempt, fields or OrderFields())
        events = await self.records.take_steps(request)
        if not events:
            log.info("step skipped: order moved by another actor", to=steps[0][0])
            return []
        for event in events[1:]:
            crash_point(event.status)  # fault tests only
        await self.publisher.publish(events)
        for event in events:
            step_committed(order, event)
        return events

    async def outside(
        self, order_id: uuid.UUID, to: OrderStatus, data: EventData
    ) -> OrderEvent | None:
        """A step from outside an attempt (cancel, expiry); None when the order had moved on."""
        events = await self.take(None, order_id, [(to, data)], None)
        return events[0] if events else None
