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


# What the sweep forgets, each at most every so many seconds: rows that no longer matter.
# Idempotency-Keys after 48 hours; the per-second confirmation counters after the hour the
# metrics read; signature claims after a day (a claim matters only while its transaction's
# blockhash is recent enough to build on: about a minute on Solana).
_FORGET = {
    "idempotency keys": (
        600.0,
        "DELETE FROM idempotency_keys WHERE created_at < clock_timestamp() - interval '48 hours'",
    ),
    "confirmation counts": (
        60.0,
        "DELETE FROM order_confirmations WHERE second < floor(extract(epoch FROM now())) - 3600",
    ),
    "signature claims": (
        600.0,
        "DELETE FROM order_signatures WHERE created_at < clock_timestamp() - interval '1 day'",
    ),
}
_last_forgot: dict[str, float] = {}


async def forget_old_rows() -> dict[str, int]:
    """Run each of _FORGET's deletes that is due; how many rows each removed."""
    removed = {}
    for what, (every_s, statement) in _FORGET.items():
        if time.monotonic() - _last_forgot.get(what, float("-inf")) < every_s:
            continue
        _last_forgot[what] = time.monotonic()
        status = await pool().execute(statement)
        removed[what] = int(status.split()[-1])
    return removed
