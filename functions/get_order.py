"""GET /api/orders/{orderId}: the order with its whole timeline."""

from __future__ import annotations

import uuid

import msgspec
from litestar import get
from litestar.exceptions import NotFoundException
from litestar.openapi.datastructures import ResponseSpec

from functions.deps import ApiState
from shared.errors import InvalidRequest
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
    responses={400: ResponseSpec(ErrorBody), 404: ResponseSpec(ErrorBody)},
)
async def get_order_by_id(order_id: str, state_: ApiState) -> OrderView:
    found = await get_order(parse_order_id(order_id))
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
