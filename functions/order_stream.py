"""WebSocket /api/orders/ws?orderId=&afterSeq=: an order's events, history first, then live."""

from __future__ import annotations

from litestar import WebSocket, websocket

from shared.web.state import ApiState
from shared.web.streams import CLOSE_BAD_REQUEST, close, parse_stream_query, stream_order


@websocket("/api/orders/ws")
async def order_stream(socket: WebSocket, state_: ApiState) -> None:
    await socket.accept()
    order_id, after_seq, error = parse_stream_query(socket)
    if error is None and order_id is None:
        error = "orderId is required"
    if error or order_id is None:
        await close(socket, CLOSE_BAD_REQUEST, error or "orderId is required")
        return
    await stream_order(socket, state_.hub, state_.records, order_id, after_seq)
