"""An order's events as one exact sequence: history from PostgreSQL, then live from Redis.

The listener is registered before the history is read, so an event is either in the history
or arrives live; duplicates are dropped by `seq`, and a gap is filled from PostgreSQL. The
sequence ends after the terminal event, or with LiveFeedLost when the process has no live feed
(the client reconnects with `afterSeq` and misses nothing).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import msgspec

from shared.events import LOST, EventHub, LiveFeedLost
from shared.orders.reads import order_progress
from shared.orders.records import OrderRecords
from shared.orders.statuses import TERMINAL

_encode = msgspec.json.encode


class _Head(msgspec.Struct):
    """The two fields the stream needs from a published event, decoded without the rest."""

    seq: int
    status: str


_head = msgspec.json.Decoder(_Head).decode


class UnknownOrder(LookupError):
    pass


async def follow_order(
    hub: EventHub, records: OrderRecords, order_id: uuid.UUID, after_seq: int = 0
) -> AsyncIterator[bytes]:
    """Yield the order's events after `after_seq` as JSON bytes, in seq order, each once.

    Raises UnknownOrder before yielding anything if the order does not exist, and LiveFeedLost
    once the history is sent if this process has no event subscription (now or later).
    """
    with hub.listen(str(order_id)) as live:
        # Not subscribed while registering: an event published until then may be missed.
        subscribed = hub.connected
        history = await records.events_after(order_id, after_seq)
        if not history:
            progress = await order_progress(order_id)
            if progress is None:
                raise UnknownOrder(str(order_id))
            status, last_seq = progress
            if status in TERMINAL and last_seq <= after_seq:
                return  # the client already has everything, the terminal event included
        last_seq = after_seq
        for event in history:
            yield _encode(event)
            last_seq = event.seq
            if event.status in TERMINAL:
                return
        if not subscribed:
            raise LiveFeedLost("no event subscription in this process")
        while True:
            message = await live.get()
            if message == LOST:
                raise LiveFeedLost("the event subscription was lost")
            head = _head(message)
            if head.seq <= last_seq:
                continue
            if head.seq > last_seq + 1:  # a gap: fetch what is missing from the truth
                for event in await records.events_after(order_id, last_seq):
                    if event.seq >= head.seq:
                        break
                    yield _encode(event)
                    last_seq = event.seq
            yield message
            last_seq = head.seq
            if head.status in TERMINAL:
                return
