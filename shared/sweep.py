"""The sweep that makes every accepted order reach a terminal state.

Orders that sat in a non-terminal, non-waiting status for ORDER_STUCK_AFTER_S are enqueued
again: if their job is still queued, active or scheduled SAQ's key dedups the enqueue (a
no-op); if the job is gone (Redis lost it, the enqueue after the insert failed, or SAQ gave up
on a dead worker) a new job continues the order, counting attempts from PostgreSQL.
"""

from __future__ import annotations

import time

from saq.queue.redis import RedisQueue

from shared.config import Settings
from shared.db import pool
from shared.jobs.queue import enqueue_order
from shared.orders.statuses import TERMINAL_SQL

SWEEP_BATCH = 500

_STALE_SQL = f"""
SELECT id, attempt FROM orders
WHERE status NOT IN {TERMINAL_SQL} AND status <> 'waiting'
  AND updated_at < clock_timestamp() - make_interval(secs => $1)
ORDER BY updated_at LIMIT $2
"""


async def sweep_stale_orders(queue: RedisQueue, settings: Settings) -> int:
    """Re-enqueue stale orders; return how many got a new job."""
    rows = await pool().fetch(_STALE_SQL, float(settings.order_stuck_after_s), SWEEP_BATCH)
    enqueued = 0
    for row in rows:
        attempts_left = settings.queue_max_attempts - row["attempt"]
        if await enqueue_order(queue, settings, str(row["id"]), attempts_left=attempts_left):
            enqueued += 1
    return enqueued


IDEMPOTENCY_KEEP = "48 hours"
_last_forget = 0.0


async def forget_old_idempotency_keys(every_s: float = 600.0) -> int:
    """Drop Idempotency-Keys older than IDEMPOTENCY_KEEP; at most every `every_s` seconds."""
    global _last_forget
    if time.monotonic() - _last_forget < every_s:
        return 0
    _last_forget = time.monotonic()
    status = await pool().execute(
        "DELETE FROM idempotency_keys"
        f" WHERE created_at < clock_timestamp() - interval '{IDEMPOTENCY_KEEP}'"
    )
    return int(status.split()[-1])


CONFIRMATIONS_KEEP_S = 3600  # the per-second confirmation counters the metrics may read
_last_trim = 0.0


async def forget_old_confirmation_counts(every_s: float = 60.0) -> int:
    """Drop per-second confirmation counters older than an hour; at most every `every_s`."""
    global _last_trim
    if time.monotonic() - _last_trim < every_s:
        return 0
    _last_trim = time.monotonic()
    status = await pool().execute(
        "DELETE FROM order_confirmations WHERE second < floor(extract(epoch FROM now())) - $1",
        CONFIRMATIONS_KEEP_S,
    )
    return int(status.split()[-1])
