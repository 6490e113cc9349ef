"""GET /api/pools (the pools on chain now, from this process's pool cache) and GET /api/quote
(a route, without executing)."""

from __future__ import annotations

from typing import Annotated

from litestar import get
from litestar.exceptions import NotFoundException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter

from shared.dex.pools import PoolView, pool_view
from shared.execution import plan_route
from shared.quotes import QuoteResponse, jupiter_quote, parse_quote_query
from shared.schemas import ErrorBody
from shared.web.state import ApiState


@get("/api/pools", summary="The pools on chain: reserves or bins, price and fee")
async def list_pools(state_: ApiState) -> list[PoolView]:
    pools = state_.pools.pools()
    return [pool_view(pools[pool_id]) for pool_id in sorted(pools)]


@get(
    "/api/pools/{pool_id:str}",
    summary="One pool as in the list, with every DLMM bin that holds liquidity",
    responses={404: ResponseSpec(ErrorBody), 503: ResponseSpec(ErrorBody)},
)
async def get_pool(pool_id: str, state_: ApiState) -> PoolView:
    pool = state_.pools.pools().get(pool_id)
    if pool is None:
        raise NotFoundException(f"unknown pool {pool_id!r}; see GET /api/pools")
    return pool_view(pool, with_bins=True)


@get(
    "/api/quote",
    summary="The best route for a swap, without executing it (Jupiter's quote shape)",
    responses={400: ResponseSpec(ErrorBody), 503: ResponseSpec(ErrorBody)},
)
async def get_quote(
    state_: ApiState,
    # Required, but checked here with the rest so that one answer names every missing one.
    token_in: Annotated[
        str | None, Parameter(query="tokenIn", description="symbol or mint", required=True)
    ] = None,
    token_out: Annotated[
        str | None, Parameter(query="tokenOut", description="symbol or mint", required=True)
    ] = None,
    amount_in: Annotated[
        str | None, Parameter(query="amountIn", description="UI units, e.g. 1.5", required=True)
    ] = None,
    slippage_bps: Annotated[
        str | None,
        Parameter(
            query="slippageBps",
            description="1..5000, default 50",
            schema_extra={"type": "integer", "one_of": None, "minimum": 1, "maximum": 5000},
        ),
    ] = None,
) -> QuoteResponse:
    mint_in, mint_out, amount, slippage = parse_quote_query(
        token_in, token_out, amount_in, slippage_bps
    )
    plan = await plan_route(state_.pools, mint_in, mint_out, amount)
    return jupiter_quote(plan.route, slippage)
