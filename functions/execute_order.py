"""The SAQ job that runs one order through its lifecycle; the retry policy lives here.

Attempts are counted in PostgreSQL (`orders.attempt`), not by SAQ, so that a job re-enqueued
by a sweep continues the count. Transient failures are retried after QUEUE_BACKOFF_MS doubling
per attempt, through SAQ's scheduler; permanent ones and the last attempt fail the order.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import msgspec
import structlog
from redis.asyncio import Redis
from saq import Job

from shared.config import Settings
from shared.errors import OrderFailure
from shared.execution import Executor, load_order
from shared.order_events import PreviousError, Trigger
from shared.orders.records import OrderRecords
from shared.ratelimit import StartLimiter
from shared.telemetry.recording import attempt_started, rate_limit_waited, retry
from shared.tokens import Token, resolve_token

log = structlog.get_logger(__name__)


@dataclass
class WorkerDeps:
    settings: Settings
    redis: Redis
    records: OrderRecords
    executor: Executor
    limiter: StartLimiter
    market_rng: random.Random


def backoff_s(settings: Settings, attempt: int) -> float:
    """Delay before attempt `attempt + 1`: QUEUE_BACKOFF_MS, doubling after each attempt."""
    return settings.queue_backoff_ms * 2 ** (attempt - 1) / 1000


@contextlib.asynccontextmanager
async def heartbeat(job: Job, every_s: float) -> AsyncIterator[None]:
    """Touch the job while it runs, so SAQ's sweep tells a slow job from a dead worker."""

    async def beat() -> None:
        while True:
            await asyncio.sleep(every_s)
            try:
                await job.update()
            except Exception as exc:  # Redis away for a moment: keep beating once it is back
                log.warning("heartbeat failed", error=repr(exc))

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


async def execute_order(
    ctx: dict[str, Any], *, order_id: str, trigger: dict[str, Any] | None = None
) -> None:
    """`trigger`: why a waiting (limit or sniper) order fired, as the job payload carries it
    (JSON); it goes into `routing`."""
    deps: WorkerDeps = ctx["deps"]
    job: Job = ctx["job"]
    settings = deps.settings

    async def resolve(symbol_or_mint: str) -> Token | None:
        return await resolve_token(deps.redis, settings.redis_namespace, symbol_or_mint)

    order = await load_order(deps.records, uuid.UUID(order_id), resolve)
    if order is None or order.terminal:
        return  # a duplicate delivery of a finished order: nothing to do
    # PostgreSQL counts the attempts that reached routing; SAQ counts this job's deliveries,
    # including those that failed before routing (an outage, a crash). The larger bounds the
    # retries either way, and a sweep's fresh job still continues PostgreSQL's count.
    attempt = max(order.attempt + 1, job.attempts)
    structlog.contextvars.bind_contextvars(order_id=order_id, attempt=attempt)
    try:
        async with heartbeat(job, settings.queue_heartbeat_s / 2):
            if attempt > settings.queue_max_attempts:
                await deps.executor.fail(
                    order, order.attempt, "ATTEMPTS_EXHAUSTED", _last_error_text(job)
                )
                return
            wait_ms = await deps.limiter.reserve_ms()
            rate_limit_waited(wait_ms / 1000)
            if wait_ms:
                await asyncio.sleep(wait_ms / 1000)
            if deps.limiter.per_minute:  # when each start was let through, for the operator
                log.info("start granted by the rate limit", waited_ms=wait_ms)
            attempt_started(order, attempt)
            await deps.executor.run_attempt(order, attempt, _previous_error(job), _trigger(trigger))
    except OrderFailure as failure:
        if failure.transient and attempt < settings.queue_max_attempts:
            _schedule_retry(job, settings, attempt, failure.code, failure.message)
            raise
        reason = failure.message
        if failure.transient:
            reason = f"{failure.message} (after {attempt} attempts)"
        await deps.executor.fail(order, attempt, failure.code, reason)
    except Exception as exc:  # a bug or an outage: retry like a transient failure
        log.exception("attempt crashed")
        if attempt < settings.queue_max_attempts:
            _schedule_retry(job, settings, attempt, "INTERNAL_ERROR", repr(exc))
            raise
        await deps.executor.fail(
            order, attempt, "INTERNAL_ERROR", f"{exc!r} (after {attempt} attempts)"
        )
    finally:
        structlog.contextvars.unbind_contextvars("order_id", "attempt")


def _schedule_retry(job: Job, settings: Settings, attempt: int, code: str, message: str) -> None:
    """Make SAQ retry this job after the back-off, carrying the error to the next attempt."""
    delay = backoff_s(settings, attempt)
    log.warning("attempt failed; retrying", code=code, reason=message, retry_in_s=delay)
    retry(code)
    job.retries = max(job.retries, job.attempts + 1)
    job.retry_delay = delay
    job.retry_backoff = False
    job.meta["previous_error"] = {"code": code, "message": message, "attempt": attempt}


def _previous_error(job: Job) -> PreviousError | None:
    if "previous_error" in job.meta:
        return msgspec.convert(job.meta.pop("previous_error"), PreviousError)
    if job.error:  # SAQ's sweep retried it: the worker running it stopped answering
        return PreviousError(code="WORKER_LOST", message=job.error.splitlines()[-1][:200])
    return None


def _trigger(payload: dict[str, Any] | None) -> Trigger | None:
    return None if payload is None else msgspec.convert(payload, Trigger)


def _last_error_text(job: Job) -> str:
    previous = _previous_error(job)
    if previous:
        return f"no attempts left; the last failed with {previous.code}: {previous.message}"
    return "no attempts left"
