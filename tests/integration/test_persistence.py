"""The one write of a step, the order insert, and the global rate limiter, on real servers."""

from __future__ import annotations

import itertools
import time
import uuid

import redis.asyncio as aioredis

from shared.config import Settings
from shared.db import pool
from shared.orders.steps import OrderFields
from shared.ratelimit import StartLimiter
from tests.helpers.events import sample
from tests.helpers.orders import RECORDS, new_order


async def test_order_and_first_event_are_written_together(db: Settings) -> None:
    event = await RECORDS.insert(new_order())
    order_id = uuid.UUID(event.order_id)
    row = await pool().fetchrow(
        "SELECT status, last_seq, amount_in FROM orders WHERE id = $1", order_id
    )
    assert (row["status"], row["last_seq"], int(row["amount_in"])) == ("pending", 1, 1_500_000_000)
    assert [(e.seq, e.status) for e in await RECORDS.events_after(order_id)] == [(1, "pending")]


async def test_transitions_are_conditional_and_number_events(db: Settings) -> None:
    order_id = uuid.UUID((await RECORDS.insert(new_order())).order_id)
    assert (
        await RECORDS.transition(order_id, "building", attempt=1, data=sample("building")) is None
    )  # pending -> building: no
    routing = await RECORDS.transition(order_id, "routing", attempt=1, data=sample("routing"))
    assert routing is not None and (routing.seq, routing.attempt) == (2, 1)
    # The same attempt cannot enter routing twice; a newer attempt can.
    assert await RECORDS.transition(order_id, "routing", attempt=1, data=sample("routing")) is None
    assert (
        await RECORDS.transition(order_id, "routing", attempt=2, data=sample("routing"))
    ).seq == 3  # type: ignore[union-attr]
    # A runner of the older attempt can move nothing any more.
    assert (
        await RECORDS.transition(order_id, "building", attempt=1, data=sample("building")) is None
    )
    building = await RECORDS.transition(
        order_id,
        "building",
        attempt=2,
        fields=OrderFields(venue="meteora", min_amount_out=99),
        data=sample("building"),
    )
    assert building is not None and building.seq == 4
    row = await pool().fetchrow(
        "SELECT status, attempt, venue, min_amount_out FROM orders WHERE id = $1", order_id
    )
    assert (row["status"], row["attempt"], row["venue"], int(row["min_amount_out"])) == (
        "building",
        2,
        "meteora",
        99,
    )
    assert [e.seq for e in await RECORDS.events_after(order_id)] == [1, 2, 3, 4]


async def test_terminal_orders_do_not_move(db: Settings) -> None:
    order_id = uuid.UUID((await RECORDS.insert(new_order())).order_id)
    failed = await RECORDS.transition(
        order_id,
        "failed",
        attempt=0,
        fields=OrderFields(failure_code="X", failure_reason="y"),
        data=sample("failed"),
    )
    assert failed is not None
    for status in ("routing", "building", "submitted", "confirmed", "failed", "cancelled"):
        assert await RECORDS.transition(order_id, status, attempt=5, data=sample(status)) is None  # type: ignore[arg-type]


async def test_rate_limiter_spaces_starts_across_clients(db: Settings) -> None:
    """Two clients (as two workers would be) share one limit: 600/min = one start per 100 ms."""
    clients = [aioredis.from_url(db.redis_url) for _ in range(2)]
    try:
        limiters = [StartLimiter(c, db.redis_namespace, 600) for c in clients]
        started = time.monotonic()
        due_ms = []
        for i in range(10):
            wait = await limiters[i % 2].reserve_ms()
            due_ms.append((time.monotonic() - started) * 1000 + wait)
        gaps = [b - a for a, b in itertools.pairwise(due_ms)]
        assert all(90 <= gap <= 110 for gap in gaps), gaps
        assert await StartLimiter(clients[0], db.redis_namespace, 0).reserve_ms() == 0
    finally:
        for client in clients:
            await client.aclose()
