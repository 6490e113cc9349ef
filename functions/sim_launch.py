"""POST /api/sim/launch: launch a token and its first pool on the local chain (for sniper orders).

Mounted only when SIM_CONTROL_TOKEN is set (404 otherwise), and answers only to
`Authorization: Bearer <SIM_CONTROL_TOKEN>` (401 otherwise).
"""

from __future__ import annotations

from decimal import InvalidOperation
from typing import Annotated

from litestar import post
from litestar.exceptions import ClientException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter

from shared.auth import require_control_token
from shared.errors import InvalidRequest
from shared.launch import (
    LaunchRequest,
    LaunchResult,
    launch_on_chain,
    new_mint,
)
from shared.schemas import ErrorBody, FieldError
from shared.tokens import Token, find_token, load_launched_tokens
from shared.web.state import ApiState


@post(
    "/api/sim/launch",
    status_code=201,
    summary="Launch a token and its first pool on the local chain",
    responses={
        400: ResponseSpec(ErrorBody),
        401: ResponseSpec(ErrorBody),
        409: ResponseSpec(ErrorBody),
    },
)
async def sim_launch(
    data: LaunchRequest,
    state_: ApiState,
    authorization: Annotated[str | None, Parameter(header="Authorization")] = None,
) -> LaunchResult:
    require_control_token(state_.settings, authorization)
    namespace = state_.settings.redis_namespace
    await load_launched_tokens(state_.redis, namespace)
    problems: list[FieldError] = []
    symbol = data.symbol.upper()
    if not (symbol.isascii() and symbol.isalnum() and 1 <= len(symbol) <= 10):
        problems.append(FieldError(field="symbol", message="1-10 letters and digits"))
    if not 0 <= data.decimals <= 12:
        problems.append(FieldError(field="decimals", message="must be 0..12"))
    quote = find_token(data.quote_token)
    if quote is None:
        problems.append(FieldError(field="quoteToken", message="unknown token"))
    token = Token(symbol, new_mint(), data.decimals, symbol)
    units = {}
    for field, amount, unit_token in (
        ("tokenAmount", data.token_amount, token),
        ("quoteAmount", data.quote_amount, quote),
    ):
        try:
            if unit_token is None:
                continue
            value = unit_token.to_base_units(amount)
            if value <= 0:
                raise ValueError
            units[field] = value
        except (ValueError, InvalidOperation):
            problems.append(FieldError(field=field, message="must be a positive amount"))
    if problems:
        raise InvalidRequest(problems)
    assert quote is not None
    if find_token(symbol) is not None:
        raise ClientException(f"{symbol} exists already", status_code=409)
    try:
        return await launch_on_chain(
            state_.redis,
            namespace,
            state_.cluster.rpc,
            token,
            data.venue,
            quote,
            units["tokenAmount"],
            units["quoteAmount"],
        )
    except ValueError as exc:
        raise ClientException(str(exc), status_code=409) from None
