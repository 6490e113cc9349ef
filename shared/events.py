"""Publishing status events to Redis and fanning them out to the WebSockets of one API process.

Each event is published on its order's channel after its transaction has committed. An API
process holds ONE pattern subscription to all order channels, confirmed before it serves, and
hands each message to the local listeners of that order (a dict lookup; no per-order SUBSCRIBE
round trip). Because the subscription already exists when a listener registers, an event is
either delivered live or was committed before the listener read the database: the replay plus
the live feed miss nothing. If the subscription drops, every listener gets RESYNC once it is
back, and re-reads the database from its last seq.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import Final

import msgspec
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from shared.schemas import OrderEvent

log = logging.getLogger(__name__)

RESYNC: Final = b""  # sentinel on a listener's queue: the live feed may have had a gap

_encode_event = msgspec.json.Encoder(decimal_format="string").encode


def order_channel(namespace: str, order_id: str) -> str:
    return f"{namespace}:order:{order_id}"


async def publish_event(redis: Redis, namespace: str, event: OrderEvent) -> None:
    """Publish a committed event. Losing it is harmless: subscribers replay from PostgreSQL."""
    await redis.publish(order_channel(namespace, event.order_id), _encode_event(event))


async def publish_events(redis: Redis, namespace: str, events: list[OrderEvent]) -> None:
    """Several committed events in one round trip, in seq order."""
    async with redis.pipeline(transaction=False) as pipe:
        for event in events:
            pipe.publish(order_channel(namespace, event.order_id), _encode_event(event))
        await pipe.execute()


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
        lost_subscription = False
        while True:
            pubsub: PubSub = self._redis.pubsub()
            try:
                await pubsub.psubscribe(self._pattern)
                async for message in pubsub.listen():
                    kind = message["type"]
                    if kind == "psubscribe":
                        self._subscribed.set()
                        backoff_s = 0.1
                        if lost_subscription:
                            # Only now is every later event sure to arrive: re-read from here.
                            self._resync_all()
                            lost_subscription = False
                    elif kind == "pmessage":
                        self._dispatch(message["channel"], message["data"])
            except (RedisError, OSError) as exc:
                log.warning("event subscription lost (%s); reconnecting in %.1fs", exc, backoff_s)
            finally:
                lost_subscription = lost_subscription or self._subscribed.is_set()
                self._subscribed.clear()
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(backoff_s)
            backoff_s = min(backoff_s * 2, 5.0)

    def _dispatch(self, channel: bytes, data: bytes) -> None:
        queues = self._listeners.get(channel[self._prefix_len :].decode())
        if queues:
            for queue in queues:
                queue.put_nowait(data)

    def _resync_all(self) -> None:
        for queues in self._listeners.values():
            for queue in queues:
                queue.put_nowait(RESYNC)
