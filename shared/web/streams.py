"""Serving an order's event sequence on a WebSocket, shared by both stream functions.

Litestar notices a disconnect only while someone receives, so the events are sent from a
task while another keeps receiving: the client leaving (the receiver ends) or the server
shutting down cancels the sender.

Close codes: 1000 after the terminal event; 1001 when this API process shuts down (SIGTERM);
1013 (try again later) when PostgreSQL or Redis is unreachable; 1011 on any other server
error; 4400 malformed query, 4404 unknown order. After 1001, 1011 or 1013 the client
reconnects with `afterSeq` = the last seq it got and misses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
import uuid
from typing import Any

import structlog
from litestar import WebSocket
from litestar.exceptions import WebSocketDisconnect

from shared.events import EventHub
from shared.orders.records import OrderRecords
from shared.streaming import UnknownOrder, follow_order
from shared.telemetry.recording import track_websocket
from shared.web.errors import unavailable_part

log = structlog.get_logger(__name__)

CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_SERVER_ERROR = 1011
CLOSE_TRY_AGAIN_LATER = 1013
CLOSE_BAD_REQUEST = 4400
CLOSE_UNKNOWN_ORDER = 4404

GOING_AWAY_WAIT_S = 1.0  # how long SIGTERM waits for the streams' 1001 closes to go out


class _Shutdown:
    """This process's shutdown as its streams see it; made in the app's event loop."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.idle = asyncio.Event()  # no stream open
        self.idle.set()
        self.senders: set[asyncio.Task[tuple[int, str]]] = set()

    def opened(self, sender: asyncio.Task[tuple[int, str]]) -> None:
        self.senders.add(sender)
        self.idle.clear()

    def closed(self, sender: asyncio.Task[tuple[int, str]]) -> None:
        self.senders.discard(sender)
        if not self.senders:
            self.idle.set()

    def start(self) -> None:
        """Stop every stream's sender: each stream then closes with 1001."""
        self.started.set()
        for sender in self.senders:
            sender.cancel()


_shutdown: _Shutdown | None = None  # set by close_streams_on_shutdown


@track_websocket
async def stream_order(
    socket: WebSocket[Any, Any, Any],
    hub: EventHub,
    records: OrderRecords,
    order_id: uuid.UUID,
    after_seq: int,
) -> None:
    """Send the events, then close 1000 after the terminal one (4404 for an unknown order,
    1001 on shutdown, 1013 or 1011 when the stream cannot go on)."""

    async def send_all() -> tuple[int, str]:
        try:
            async for message in follow_order(hub, records, order_id, after_seq):
                await socket.send_data(message.decode(), mode="text")
        except UnknownOrder:
            return CLOSE_UNKNOWN_ORDER, f"unknown order {order_id}"
        except WebSocketDisconnect:
            raise
        except Exception as exc:
            part = unavailable_part(exc)
            if part is not None:
                log.warning("stream interrupted", order_id=str(order_id), error=repr(exc))
                return CLOSE_TRY_AGAIN_LATER, f"{part} is unavailable; reconnect with afterSeq"
            log.exception("stream failed", order_id=str(order_id))
            return CLOSE_SERVER_ERROR, "the stream failed; reconnect with afterSeq"
        return CLOSE_NORMAL, "terminal status reached"

    shutdown = _shutdown or _Shutdown()
    if shutdown.started.is_set():
        await close(socket, CLOSE_GOING_AWAY, "the server is shutting down")
        return
    sender = asyncio.create_task(send_all())
    receiver = asyncio.create_task(_drain(socket))
    receiver.add_done_callback(lambda _: sender.cancel())  # the client left: stop sending
    shutdown.opened(sender)
    try:
        code, reason = await sender
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise  # this handler itself is being cancelled
        if shutdown.started.is_set():  # cancelled by the shutdown, not by the client leaving
            await close(socket, CLOSE_GOING_AWAY, "the server is shutting down")
    except WebSocketDisconnect:
        pass  # the client went while an event was being sent
    else:
        await close(socket, code, reason)
    finally:
        shutdown.closed(sender)
        for task in (sender, receiver):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect):
                await task


def close_streams_on_shutdown() -> None:
    """Make SIGTERM/SIGINT close every open stream with 1001 before the server's own shutdown
    (uvicorn would close them with 1012), then hand the signal on to the server's handler.
    Call from the app's startup, in the process's main thread (elsewhere it does nothing)."""
    global _shutdown
    if threading.current_thread() is not threading.main_thread():
        return
    loop = asyncio.get_running_loop()
    shutdown = _shutdown = _Shutdown()

    async def going_away(previous: Any, sig: int, frame: Any) -> None:
        shutdown.start()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(shutdown.idle.wait(), GOING_AWAY_WAIT_S)
        previous(sig, frame)

    def start(previous: Any, sig: int, frame: Any) -> None:
        task = loop.create_task(going_away(previous, sig, frame))
        _tasks.add(task)
        task.add_done_callback(_tasks.discard)

    for signum in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(signum)
        if not callable(previous):
            continue

        def on_signal(sig: int, frame: Any, previous: Any = previous) -> None:
            if shutdown.started.is_set():  # a second signal: no more waiting
                previous(sig, frame)
            else:  # a signal handler may interrupt the loop anywhere: hand over, and wake it
                loop.call_soon_threadsafe(start, previous, sig, frame)

        signal.signal(signum, on_signal)


_tasks: set[asyncio.Task[None]] = set()  # strong references to the going-away tasks


async def _drain(socket: WebSocket[Any, Any, Any]) -> None:
    """Receive until the client goes; what it sends after subscribing is ignored."""
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            await socket.receive_data(mode="text")


async def close(socket: WebSocket[Any, Any, Any], code: int, reason: str) -> None:
    with contextlib.suppress(Exception):
        await socket.close(code=code, reason=reason[:120])


def parse_stream_query(
    socket: WebSocket[Any, Any, Any],
) -> tuple[uuid.UUID | None, int, str | None]:
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
