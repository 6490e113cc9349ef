"""DELETE /api/orders/{orderId}: cancel an order that has not started executing."""

from __future__ import annotations

from typing import Annotated

from litestar import delete
from litestar.exceptions import (
    ClientException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
)
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter

from shared.auth import cancel_message, signature_is_valid
from shared.decoding import parse_order_id
from shared.orders.accept import CancelOutcome, cancel_order
from shared.orders.reads import order_with_timeline
from shared.schemas import ErrorBody, OrderView
from shared.web.state import ApiState


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
    outcome, status = await cancel_order(state_.intake, parsed, wallet)
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
    view = await order_with_timeline(state_.records, parsed)
    assert view is not None  # it was just cancelled
    return view
