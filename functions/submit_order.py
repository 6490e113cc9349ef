"""POST /api/orders/execute: accept an order; and the same path as a WebSocket that submits
(first message) or follows (`?orderId=`) an order.

The order and its `pending` event are stored in one statement before anything else; the job
is enqueued after. If the enqueue fails the order is still accepted: the sweep enqueues it.
The `pending` event is not published: nobody can be subscribed to an id minted just now, and
late subscribers replay it from PostgreSQL.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any

import msgspec
from litestar import Request, Response, WebSocket, post, websocket
from litestar.dto import AbstractDTO, DTOFieldDefinition
from litestar.exceptions import (
    NotAuthorizedException,
    TooManyRequestsException,
    WebSocketDisconnect,
)
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Reference, Schema
from litestar.params import Parameter
from litestar.typing import FieldDefinition

from shared.auth import signature_is_valid
from shared.errors import InvalidRequest
from shared.orders.accept import accept_order
from shared.orders.submission import parse_submit
from shared.schemas import ErrorBody, SubmitOrderRequest, SubmitOrderResponse
from shared.web.state import ApiState
from shared.web.streams import CLOSE_BAD_REQUEST, close, parse_stream_query, stream_order

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator


class SubmitBody(AbstractDTO[SubmitOrderRequest]):
    """The submit body decoded by `parse_submit`, so that a 400 names every bad field (Litestar's
    own decoding stops at the first); the OpenAPI schema is the struct's own."""

    def decode_bytes(self, value: bytes) -> SubmitOrderRequest:
        return parse_submit(value)

    def decode_builtins(self, value: dict[str, Any]) -> SubmitOrderRequest:
        return parse_submit(msgspec.json.encode(value))

    @classmethod
    def create_for_field_definition(
        cls, field_definition: FieldDefinition, handler_id: str, backend_cls: Any = None
    ) -> None:
        """Nothing to build: no transfer model, the struct is decoded as it is."""

    @classmethod
    def create_openapi_schema(
        cls, field_definition: FieldDefinition, handler_id: str, schema_creator: SchemaCreator
    ) -> Reference | Schema:
        return schema_creator.for_field_definition(
            FieldDefinition.from_annotation(SubmitOrderRequest)
        )

    @classmethod
    def generate_field_definitions(cls, model_type: type[Any]) -> Iterator[DTOFieldDefinition]:
        yield from ()

    @classmethod
    def detect_nested_field(cls, field_definition: FieldDefinition) -> bool:
        return False


_encode = msgspec.json.encode


async def check_caller(
    state: ApiState, client: str, wallet: str, body: bytes, signature: str | None
) -> None:
    """The per-client submit limit (429), then, if required, the wallet's signature (401)."""
    wait_s = await state.submit_limiter.retry_after_s(client)
    if wait_s:
        raise TooManyRequestsException(
            "too many submits from this client; retry later",
            headers={"Retry-After": str(wait_s)},
        )
    if state.settings.require_signatures and not signature_is_valid(wallet, body, signature):
        raise NotAuthorizedException(
            "X-Wallet-Signature must be the walletAddress key's ed25519 signature of the body"
        )


def client_address(request: Request | WebSocket) -> str:
    """The caller's address: behind a proxy (Render) the last X-Forwarded-For hop, which the
    proxy itself appended; else the socket's peer."""
    forwarded = request.headers.get("x-forwarded-for")
    if forwarded:
        return forwarded.rsplit(",", 1)[-1].strip()
    return request.client.host if request.client else "unknown"


IdempotencyKeyHeader = Annotated[
    str | None,
    Parameter(
        header="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="the same key and body answer the first answer again, for 48 hours",
    ),
]
SignatureHeader = Annotated[
    str | None,
    Parameter(
        header="X-Wallet-Signature",
        max_length=100,
        description="base58 ed25519 signature of the exact body by walletAddress "
        "(required with REQUIRE_SIGNATURES)",
    ),
]


def ws_base_url(state: ApiState, request: Request | WebSocket) -> str:
    base = state.settings.public_base_url or str(request.base_url).rstrip("/")
    return "ws" + base[4:] if base.startswith("http") else base


@post(
    "/api/orders/execute",
    status_code=202,
    summary="Submit an order",
    description="Answers 202 with the order id and the WebSocket URL that streams its steps.",
    responses={
        400: ResponseSpec(ErrorBody),
        401: ResponseSpec(ErrorBody),
        413: ResponseSpec(ErrorBody),
        422: ResponseSpec(ErrorBody),
        429: ResponseSpec(ErrorBody),
        503: ResponseSpec(ErrorBody),
    },
    dto=SubmitBody,
    return_dto=None,
)
async def submit_order(
    request: Request,
    data: SubmitOrderRequest,
    state_: ApiState,
    idempotency_key: IdempotencyKeyHeader = None,
    signature: SignatureHeader = None,
) -> Response[SubmitOrderResponse]:
    body = await request.body()
    await check_caller(state_, client_address(request), data.wallet_address, body, signature)
    order_id = await accept_order(state_.intake, data, idempotency_key)
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
            body = parse_submit(raw)
            raw_bytes = raw.encode() if isinstance(raw, str) else raw
            signature = socket.query_params.get("signature")
            await check_caller(
                state_, client_address(socket), body.wallet_address, raw_bytes, signature
            )
            accepted = await accept_order(state_.intake, body)
        except WebSocketDisconnect:
            return
        except (NotAuthorizedException, TooManyRequestsException) as exc:
            error = "UNAUTHORIZED" if exc.status_code == 401 else "RATE_LIMITED"
            await _reject(socket, ErrorBody(error=error, message=exc.detail))
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
    await stream_order(socket, state_.hub, state_.records, order_id, after_seq)


async def _reject(socket: WebSocket, body: ErrorBody) -> None:
    await socket.send_data(_encode(body).decode())
    await close(socket, CLOSE_BAD_REQUEST, body.message)
