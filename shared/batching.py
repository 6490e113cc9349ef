"""Group commit: many concurrent callers, one round trip.

A worker runs dozens of orders at once, and each step of each order used to be its own
statement or Redis call; on a loopback socket the round trip itself (a syscall each way and
waking the other side) costs more CPU than the work it carries. A Batcher collects the calls
made while its previous batch is in flight and runs them as the next batch: idle, a call runs
at once, alone; busy, calls ride together, and the busier the process the larger the batch.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Generic, TypeVar

from shared.telemetry.recording import batch_observer

In = TypeVar("In")
Out = TypeVar("Out")
T = TypeVar("T")


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


class Batcher(Generic[In, Out]):
    """`await batcher(item)` runs `run_batch` on a list of items (this one and whatever else
    arrived meanwhile) and returns this item's result. `run_batch` returns one result per
    item, in order; an exception it raises is raised to every caller of that batch. One batch
    is in flight at a time, so a call never rides on a batch that started before it."""

    def __init__(
        self,
        name: str,
        run_batch: Callable[[list[In]], Awaitable[Sequence[Out]]],
        *,
        max_size: int = 256,
    ) -> None:
        self.name = name
        self._observe = batch_observer(name)  # order_engine_batch_size{batch=name}
        self._run_batch = run_batch
        self._max_size = max_size
        self._waiting: list[tuple[In, asyncio.Future[Out]]] = []
        self._runner: asyncio.Task[None] | None = None

    async def __call__(self, item: In) -> Out:
        loop = asyncio.get_running_loop()
        if self._runner is not None and self._runner.get_loop() is not loop:
            # Left behind by an event loop that has closed (a test's, say): start afresh.
            self._runner, self._waiting = None, []
        future: asyncio.Future[Out] = loop.create_future()
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
                if not batch:
                    continue
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
                    continue
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():  # a caller cancelled meanwhile
                        future.set_result(result)
        finally:
            self._runner = None
            for _, future in self._waiting:  # cancelled while items were still waiting
                if not future.done():
                    future.cancel()
            self._waiting.clear()
