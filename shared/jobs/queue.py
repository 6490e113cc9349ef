"""The SAQ queue of orders and how an order becomes a job (SAQ's own queue, as the engine
changes it, is in shared/jobs/saq_fork.py).

One job per order, keyed by the order id: SAQ dedups a key while its job is queued, active or
scheduled, and the conditional status updates in PostgreSQL guard the rest.
"""

from __future__ import annotations

from typing import Any

import msgspec
import structlog
from redis.asyncio import Redis
from saq import Job
from saq.queue.redis import RedisQueue

from shared.config import Settings
from shared.jobs.saq_fork import OrderQueue

EXECUTE_ORDER = "execute_order"

log = structlog.get_logger(__name__)

_dump = msgspec.json.Encoder().encode
_load = msgspec.json.decode


def redis_client(settings: Settings, *, extra_connections: int = 20) -> Redis:
    """Each SAQ concurrency slot may hold a connection: size the pool for it."""
    return Redis.from_url(
        settings.redis_url,
        max_connections=settings.queue_concurrency + extra_connections,
        socket_connect_timeout=2,  # an unreachable server fails a call, not hangs it
        health_check_interval=10,
        socket_keepalive=True,
    )


def create_queue(settings: Settings, redis: Redis) -> OrderQueue:
    return OrderQueue(
        redis,
        name=f"{settings.redis_namespace}:orders",
        dump=lambda data: _dump(data).decode(),
        load=_load,
        swept_error_message="WORKER_LOST: the worker running this order stopped answering",
    )


def order_job(
    settings: Settings, order_id: str, *, attempts_left: int, trigger: dict[str, Any] | None = None
) -> Job:
    """The job that runs one order (`trigger`: why a waiting order fired). SAQ's `retries`
    counts attempts, so it is what is left."""
    kwargs: dict[str, Any] = {"order_id": order_id}
    if trigger is not None:
        kwargs["trigger"] = trigger
    return Job(
        function=EXECUTE_ORDER,
        kwargs=kwargs,
        key=order_id,
        timeout=settings.queue_job_timeout_s,
        heartbeat=settings.queue_heartbeat_s,
        retries=max(1, attempts_left),
        retry_delay=settings.queue_backoff_ms / 1000,
        ttl=-1,  # a finished job is deleted: PostgreSQL keeps the history, not Redis
    )


async def enqueue_order(
    queue: RedisQueue,
    settings: Settings,
    order_id: str,
    *,
    attempts_left: int | None = None,
    trigger: dict[str, Any] | None = None,
) -> bool:
    """Enqueue the order's job; False when a job for it is already queued, active or scheduled."""
    left = settings.queue_max_attempts if attempts_left is None else attempts_left
    job = order_job(settings, order_id, attempts_left=left, trigger=trigger)
    return await queue.enqueue(job) is not None
