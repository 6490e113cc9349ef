"""GET /api/tokens: the token registry."""

from __future__ import annotations

from litestar import get

from shared.schemas import TokenView
from shared.tokens import all_tokens, load_launched_tokens
from shared.web.state import ApiState


@get("/api/tokens", summary="Tokens the engine trades (launched ones too): symbol, mint, decimals")
async def list_tokens(state_: ApiState) -> list[TokenView]:
    await load_launched_tokens(state_.redis, state_.settings.redis_namespace)
    return [
        TokenView(symbol=t.symbol, mint=t.mint, decimals=t.decimals, name=t.name)
        for t in all_tokens()
    ]
