"""Group commit: many concurrent callers, one round trip.

A worker runs dozens of orders at once, and each step of each order used to be its own
statement or Redis call; on a loopback socket the round trip itself (a syscall each way and
waking the other side) costs more CPU than the work it carries. A Batcher collects the calls
made while its previous batch is in flight and runs them as the next batch: idle, a call runs
at once, alone; busy, calls ride together, and the busier the process the larger the batch.

Batchers are built per process, with the objects that own what they batch (OrderRecords,
EventPublisher, the queue, the pool store, the chain), inside the process's event loop.

One contract for every batch function: it gets the items and returns one result per item, in
order. A result that is an exception is raised to that item's caller only; an exception the
function raises fails every caller of the batch. `in_rounds` is the one way a batch becomes
multi-row statements: rounds of distinct keys, rows in lock order, a failing row on its own.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Any, Generic, TypeVar

from shared.telemetry.recording import batch_observer

In = TypeVar("In")
Out = TypeVar("Out")
T = TypeVar("T")
R = TypeVar("R")


class Batcher(Generic[In, Out]):
    """`await batcher(item)` runs `run_batch` on a list of items (this one and whatever else
    arrived meanwhile) and returns this item's result (see the module's contract). One batch is
    in flight at a time, so a call never rides on a batch that started before it. `name` is
    what is batched: it labels `order_engine_batch_size{batch}`."""

    def __init__(
        self,
        name: str,
        run_batch: Callable[[list[In]], Awaitable[Sequence[Out | BaseException]]],
        *,
        max_size: int = 256,
    ) -> None:
        self.name = name
        self._observe = batch_observer(name)
        self._run_batch = run_batch
        self._max_size = max_size
        self._waiting: list[tuple[In, asyncio.Future[Out]]] = []
        self._runner: asyncio.Task[None] | None = None

    async def __call__(self, item: In) -> Out:
        future: asyncio.Future[Out] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._runner is None:
            # A fresh context: the runner serves every caller, so it must not carry the
            # first one's context variables (its bound log fields, say).
            self._runner = asyncio.create_task(self._run(), context=contextvars.Context())
        return await future

    async def _run(self) -> None:
        try:
            while self._waiting:
                batch = self._waiting[: self._max_size]
                del self._waiting[: self._max_size]
                # A call cancelled before its batch starts is not run at all.
                batch = [(item, future) for item, future in batch if not future.cancelled()]
                if batch:
                    await self._run_one(batch)
        finally:
            self._runner = None
            for _, future in self._waiting:  # cancelled while items were still waiting
                if not future.done():
                    future.cancel()
            self._waiting.clear()

    async def _run_one(self, batch: list[tuple[In, asyncio.Future[Out]]]) -> None:
        self._observe(len(batch))
        try:
            results = await self._run_batch([item for item, _ in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"{len(results)} results for {len(batch)} items")
        except asyncio.CancelledError:
            for _, future in batch:
                future.cancel()
            raise
        except Exception as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():  # its caller was cancelled meanwhile
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)


def distinct_rounds(items: list[T], key: Callable[[T], Hashable | None]) -> list[list[T]]:
    """`items` in rounds, in order, where no key (None aside) appears twice: one multi-row
    statement would apply two rows with the same key as one."""
    rounds: list[list[T]] = []
    seen: list[set[Hashable]] = []
    for item in items:
        item_key = key(item)
        index = next((i for i, keys in enumerate(seen) if item_key not in keys), len(rounds))
        if index == len(rounds):
            rounds.append([])
            seen.append(set())
        rounds[index].append(item)
        if item_key is not None:
            seen[index].add(item_key)
    return rounds


async def in_rounds(
    items: list[T],
    statement: Callable[[list[T]], Awaitable[dict[int, R]]],
    *,
    key: Callable[[T], Hashable | None],
    lock_order: Callable[[T], Any],
    isolate: tuple[type[BaseException], ...] = (),
) -> list[R | BaseException]:
    """Run `statement` over `items` as few multi-row statements as their keys allow: one per
    round of distinct keys (normally one), each round's rows sorted by `lock_order` so that two
    processes' statements lock rows in the same order and never wait on each other. The
    statement gets (index, item) pairs' items in that order and returns {index: result}.
    Should a round fail with one of `isolate` (a row the database refuses), each of its items
    is run alone, so that one bad row fails only its own caller."""
    indexed = list(enumerate(items))
    results: dict[int, R | BaseException] = {}

    async def run(rows: list[tuple[int, T]]) -> dict[int, R]:
        found = await statement([item for _, item in rows])
        return {rows[position][0]: result for position, result in found.items()}

    for this_round in distinct_rounds(indexed, key=lambda pair: key(pair[1])):
        this_round.sort(key=lambda pair: lock_order(pair[1]))
        try:
            results.update(await run(this_round))
        except isolate as error:
            if len(this_round) == 1:
                results[this_round[0][0]] = error
                continue
            for pair in this_round:
                try:
                    results.update(await run([pair]))
                except isolate as own_error:
                    results[pair[0]] = own_error
    return [results[index] for index in range(len(items))]
