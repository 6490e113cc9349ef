"""Serving an order's event sequence on a WebSocket, shared by both stream functions.

Litestar notices a disconnect only while someone receives, so the events are sent from a
background task while this coroutine keeps receiving; whichever ends first ends the other.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid

from litestar import WebSocket
from litestar.exceptions import WebSocketDisconnect

from shared.events import EventHub
from shared.streaming import UnknownOrder, follow_order
from shared.telemetry import track_websocket

CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_BAD_REQUEST = 4400
CLOSE_UNKNOWN_ORDER = 4404


@track_websocket
async def stream_order(
    socket: WebSocket, hub: EventHub, order_id: uuid.UUID, after_seq: int
) -> None:
    """Send the events, then close 1000 after the terminal one (4404 for an unknown order)."""

    async def send_all() -> tuple[int, str]:
        try:
            async for message in follow_order(hub, order_id, after_seq):
                await socket.send_data(message.decode(), mode="text")
        except UnknownOrder:
            return CLOSE_UNKNOWN_ORDER, f"unknown order {order_id}"
        return CLOSE_NORMAL, "terminal status reached"

    sender = asyncio.create_task(send_all())
    receiver = asyncio.create_task(_drain(socket))
    done, _ = await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
    for task in (sender, receiver):
        if task not in done:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect):
                await task
    if sender in done and not sender.cancelled():
        code, reason = sender.result()
        await close(socket, code, reason)


async def _drain(socket: WebSocket) -> None:
    """Receive until the client goes; what it sends after subscribing is ignored."""
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            await socket.receive_data(mode="text")


async def close(socket: WebSocket, code: int, reason: str) -> None:
    with contextlib.suppress(Exception):
        await socket.close(code=code, reason=reason[:120])


def parse_stream_query(socket: WebSocket) -> tuple[uuid.UUID | None, int, str | None]:
    """(order_id, after_seq, error): order_id None without one; error names a bad parameter."""
    raw_id = socket.query_params.get("orderId")
    raw_after = socket.query_params.get("afterSeq", "0")
    try:
        after_seq = int(raw_after)
        if after_seq < 0:
            raise ValueError
    except ValueError:
        return None, 0, f"afterSeq must be a non-negative integer, got {raw_after!r}"
    if raw_id is None:
        return None, after_seq, None
    try:
        return uuid.UUID(raw_id), after_seq, None
    except ValueError:
        return None, after_seq, f"orderId must be a UUID, got {raw_id[:60]!r}"
