"""GET /api/pools (the simulated pools now) and GET /api/quote (a route, without executing)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from litestar import get
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter

from functions.deps import ApiState
from shared.dex.pools import reserves_view
from shared.errors import InvalidRequest
from shared.execution import plan_route
from shared.quotes import QuoteResponse, jupiter_quote
from shared.schemas import ErrorBody, FieldError
from shared.tokens import find_token


@get("/api/pools", summary="The simulated pools: reserves or bins, price and fee")
async def list_pools(state_: ApiState) -> list[dict[str, Any]]:
    snapshot = await state_.store.snapshot()
    return [reserves_view(snapshot.pools[pool_id]) for pool_id in sorted(snapshot.pools)]


@get(
    "/api/quote",
    summary="The best route for a swap, without executing it (Jupiter's quote shape)",
    responses={400: ResponseSpec(ErrorBody), 503: ResponseSpec(ErrorBody)},
)
async def get_quote(
    state_: ApiState,
    token_in: Annotated[str, Parameter(query="tokenIn", description="symbol or mint")],
    token_out: Annotated[str, Parameter(query="tokenOut", description="symbol or mint")],
    amount_in: Annotated[str, Parameter(query="amountIn", description="UI units, e.g. 1.5")],
    slippage_bps: Annotated[int, Parameter(query="slippageBps", ge=1, le=5000)] = 50,
) -> QuoteResponse:
    problems: list[FieldError] = []
    mint_in, mint_out = find_token(token_in), find_token(token_out)
    if mint_in is None:
        problems.append(FieldError(field="tokenIn", message=f"unknown token {token_in!r}"))
    if mint_out is None:
        problems.append(FieldError(field="tokenOut", message=f"unknown token {token_out!r}"))
    if mint_in is not None and mint_in == mint_out:
        problems.append(FieldError(field="tokenOut", message="tokenOut must differ from tokenIn"))
    amount = 0
    try:
        ui_amount = Decimal(amount_in)
        if not ui_amount.is_finite() or ui_amount <= 0:
            raise ValueError
        if mint_in is not None:
            amount = mint_in.to_base_units(ui_amount)
    except (InvalidOperation, ValueError):
        message = "must be a positive amount"
        if mint_in is not None:
            message += f" with at most {mint_in.decimals} decimals"
        problems.append(FieldError(field="amountIn", message=message))
    if problems:
        raise InvalidRequest(problems)
    assert mint_in is not None and mint_out is not None
    plan = await plan_route(state_.store, mint_in.mint, mint_out.mint, amount)
    return jupiter_quote(plan.route, slippage_bps)
