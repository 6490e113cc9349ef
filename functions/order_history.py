"""GET /api/orders/history/{walletAddress}: a wallet's orders, newest first, by cursor."""

from __future__ import annotations

from typing import Annotated, get_args

from litestar import get
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter

from shared.decoding import int_in_range
from shared.errors import InvalidRequest
from shared.orders.reads import decode_cursor, order_history
from shared.orders.submission import is_wallet_address
from shared.schemas import ErrorBody, FieldError, OrderHistoryPage, OrderStatus
from shared.web.state import ApiState

STATUSES = get_args(OrderStatus)


@get(
    "/api/orders/history/{wallet_address:str}",
    summary="A wallet's orders, newest first",
    responses={400: ResponseSpec(ErrorBody), 503: ResponseSpec(ErrorBody)},
)
async def wallet_history(
    wallet_address: str,
    state_: ApiState,
    limit: Annotated[
        str | None,
        Parameter(
            description="1..200, default 50",
            schema_extra={"type": "integer", "one_of": None, "minimum": 1, "maximum": 200},
        ),
    ] = None,
    cursor: Annotated[str | None, Parameter(max_length=200)] = None,
    status: Annotated[str | None, Parameter(description="one of the order statuses")] = None,
) -> OrderHistoryPage:
    problems: list[FieldError] = []
    page_size = int_in_range(limit, "limit", 1, 200, 50, problems)
    if not is_wallet_address(wallet_address):
        problems.append(
            FieldError(field="walletAddress", message="must be a base58 Solana address of 32 bytes")
        )
    if status is not None and status not in STATUSES:
        problems.append(FieldError(field="status", message=f"must be one of {', '.join(STATUSES)}"))
    if cursor is not None:
        try:
            decode_cursor(cursor)
        except ValueError:
            problems.append(FieldError(field="cursor", message="not a cursor this engine returned"))
    if problems:
        raise InvalidRequest(problems)
    return await order_history(wallet_address, limit=page_size, cursor=cursor, status=status)  # type: ignore[arg-type]
