"""GET /api/orders/{orderId}: the order with its whole timeline."""

from __future__ import annotations

from litestar import get
from litestar.exceptions import NotFoundException
from litestar.openapi.datastructures import ResponseSpec

from shared.decoding import parse_order_id
from shared.orders.reads import order_with_timeline
from shared.schemas import ErrorBody, OrderView
from shared.web.state import ApiState


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
    view = await order_with_timeline(state_.records, parse_order_id(order_id))
    if view is None:
        raise NotFoundException(f"unknown order {order_id}")
    return view
