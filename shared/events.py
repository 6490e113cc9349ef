"""Publishing status events to Redis and fanning them out to the WebSockets of one API process.

Each event is published on its order's channel after its transaction has committed. An API
process holds ONE pattern subscription to all order channels, confirmed before it serves, and
hands each message to the local listeners of that order (a dict lookup; no per-order SUBSCRIBE
round trip). Because the subscription already exists when a listener registers, an event is
either delivered live or was committed before the listener read the database: the replay plus
the live feed miss nothing. If the subscription drops, every listener gets LOST at once (its
stream closes 1013 and the client reconnects with `afterSeq`): a stream that cannot deliver
says so rather than wait silently. A subscription is pinged every second and counts as lost
after two seconds without an answer, so a server that hangs is noticed as one that closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import Final

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from shared.batching import Batcher
from shared.order_events import OrderEvent, encode_event

log = logging.getLogger(__name__)

LOST: Final = b""  # sentinel on a listener's queue: the live feed is gone
HEARTBEAT_S = 1.0  # an idle subscription is pinged this often
SILENCE_LIMIT_S = 2.0  # nothing heard for this long (not even a PONG): the subscription is lost


class LiveFeedLost(RedisConnectionError):
    """The process lost its event subscription: a stream cannot promise the next event."""


def order_channel(namespace: str, order_id: str) -> str:
    return f"{namespace}:order:{order_id}"


class EventPublisher:
    """The one way a process publishes committed events: the events of the steps committed
    together go out in one pipeline, in seq order per order. Losing them is harmless:
    subscribers replay from PostgreSQL."""

    def __init__(self, redis: Redis, namespace: str) -> None:
        self._redis = redis
        self._namespace = namespace
        self._batcher = Batcher("event_publishes", self._publish_batch)

    async def publish(self, events: list[OrderEvent]) -> None:
        await self._batcher(events)

    async def _publish_batch(self, batches: list[list[OrderEvent]]) -> list[None]:
        async with self._redis.pipeline(transaction=False) as pipe:
            for events in batches:
                for event in events:
                    pipe.publish(
                        order_channel(self._namespace, event.order_id), encode_event(event)
                    )
            await pipe.execute()
        return [None] * len(batches)


class EventHub:
    """One pattern subscription per process, fanned out to per-order listener queues."""

    def __init__(self, redis: Redis, namespace: str) -> None:
        self._redis = redis
        self._pattern = f"{namespace}:order:*"
        self._prefix_len = len(namespace) + len(":order:")
        self._listeners: dict[str, set[asyncio.Queue[bytes]]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    @property
    def connected(self) -> bool:
        return self._subscribed.is_set()

    @property
    def listener_count(self) -> int:
        return sum(len(queues) for queues in self._listeners.values())

    async def start(self, timeout_s: float = 10.0) -> None:
        self._reader = asyncio.create_task(self._read_forever(), name="event-hub")
        await asyncio.wait_for(self._subscribed.wait(), timeout_s)

    async def stop(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None

    @contextlib.contextmanager
    def listen(self, order_id: str) -> Iterator[asyncio.Queue[bytes]]:
        """Register a queue that receives the order's published events as raw JSON bytes."""
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._listeners.setdefault(order_id, set()).add(queue)
        try:
            yield queue
        finally:
            queues = self._listeners.get(order_id)
            if queues is not None:
                queues.discard(queue)
                if not queues:
                    del self._listeners[order_id]

    async def _read_forever(self) -> None:
        backoff_s = 0.1
        while True:
            pubsub: PubSub = self._redis.pubsub()
            heard = [asyncio.get_running_loop().time()]
            reader = asyncio.create_task(self._read(pubsub, heard))
            heartbeat = asyncio.create_task(self._heartbeat(pubsub, heard))
            try:
                # The reader alone would not notice a silent server: redis-py reconnects on
                # its own and waits on the new connection. Whichever ends first ends both.
                done, _ = await asyncio.wait({reader, heartbeat}, return_when="FIRST_COMPLETED")
                for task in done:
                    task.result()
                log.warning("event subscription silent for %.1fs; renewing it", SILENCE_LIMIT_S)
            except (RedisError, OSError) as exc:
                log.warning("event subscription lost (%s); reconnecting in %.1fs", exc, backoff_s)
            finally:
                for task in (reader, heartbeat):
                    task.cancel()
                    with contextlib.suppress(BaseException):
                        await task
                was_subscribed = self._subscribed.is_set()
                if was_subscribed:
                    self._subscribed.clear()
                    self._lose_all()
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves it untyped
            if was_subscribed:
                backoff_s = 0.1  # it worked until now: try again at once
            await asyncio.sleep(backoff_s)
            backoff_s = min(backoff_s * 2, 5.0)

    async def _read(self, pubsub: PubSub, heard: list[float]) -> None:
        loop = asyncio.get_running_loop()
        await pubsub.psubscribe(self._pattern)
        async for message in pubsub.listen():
            heard[0] = loop.time()
            kind = message["type"]
            if kind == "pmessage":
                self._dispatch(message["channel"], message["data"])
            elif kind == "psubscribe":
                self._subscribed.set()

    async def _heartbeat(self, pubsub: PubSub, heard: list[float]) -> None:
        """Ping the subscription every HEARTBEAT_S; return once nothing (not even a PONG) was
        heard for SILENCE_LIMIT_S."""
        loop = asyncio.get_running_loop()
        while loop.time() - heard[0] <= SILENCE_LIMIT_S:
            await asyncio.sleep(HEARTBEAT_S)
            if pubsub.connection is not None and self._subscribed.is_set():
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.ping()

    def _dispatch(self, channel: bytes, data: bytes) -> None:
        queues = self._listeners.get(channel[self._prefix_len :].decode())
        if queues:
            for queue in queues:
                queue.put_nowait(data)

    def _lose_all(self) -> None:
        for queues in self._listeners.values():
            for queue in queues:
                queue.put_nowait(LOST)
