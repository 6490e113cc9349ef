"""Cost that does not grow with history: after the tables have grown and were never analyzed
(autovacuum off, as on these machines), the engine's own statements — the submit insert, the
step write, the order and history reads, the metrics, the watcher's reconcile and the sweep —
reach `orders` and `order_events` through indexes only: PostgreSQL's own counters show no
sequential scan of either table.

The statements first run on near-empty tables, more than the five times after which
PostgreSQL may switch a prepared statement to a generic plan, so that a plan made while the
tables were small would still be in use after they grew.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import asyncpg
import pytest
import redis.asyncio as aioredis

from shared.config import Settings
from shared.db import close_database, open_database, pool
from shared.jobs.queue import create_queue
from shared.orders.reads import get_order, order_history
from shared.orders.steps import OrderFields, StepRequest, take_steps
from shared.orders.submission import NewOrder
from shared.sweep import sweep_stale_orders
from shared.telemetry.summary import queue_metrics
from shared.tokens import token_by_symbol
from shared.waiting.book import WaitingBook, reconcile
from tests.helpers.engine import SettingsFactory
from tests.helpers.events import sample
from tests.helpers.orders import RECORDS

WALLET = "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM"
FINISHED = 60_000  # finished orders loaded in SQL, five events each
ROUNDS = 8  # > 5: past the point where a generic plan may take over

# Finished orders and their events, as a day of trading leaves them, written in two statements.
_LOAD_HISTORY = (
    """
    INSERT INTO orders (id, order_type, status, wallet_address, token_in, token_out, amount_in,
                        slippage_bps, attempt, last_seq, amount_out, tx_signature,
                        created_at, updated_at)
    SELECT gen_random_uuid(), 'market', CASE WHEN g % 10 = 0 THEN 'failed' ELSE 'confirmed' END,
           'W' || (g % 5000), $2, $3, 1000000000, 50, 1, 5, 150000000, 'sig' || g,
           now() - interval '1 day' + g * interval '1 ms', now() - interval '1 day'
    FROM generate_series(1, $1::int) AS g
    """,
    """
    INSERT INTO order_events (order_id, seq, status, attempt, data, created_at)
    SELECT o.id, s.seq, s.status, 1, '{}'::jsonb, o.created_at
    FROM orders o CROSS JOIN (VALUES (1, 'pending'), (2, 'routing'), (3, 'building'),
                                     (4, 'submitted'), (5, 'confirmed')) AS s(seq, status)
    WHERE o.wallet_address LIKE 'W%'
    """,
)


async def engine_workload(settings: Settings, redis: aioredis.Redis) -> None:
    """One round of what the engine does per order, per batch and per poll."""
    sol, usdc = token_by_symbol("SOL"), token_by_symbol("USDC")
    ids = []
    for order_type in ("market", "market", "market", "limit"):
        waits = order_type == "limit"
        order = NewOrder(
            order_type,
            sol,
            usdc,
            10**9,
            50,
            WALLET,
            limit_price=Decimal(1000) if waits else None,
            expires_in_s=60 if waits else None,
        )
        created = await RECORDS.insert(order)
        assert created is not None
        ids.append(uuid.UUID(created.order_id))
    market = ids[:3]
    await asyncio.gather(*(RECORDS.row(i) for i in market))
    steps = [
        ("routing", sample("routing")),
        ("building", sample("building")),
        ("submitted", sample("submitted")),
    ]
    moved = await take_steps(
        [StepRequest(i, steps, 1, OrderFields(tx_signature="s")) for i in market]
    )
    assert all(len(events) == 3 for events in moved)
    done = await take_steps(
        [
            StepRequest(i, [("confirmed", sample("confirmed"))], 1, OrderFields(amount_out=1))
            for i in market
        ]
    )
    assert all(len(events) == 1 for events in done)
    for order_id in ids:
        assert len(await RECORDS.events_after(order_id, 0)) >= 2
        assert await get_order(RECORDS, order_id) is not None
    await order_history(WALLET, limit=20, cursor=None, status=None)
    await order_history(WALLET, limit=20, cursor=None, status="confirmed")
    queue = create_queue(settings, redis)
    metrics = await queue_metrics(queue, settings)
    assert metrics.orders.by_status["confirmed"] >= 3
    await reconcile(WaitingBook(redis, settings.redis_namespace))
    await sweep_stale_orders(queue, settings)


async def scans(admin: asyncpg.Connection) -> dict[str, tuple[int, int]]:
    await admin.execute("SELECT pg_stat_clear_snapshot()")
    rows = await admin.fetch(
        "SELECT relname, seq_scan, coalesce(idx_scan, 0) AS idx_scan FROM pg_stat_user_tables"
        " WHERE relname IN ('orders', 'order_events')"
    )
    return {row["relname"]: (row["seq_scan"], row["idx_scan"]) for row in rows}


@pytest.fixture
async def grown(
    settings_factory: SettingsFactory,
) -> AsyncIterator[tuple[Settings, aioredis.Redis]]:
    settings: Settings = await settings_factory()
    redis = aioredis.from_url(settings.redis_url)
    # One connection: every statement is prepared, planned and counted on it.
    await open_database(settings.database_url, min_size=1, max_size=1)
    try:
        yield settings, redis
    finally:
        await close_database()
        await redis.aclose()


async def test_the_engines_statements_never_scan_orders_or_events_after_growth(
    grown: tuple[Settings, aioredis.Redis],
) -> None:
    settings, redis = grown
    admin = await asyncpg.connect(settings.database_url)
    try:
        await admin.execute(
            "ALTER TABLE orders SET (autovacuum_enabled = false);"
            " ALTER TABLE order_events SET (autovacuum_enabled = false)"
        )
        for _ in range(ROUNDS):
            await engine_workload(settings, redis)
        sol, usdc = token_by_symbol("SOL"), token_by_symbol("USDC")
        await admin.execute(_LOAD_HISTORY[0], FINISHED, sol.mint, usdc.mint)
        await admin.execute(_LOAD_HISTORY[1])
        analyzed = await admin.fetchval(
            "SELECT max(coalesce(last_analyze, last_autoanalyze)) FROM pg_stat_user_tables"
            " WHERE relname IN ('orders', 'order_events')"
        )
        assert analyzed is None  # never analyzed: the planner has only the tables' sizes

        await pool().fetchval("SELECT pg_stat_force_next_flush()")  # the counters so far
        before = await scans(admin)
        for _ in range(ROUNDS):
            await engine_workload(settings, redis)
        await pool().fetchval("SELECT pg_stat_force_next_flush()")  # flushed once it is idle
        await pool().fetchval("SELECT 1")
        after = await scans(admin)
    finally:
        await admin.close()
    seq_scans = {table: after[table][0] - before[table][0] for table in after}
    index_scans = {table: after[table][1] - before[table][1] for table in after}
    assert seq_scans == {"orders": 0, "order_events": 0}, (seq_scans, index_scans)
    assert index_scans["orders"] > 0 and index_scans["order_events"] > 0, index_scans


async def test_the_status_counts_are_the_orders_own(
    grown: tuple[Settings, aioredis.Redis],
) -> None:
    """The counters kept as orders finish, plus the open orders counted through their index,
    give exactly what counting every order would."""
    settings, redis = grown
    for _ in range(3):
        await engine_workload(settings, redis)
    waiting = await pool().fetch("SELECT id FROM orders WHERE status = 'waiting' LIMIT 2")
    assert len(waiting) == 2
    assert (
        await RECORDS.transition(
            waiting[0]["id"], "cancelled", attempt=None, data=sample("cancelled")
        )
        is not None
    )
    assert (
        await RECORDS.transition(waiting[1]["id"], "expired", attempt=None, data=sample("expired"))
        is not None
    )
    failed = await RECORDS.insert(
        NewOrder("market", token_by_symbol("SOL"), token_by_symbol("USDC"), 10**9, 50, WALLET)
    )
    assert failed is not None
    assert (
        await RECORDS.transition(
            uuid.UUID(failed.order_id), "failed", attempt=1, data=sample("failed")
        )
        is not None
    )
    counted = {
        row["status"]: row["n"]
        for row in await pool().fetch("SELECT status, count(*) AS n FROM orders GROUP BY status")
    }
    metrics = await queue_metrics(create_queue(settings, redis), settings)
    assert metrics.orders.by_status == counted
    assert set(counted) == {"confirmed", "waiting", "cancelled", "expired", "failed"}
    assert metrics.orders.confirmed_last_minute == counted["confirmed"]
    assert metrics.latency.sample_size == counted["confirmed"]
