"""The SAQ queue of orders, how an order becomes a job, and the global rate limiter.

One job per order, keyed by the order id: SAQ dedups a key while its job is queued, active or
scheduled, and the conditional status updates in PostgreSQL guard the rest.
"""

from __future__ import annotations

from typing import Any

import msgspec
from redis.asyncio import Redis
from saq import Job
from saq.queue.redis import RedisQueue

from shared.config import Settings

EXECUTE_ORDER = "execute_order"

_dump = msgspec.json.Encoder().encode
_load = msgspec.json.decode


def redis_client(settings: Settings, *, extra_connections: int = 20) -> Redis:
    """Each SAQ concurrency slot may hold a connection: size the pool for it."""
    return Redis.from_url(
        settings.redis_url,
        max_connections=settings.queue_concurrency + extra_connections,
        health_check_interval=10,
        socket_keepalive=True,
    )


class OrderQueue(RedisQueue):
    """SAQ's Redis queue that a stopping worker can close to new jobs."""

    draining = False

    async def dequeue(self, timeout: float = 0.0, poll_interval: float = 0.0) -> Job | None:  # noqa: ASYNC109 - SAQ's signature
        if self.draining:
            return None
        return await super().dequeue(timeout, poll_interval)

    async def sweep(self, lock: int = 60, abort: float = 5.0) -> list[str]:
        # Before retrying a stuck job SAQ waits `abort` seconds for its worker to acknowledge
        # the abort. A live worker checks for aborts every second; a dead one never will.
        return await super().sweep(lock, abort=min(abort, 1.5))


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


# GCRA: one key holds the theoretical arrival time of the next permitted start. Each call
# reserves the next slot and returns how long to wait for it, using Redis's clock so that
# every worker process agrees. A burst of 1: starts are spaced evenly, never bunched.
_RESERVE_SCRIPT = """
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval_ms = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now_ms then tat = now_ms end
local wait_ms = tat - now_ms
-- %.3f keeps sub-millisecond intervals exact (Lua's default number format would round).
redis.call('SET', KEYS[1], string.format('%.3f', tat + interval_ms),
           'PX', math.ceil(wait_ms + interval_ms) + 1000)
return math.ceil(wait_ms)
"""


class RateLimiter:
    """A global limit on order starts per minute, shared by every worker process."""

    def __init__(self, redis: Redis, namespace: str, per_minute: int) -> None:
        self.per_minute = per_minute
        self._key = f"{namespace}:ratelimit:orders"
        self._interval_ms = 60_000 / per_minute if per_minute else 0.0
        self._reserve = redis.register_script(_RESERVE_SCRIPT)

    async def reserve_ms(self) -> int:
        """Reserve the next start; return the milliseconds to wait for it (0 when unlimited)."""
        if not self.per_minute:
            return 0
        return int(await self._reserve(keys=[self._key], args=[self._interval_ms]))
