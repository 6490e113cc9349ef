"""Figures about the engine for humans and dashboards: queue counts from SAQ, order totals
and latencies from PostgreSQL (SAQ's own counters reset when a worker restarts)."""

from __future__ import annotations

from saq.queue.redis import RedisQueue

from shared.config import Settings
from shared.db import pool
from shared.orders.statuses import TERMINAL_SQL
from shared.schemas import (
    LatencyFigures,
    OrderTotals,
    QueueCounts,
    QueueLimits,
    QueueMetrics,
)

# Finished orders from the totals kept as they finish; open ones through the partial index
# of open orders; the rate from per-second counters; latencies from the latest confirmations
# (their partial index). None of it reads finished orders' rows.
_BY_STATUS_SQL = f"""
SELECT status, sum(n)::bigint AS n FROM order_totals GROUP BY status
UNION ALL
SELECT status, count(*) FROM orders
WHERE status NOT IN {TERMINAL_SQL} GROUP BY status
"""
_RECENT_SQL = """
SELECT (SELECT coalesce(sum(n), 0) FROM order_confirmations
        WHERE second > floor(extract(epoch FROM now())) - 60) AS last_minute,
       count(*) AS sample,
       percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (
           ORDER BY extract(epoch FROM updated_at - created_at) * 1000) AS pcts
FROM (SELECT created_at, updated_at FROM orders
      WHERE status = 'confirmed' AND updated_at > now() - interval '5 minutes'
      ORDER BY updated_at DESC LIMIT $1) AS latest
"""
LATENCY_SAMPLE = 1000  # the latest confirmations the latency figures are taken over


async def queue_metrics(queue: RedisQueue, settings: Settings) -> QueueMetrics:
    info = await queue.info()
    by_status = {row["status"]: row["n"] for row in await pool().fetch(_BY_STATUS_SQL)}
    recent = await pool().fetchrow(_RECENT_SQL, LATENCY_SAMPLE)
    pcts = recent["pcts"] or [None, None, None]
    return QueueMetrics(
        queue=QueueCounts(
            queued=info.get("queued", 0),
            active=info.get("active", 0),
            scheduled=info.get("scheduled", 0),
            complete=by_status.get("confirmed", 0),
            failed=by_status.get("failed", 0),
        ),
        workers=len(info.get("workers", {})),
        limits=QueueLimits(
            concurrency=settings.queue_concurrency,
            rate_per_minute=settings.queue_rate_limit_per_minute,
            max_attempts=settings.queue_max_attempts,
            backoff_ms=settings.queue_backoff_ms,
        ),
        orders=OrderTotals(
            by_status=by_status,
            confirmed_last_minute=recent["last_minute"],
            confirmed_per_second=round(recent["last_minute"] / 60, 3),
        ),
        latency=LatencyFigures(
            sample_size=recent["sample"],
            p50_ms=None if pcts[0] is None else round(pcts[0], 1),
            p95_ms=None if pcts[1] is None else round(pcts[1], 1),
            p99_ms=None if pcts[2] is None else round(pcts[2], 1),
        ),
    )
