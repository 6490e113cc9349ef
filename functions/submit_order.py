"""POST /api/orders/execute: accept an order; and the same path as a WebSocket that submits
(first message) or follows (`?orderId=`) an order.

The order and its `pending` event are stored in one statement before anything else; the job
is enqueued after. If the enqueue fails the order is still accepted: the sweep enqueues it.
The `pending` event is not published: nobody can be subscribed to an id minted just now, and
late subscribers replay it from PostgreSQL.
"""

from __future__ import annotations

import uuid

import msgspec
from litestar import Request, Response, WebSocket, post, websocket
from litestar.exceptions import WebSocketDisconnect
from litestar.openapi.datastructures import ResponseSpec

from functions.deps import ApiState
from functions.ws import CLOSE_BAD_REQUEST, close, parse_stream_query, stream_order
from shared import intake
from shared.errors import InvalidRequest, describe_decode_error
from shared.orders import validate_submit
from shared.schemas import ErrorBody, SubmitOrderRequest, SubmitOrderResponse
from shared.telemetry import order_accepted
from shared.tokens import load_launched_tokens


def decode_submit(raw: str | bytes) -> SubmitOrderRequest:
    """A WebSocket submit, decoded as the HTTP body is (Litestar converts leniently: `"50"` is
    accepted for 50); raises InvalidRequest naming the field."""
    try:
        return msgspec.convert(msgspec.json.decode(raw), SubmitOrderRequest, strict=False)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        detail = describe_decode_error(str(exc))
        raise InvalidRequest([detail], detail.message) from None


_encode = msgspec.json.encode


async def accept_order(state: ApiState, body: SubmitOrderRequest) -> str:
    """Validate, store and hand on; return the order id. Raises InvalidRequest."""
    if body.order_type == "sniper":  # a sniper may not target a token that already launched
        await load_launched_tokens(state.redis, state.settings.redis_namespace)
    order = validate_submit(body)
    created = await intake.accept_order(order, state.settings, state.queue, state.book)
    order_accepted(order.order_type)
    return created.order_id


def ws_base_url(state: ApiState, request: Request | WebSocket) -> str:
    base = state.settings.public_base_url or str(request.base_url).rstrip("/")
    return "ws" + base[4:] if base.startswith("http") else base


@post(
    "/api/orders/execute",
    status_code=202,
    summary="Submit an order",
    description="Answers 202 with the order id and the WebSocket URL that streams its steps.",
    responses={400: ResponseSpec(ErrorBody)},
)
async def submit_order(
    request: Request, data: SubmitOrderRequest, state_: ApiState
) -> Response[SubmitOrderResponse]:
    order_id = await accept_order(state_, data)
    ws_url = f"{ws_base_url(state_, request)}/api/orders/ws?orderId={order_id}"
    return Response(
        SubmitOrderResponse(order_id=order_id, status="pending", ws_url=ws_url),
        status_code=202,
        headers={"Location": f"/api/orders/{order_id}"},
    )


@websocket("/api/orders/execute")
async def submit_order_ws(socket: WebSocket, state_: ApiState) -> None:
    """With `?orderId=` follow that order; without, the first message is a submit body."""
    await socket.accept()
    order_id, after_seq, error = parse_stream_query(socket)
    if error:
        await close(socket, CLOSE_BAD_REQUEST, error)
        return
    if order_id is None:
        try:
            message = await socket.receive()
            if message["type"] == "websocket.disconnect":
                return
            raw = message.get("text") or message.get("bytes") or b""
            accepted = await accept_order(state_, decode_submit(raw))
        except WebSocketDisconnect:
            return
        except InvalidRequest as exc:
            await _reject(
                socket,
                ErrorBody(error="VALIDATION_ERROR", message=exc.message, details=exc.details),
            )
            return
        await socket.send_data(
            _encode(SubmitOrderResponse(order_id=accepted, status="pending")).decode()
        )
        order_id, after_seq = uuid.UUID(accepted), 0
    await stream_order(socket, state_.hub, order_id, after_seq)


async def _reject(socket: WebSocket, body: ErrorBody) -> None:
    await socket.send_data(_encode(body).decode())
    await close(socket, CLOSE_BAD_REQUEST, body.message)
