"""The engine's queue (shared/jobs/saq_fork.py) against SAQ's own RedisQueue: for what it
overrides — enqueue, dequeue, the writes that start and finish a job, abort, sweep — the same
scenario on both queues leaves the same state in Redis and tells the same to a subscriber.
An SAQ release that changed what these overrides lean on fails here, not in production.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis
from saq import Job
from saq.job import Status
from saq.queue.redis import RedisQueue

from shared.config import Settings
from shared.jobs.saq_fork import OrderQueue
from tests.helpers.engine import SettingsFactory

Scenario = Callable[[RedisQueue, aioredis.Redis], Awaitable[dict[str, Any]]]


@pytest.fixture
async def queues(
    settings_factory: SettingsFactory,
) -> AsyncIterator[Callable[[type[RedisQueue]], Awaitable[tuple[RedisQueue, aioredis.Redis]]]]:
    """`await make(queue_class)`: a queue of that class in a namespace of its own."""
    made: list[aioredis.Redis] = []

    async def make(kind: type[RedisQueue]) -> tuple[RedisQueue, aioredis.Redis]:
        settings: Settings = await settings_factory()
        redis = aioredis.from_url(settings.redis_url)
        made.append(redis)
        return kind(redis, name=f"{settings.redis_namespace}:orders"), redis

    yield make
    for redis in made:
        await redis.aclose()


async def state_of(queue: RedisQueue, redis: aioredis.Redis, job: Job) -> dict[str, Any]:
    """What a queue's users can see of a job: its record, and the lists it is on."""
    stored = await queue.job(job.key)
    return {
        "status": None if stored is None else stored.status,
        "attempts": None if stored is None else stored.attempts,
        "error": None if stored is None else stored.error,
        "queued": await redis.lrange(queue.namespace("queued"), 0, -1),
        "active": await redis.lrange(queue.namespace("active"), 0, -1),
        "incomplete": await redis.zrange(queue.namespace("incomplete"), 0, -1),
    }


def normalised(state: dict[str, Any], queue: RedisQueue) -> dict[str, Any]:
    """Job ids carry the queue's name; leave it out so two queues' states compare."""
    prefix = queue.name.encode()
    return {
        key: [item.replace(prefix, b"Q") for item in value] if isinstance(value, list) else value
        for key, value in state.items()
    }


async def run_on_both(make: Any, scenario: Scenario) -> tuple[dict[str, Any], dict[str, Any]]:
    results = []
    for queue, redis in (await make(RedisQueue), await make(OrderQueue)):
        # SAQ keeps a job's abort flag under its key alone (`saq:abort:<key>`), whatever the
        # queue: clear it, or an abort left by another run would refuse the same key here.
        await redis.delete("saq:abort:one")
        results.append(await scenario(queue, redis))
        await redis.delete("saq:abort:one")
    return results[0], results[1]


async def take(queue: RedisQueue) -> Job:
    job = await queue.dequeue(timeout=1)
    assert job is not None
    return job


async def started(queue: RedisQueue, job: Job) -> None:
    """What SAQ's worker does when it starts a job."""
    job.started, job.attempts = 1, job.attempts + 1
    await job.update(status=Status.ACTIVE)


async def test_enqueue_and_dequeue_give_what_saq_gives(queues: Any) -> None:
    async def scenario(queue: RedisQueue, redis: aioredis.Redis) -> dict[str, Any]:
        first = await queue.enqueue(Job("f", kwargs={"n": 1}, key="one"))
        again = await queue.enqueue(Job("f", kwargs={"n": 1}, key="one"))  # a duplicate key
        taken = await take(queue)
        nothing = await queue.dequeue(timeout=0.2)
        return {
            "enqueued": first is not None,
            "duplicate": again is None,
            "taken": (taken.function, taken.kwargs, taken.key, taken.status),
            "empty": nothing is None,
            **normalised(await state_of(queue, redis, taken), queue),
        }

    theirs, ours = await run_on_both(queues, scenario)
    assert ours == theirs
    assert theirs["taken"] == ("f", {"n": 1}, "one", Status.QUEUED)


@pytest.mark.parametrize("ttl", [-1, 0, 60])
@pytest.mark.parametrize("outcome", [Status.COMPLETE, Status.FAILED])
async def test_starting_and_finishing_a_job_write_what_saq_writes(
    queues: Any, ttl: int, outcome: Status
) -> None:
    async def scenario(queue: RedisQueue, redis: aioredis.Redis) -> dict[str, Any]:
        await queue.enqueue(Job("f", key="one", ttl=ttl))
        job = await take(queue)
        pubsub = redis.pubsub()
        await pubsub.subscribe(job.id)
        await started(queue, job)
        while_active = normalised(await state_of(queue, redis, job), queue)
        await queue.finish(job, outcome, result=None, error=None)
        heard = []
        async with asyncio.timeout(5):
            while len(heard) < 2:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
                if message is not None:
                    heard.append(message["data"])
        await pubsub.aclose()
        return {
            "while_active": while_active,
            "finished": normalised(await state_of(queue, redis, job), queue),
            "heard": heard,  # SAQ's notifications on the job's channel
        }

    theirs, ours = await run_on_both(queues, scenario)
    assert ours == theirs
    assert theirs["while_active"]["status"] == Status.ACTIVE


async def test_abort_is_saqs(queues: Any) -> None:
    async def scenario(queue: RedisQueue, redis: aioredis.Redis) -> dict[str, Any]:
        await queue.enqueue(Job("f", key="one"))
        job = await take(queue)
        await started(queue, job)
        await queue.abort(job, error="stop")
        aborting = normalised(await state_of(queue, redis, job), queue)
        await queue.finish_abort(job)
        return {"aborting": aborting, "after": normalised(await state_of(queue, redis, job), queue)}

    theirs, ours = await run_on_both(queues, scenario)
    assert ours == theirs
    assert theirs["aborting"]["status"] == Status.ABORTING


async def test_a_stuck_active_job_is_swept_and_retried_as_saq_does(queues: Any) -> None:
    async def scenario(queue: RedisQueue, redis: aioredis.Redis) -> dict[str, Any]:
        await queue.enqueue(Job("f", key="one", retries=3, heartbeat=1))
        job = await take(queue)
        await started(queue, job)
        job.touched = 1  # its worker went silent long ago
        await job.update()
        swept = await queue.sweep(lock=1, abort=0.1)
        return {
            "swept": [s.replace(queue.name, "Q") for s in swept],
            **normalised(await state_of(queue, redis, job), queue),
        }

    theirs, ours = await run_on_both(queues, scenario)
    assert ours == theirs
    assert theirs["status"] == Status.QUEUED and theirs["swept"]


async def test_where_the_fork_departs_a_job_taken_a_moment_ago_is_not_swept(
    queues: Any,
) -> None:
    """SAQ's sweep aborts a job its worker has taken but not marked active yet (a moment's
    window); the fork leaves it alone until two sweeps find it unchanged."""

    async def scenario(queue: RedisQueue, redis: aioredis.Redis) -> dict[str, Any]:
        await queue.enqueue(Job("f", key="one", retries=3))
        await take(queue)
        return {"swept": [s.replace(queue.name, "Q") for s in await queue.sweep(lock=1, abort=0.1)]}

    theirs, ours = await run_on_both(queues, scenario)
    assert theirs["swept"] and not ours["swept"]
