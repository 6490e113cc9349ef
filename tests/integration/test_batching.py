"""Group commit: the Batcher itself, and the two places that batch with it on real servers:
a step for many orders in one statement (take_steps) and many inserts in one (OrderRecords)."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from typing import TypeVar

import asyncpg
import msgspec
import structlog
from saq.job import Status
from saq.utils import now

from shared.batching import Batcher, in_rounds
from shared.config import Settings
from shared.db import pool
from shared.jobs.queue import create_queue, enqueue_order, redis_client
from shared.orders.insert import CreatedOrder
from shared.orders.steps import StepRequest, take_steps
from shared.tokens import token_by_symbol
from tests.helpers.events import sample
from tests.helpers.orders import RECORDS, new_order

SOL, USDC = token_by_symbol("SOL"), token_by_symbol("USDC")
POOL = "raydium-SOL-USDC"
T = TypeVar("T")


class Recorder:
    """A run_batch that records its batches; each waits for `release` (set unless held)."""

    def __init__(self, *, hold: bool = False) -> None:
        self.batches: list[list[str]] = []
        self.started, self.release = asyncio.Event(), asyncio.Event()
        if not hold:
            self.release.set()

    async def __call__(self, items: list[str]) -> list[str]:
        self.batches.append(list(items))
        self.started.set()
        await self.release.wait()
        return [item.upper() for item in items]


async def test_concurrent_calls_share_batches_and_get_their_own_results() -> None:
    run = Recorder()
    batcher: Batcher[str, str] = Batcher("test", run)
    items = [f"item{i}" for i in range(10)]
    async with asyncio.timeout(5):
        results = await asyncio.gather(*(batcher(item) for item in items))
    assert results == [item.upper() for item in items]
    assert len(run.batches) < len(items)
    assert [item for batch in run.batches for item in batch] == items


async def queue_calls(batcher: Batcher[T, T], *items: T) -> list[asyncio.Task[T]]:
    """Tasks calling batcher(item), returned once every item is queued: batcher(item) queues
    it before the task first yields, so no sleep is needed."""
    queued = [asyncio.Event() for _ in items]

    async def call(item: T, event: asyncio.Event) -> T:
        event.set()
        return await batcher(item)

    tasks = [asyncio.create_task(call(i, e)) for i, e in zip(items, queued, strict=True)]
    await asyncio.gather(*(event.wait() for event in queued))
    return tasks


async def test_a_call_made_during_a_batch_waits_for_the_next_one() -> None:
    run = Recorder(hold=True)
    batcher: Batcher[str, str] = Batcher("test", run)
    async with asyncio.timeout(5):
        first = asyncio.create_task(batcher("a"))
        await run.started.wait()  # the batch of "a" is in flight, held open
        later = await queue_calls(batcher, "b", "c")
        assert run.batches == [["a"]]
        assert not any(task.done() for task in (first, *later))
        run.release.set()
        assert await asyncio.gather(first, *later) == ["A", "B", "C"]
    assert run.batches == [["a"], ["b", "c"]]


async def test_a_call_cancelled_before_its_batch_starts_is_not_run() -> None:
    run = Recorder(hold=True)
    batcher: Batcher[str, str] = Batcher("test", run)
    async with asyncio.timeout(5):
        first = asyncio.create_task(batcher("a"))
        await run.started.wait()
        cancelled, kept = await queue_calls(batcher, "b", "c")
        cancelled.cancel()
        run.release.set()
        assert await asyncio.gather(first, kept) == ["A", "C"]
    assert cancelled.cancelled()
    assert run.batches == [["a"], ["c"]]


async def test_a_failing_batch_raises_to_every_caller_and_the_batcher_keeps_working() -> None:
    batches: list[list[int]] = []
    started, release = asyncio.Event(), asyncio.Event()

    async def run_batch(items: list[int]) -> list[int]:
        batches.append(items)
        if len(batches) == 1:
            started.set()
            await release.wait()
            raise ValueError("the batch failed")
        return [item * 2 for item in items]

    batcher: Batcher[int, int] = Batcher("test", run_batch)
    async with asyncio.timeout(5):
        failing = asyncio.gather(*(batcher(i) for i in range(3)), return_exceptions=True)
        await started.wait()
        [during] = await queue_calls(batcher, 5)  # queued while the failing batch runs
        release.set()
        failed = await failing
        assert await during == 10
        assert await batcher(6) == 12
    assert all(isinstance(e, ValueError) and str(e) == "the batch failed" for e in failed)
    assert batches == [[0, 1, 2], [5], [6]]


async def test_an_exception_as_a_result_fails_only_its_own_caller() -> None:
    async def run_batch(items: list[int]) -> list[int | BaseException]:
        return [ValueError(f"bad {i}") if i % 2 else i * 10 for i in items]

    batcher: Batcher[int, int] = Batcher("test", run_batch)
    async with asyncio.timeout(5):
        results = await asyncio.gather(*(batcher(i) for i in range(4)), return_exceptions=True)
    assert results[0] == 0 and results[2] == 20
    assert [str(results[1]), str(results[3])] == ["bad 1", "bad 3"]


async def test_in_rounds_splits_repeated_keys_orders_locks_and_isolates_a_bad_row() -> None:
    statements: list[list[str]] = []

    async def statement(rows: list[str]) -> dict[int, str]:
        statements.append(rows)
        if "bad" in rows:
            raise ValueError("refused")
        return {i: row.upper() for i, row in enumerate(rows)}

    rows = ["b", "a", "b", "bad", "c"]
    results = await in_rounds(
        rows, statement, key=lambda row: row, lock_order=lambda row: row, isolate=(ValueError,)
    )
    assert results[:3] == ["B", "A", "B"] and results[4] == "C"
    assert isinstance(results[3], ValueError)
    # round 1: a, b, bad, c in lock order (refused), then each alone; round 2: the second b
    assert statements == [["a", "b", "bad", "c"], ["a"], ["b"], ["bad"], ["c"], ["b"]]


async def test_a_wrong_number_of_results_raises_instead_of_hanging() -> None:
    async def run_batch(items: list[int]) -> list[int]:
        return items[1:]  # one result short

    batcher: Batcher[int, int] = Batcher("test", run_batch)
    async with asyncio.timeout(5):
        outcomes = await asyncio.gather(batcher(1), batcher(2), return_exceptions=True)
    assert all(isinstance(o, RuntimeError) and "results for" in str(o) for o in outcomes)


async def test_the_runner_does_not_carry_the_first_callers_context() -> None:
    seen: list[dict[str, object]] = []

    async def run_batch(items: list[str]) -> list[str]:
        seen.append(structlog.contextvars.get_contextvars())
        return items

    batcher: Batcher[str, str] = Batcher("test", run_batch)

    async def call(order_id: str) -> tuple[str, dict[str, object]]:
        structlog.contextvars.bind_contextvars(order_id=order_id)  # this task's copy only
        return await batcher(order_id), structlog.contextvars.get_contextvars()

    async with asyncio.timeout(5):
        results = await asyncio.gather(call("first"), call("second"))
    assert [(r, ctx.get("order_id")) for r, ctx in results] == [
        ("first", "first"),
        ("second", "second"),
    ]
    assert seen and all("order_id" not in ctx for ctx in seen)


# --- take_steps: many orders, one call ------------------------------------------------------


async def new_order_id() -> uuid.UUID:
    return uuid.UUID((await RECORDS.insert(new_order())).order_id)


async def test_take_steps_moves_many_orders_and_refuses_only_the_wrong_one(db: Settings) -> None:
    a, b, pending = [await new_order_id() for _ in range(3)]
    # Each event keeps its own request's data: tell them apart by what they carry.
    routing_a = msgspec.structs.replace(sample("routing"), chosen="a")
    routing_b = msgspec.structs.replace(sample("routing"), chosen="b")
    building_b = msgspec.structs.replace(sample("building"), venue="b")
    results = await take_steps(
        [
            StepRequest(a, [("routing", routing_a)], 1),
            StepRequest(pending, [("building", sample("building"))], 1),  # pending: refused
            StepRequest(b, [("routing", routing_b), ("building", building_b)], 1),
        ]
    )
    assert [[(e.seq, e.status, e.data) for e in events] for events in results] == [  # type: ignore[union-attr]
        [(2, "routing", routing_a)],
        [],
        [(2, "routing", routing_b), (3, "building", building_b)],
    ]
    rows = await pool().fetch(
        "SELECT id, status, last_seq FROM orders WHERE id = ANY($1::uuid[])", [a, b, pending]
    )
    assert {r["id"]: (r["status"], r["last_seq"]) for r in rows} == {
        a: ("routing", 2),
        b: ("building", 3),
        pending: ("pending", 1),
    }


async def test_take_steps_runs_the_same_order_twice_in_separate_rounds(db: Settings) -> None:
    a, b = await new_order_id(), await new_order_id()
    results = await take_steps(
        [
            StepRequest(a, [("routing", sample("routing"))], 1),
            StepRequest(b, [("routing", sample("routing"))], 1),
            StepRequest(a, [("building", sample("building"))], 1),  # sees the routing just taken
            StepRequest(
                b, [("routing", sample("routing"))], 1
            ),  # the same attempt enters routing once
        ]
    )
    assert [[(e.seq, e.status) for e in events] for events in results] == [
        [(2, "routing")],
        [(2, "routing")],
        [(3, "building")],
        [],
    ]
    assert [e.status for e in await RECORDS.events_after(a)] == ["pending", "routing", "building"]
    assert [e.seq for e in await RECORDS.events_after(b)] == [1, 2]


async def test_submits_together_share_one_insert_and_keep_their_own_outcomes(db: Settings) -> None:
    """One batch: three submits with one Idempotency-Key (one order, in its own rounds), two
    without, and one whose amount PostgreSQL refuses (past NUMERIC(40)): it alone fails."""
    key = (f"key-{uuid.uuid4()}", "hash")
    too_big = dataclasses.replace(new_order(), amount_in=10**41)
    outcomes = await asyncio.gather(
        *(RECORDS.insert(new_order(), key) for _ in range(3)),
        RECORDS.insert(new_order()),
        RECORDS.insert(too_big),
        RECORDS.insert(new_order()),
        return_exceptions=True,
    )
    keyed, plain, refused = outcomes[:3], [outcomes[3], outcomes[5]], outcomes[4]
    assert sum(created is not None for created in keyed) == 1
    assert isinstance(refused, asyncpg.DataError)
    created = [c for c in [*keyed, *plain] if c is not None]
    assert all(isinstance(c, CreatedOrder) for c in created) and len(created) == 3
    ids = [uuid.UUID(c.order_id) for c in created if isinstance(c, CreatedOrder)]
    rows = await pool().fetch("SELECT id, status, last_seq FROM orders WHERE id = ANY($1)", ids)
    assert sorted((r["status"], r["last_seq"]) for r in rows) == [("pending", 1)] * 3
    assert await pool().fetchval("SELECT count(*) FROM orders") == 3


async def test_histories_read_together_each_get_their_own_events(db: Settings) -> None:
    first = uuid.UUID((await RECORDS.insert(new_order())).order_id)
    second = uuid.UUID((await RECORDS.insert(new_order())).order_id)
    await take_steps(
        [StepRequest(first, [("routing", sample("routing")), ("building", sample("building"))], 1)]
    )
    histories = await asyncio.gather(
        RECORDS.events_after(first),
        RECORDS.events_after(first, 2),
        RECORDS.events_after(second),
        RECORDS.events_after(second, 1),
    )
    assert [[(e.order_id, e.seq) for e in h] for h in histories] == [
        [(str(first), 1), (str(first), 2), (str(first), 3)],
        [(str(first), 3)],
        [(str(second), 1)],
        [],
    ]


async def test_jobs_enqueued_together_are_deduplicated_by_order(db: Settings) -> None:
    redis = redis_client(db)
    queue = create_queue(db, redis)
    try:
        first, second = str(uuid.uuid4()), str(uuid.uuid4())
        enqueued = await asyncio.gather(
            enqueue_order(queue, db, first),
            enqueue_order(queue, db, first),
            enqueue_order(queue, db, second),
        )
        assert sorted(enqueued) == [False, True, True]
        assert enqueued[2] is True
        assert await redis.llen(queue.namespace("queued")) == 2
        taken = await asyncio.gather(queue.dequeue(0.1), queue.dequeue(0.1), queue.dequeue(0.1))
        assert sorted(job.kwargs["order_id"] for job in taken if job) == sorted([first, second])
        assert taken.count(None) == 1
    finally:
        await redis.aclose()


async def test_a_job_taken_a_moment_ago_is_not_swept_but_one_left_unstarted_is(
    db: Settings,
) -> None:
    """Taken jobs sit in the active list, still `queued`, until their worker marks them
    active. The sweep must not abort such a job mid-run; one still unstarted at the next
    sweep (its worker died in between) is retried."""
    redis = redis_client(db)
    queue = create_queue(db, redis)
    sweep_lock = queue.namespace("sweep")
    try:
        started, unstarted = str(uuid.uuid4()), str(uuid.uuid4())
        for order_id in (started, unstarted):
            assert await enqueue_order(queue, db, order_id)
        taken = await asyncio.gather(queue.dequeue(0.1), queue.dequeue(0.1))
        assert all(job is not None and job.status == Status.QUEUED for job in taken)
        assert await queue.sweep(lock=1) == []  # both just taken: left alone
        job = next(j for j in taken if j is not None and j.kwargs["order_id"] == started)
        job.started, job.attempts = now(), job.attempts + 1  # what SAQ's worker does next
        await job.update(status=Status.ACTIVE)
        await redis.delete(sweep_lock)  # the next sweep's turn
        swept = await queue.sweep(lock=1)
        assert [s.rsplit(":", 1)[-1] for s in swept] == [unstarted]
        assert await redis.lrange(queue.namespace("active"), 0, -1) == [job.id.encode()]
        retried = await queue.job(unstarted)  # back in the queue, after its back-off
        assert retried is not None and retried.status == Status.QUEUED
        assert (retried.error or "").startswith("WORKER_LOST")
    finally:
        await redis.aclose()
