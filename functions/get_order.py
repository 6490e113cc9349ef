"""GET /api/orders/{orderId}: the order with its whole timeline."""

from __future__ import annotations

import uuid
from typing import Annotated

import msgspec
from litestar import delete, get
from litestar.exceptions import (
    ClientException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
)
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter

from functions.deps import ApiState
from shared.auth import cancel_message, signature_is_valid
from shared.errors import InvalidRequest
from shared.intake import CancelOutcome, cancel_order
from shared.orders import get_order
from shared.schemas import ErrorBody, FieldError, OrderEvent, OrderView


def parse_order_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise InvalidRequest(
            [FieldError(field="orderId", message="must be a UUID")],
            f"malformed order id {raw[:60]!r}",
        ) from None


@get(
    "/api/orders/{order_id:str}",
    summary="An order with its timeline",
    responses={
        400: ResponseSpec(ErrorBody),
        404: ResponseSpec(ErrorBody),
        503: ResponseSpec(ErrorBody),
    },
)
async def get_order_by_id(order_id: str, state_: ApiState) -> OrderView:
    return await order_with_timeline(parse_order_id(order_id))


async def order_with_timeline(order_id: uuid.UUID) -> OrderView:
    found = await get_order(order_id)
    if found is None:
        raise NotFoundException(f"unknown order {order_id}")
    view, events = found
    timeline = [
        OrderEvent(
            order_id=e.order_id,
            seq=e.seq,
            status=e.status,  # type: ignore[arg-type]
            attempt=e.attempt,
            timestamp=e.timestamp,
            data=msgspec.json.decode(e.data),
        )
        for e in events
    ]
    return msgspec.structs.replace(view, events=timeline)


@delete(
    "/api/orders/{order_id:str}",
    status_code=200,
    summary="Cancel an order that has not started executing (pending or waiting)",
    description="Header X-Wallet-Address names the caller: missing 401, not the owner 403. "
    "An order past pending/waiting answers 409 with its status.",
    responses={
        400: ResponseSpec(ErrorBody),
        401: ResponseSpec(ErrorBody),
        403: ResponseSpec(ErrorBody),
        404: ResponseSpec(ErrorBody),
        409: ResponseSpec(ErrorBody),
        503: ResponseSpec(ErrorBody),
    },
)
async def cancel_order_by_id(
    order_id: str,
    state_: ApiState,
    wallet: Annotated[str | None, Parameter(header="X-Wallet-Address", max_length=64)] = None,
    signature: Annotated[str | None, Parameter(header="X-Wallet-Signature", max_length=100)] = None,
) -> OrderView:
    parsed = parse_order_id(order_id)
    if not wallet:
        raise NotAuthorizedException("header X-Wallet-Address is required to cancel")
    message = cancel_message(str(parsed))
    if state_.settings.require_signatures and not signature_is_valid(wallet, message, signature):
        raise NotAuthorizedException(
            "X-Wallet-Signature must be the wallet's ed25519 signature of 'cancel:<orderId>'"
        )
    outcome, status = await cancel_order(
        parsed, wallet, state_.redis, state_.settings.redis_namespace, state_.book
    )
    if outcome == CancelOutcome.UNKNOWN:
        raise NotFoundException(f"unknown order {order_id}")
    if outcome == CancelOutcome.NOT_OWNER:
        raise PermissionDeniedException("only the wallet that placed the order may cancel it")
    if outcome == CancelOutcome.TOO_LATE:
        raise ClientException(
            f"the order is {status}; only pending or waiting orders can be cancelled",
            status_code=409,
            extra={"status": status},
        )
    return await order_with_timeline(parsed)
