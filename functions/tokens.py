"""GET /api/tokens: the token registry."""

from __future__ import annotations

from litestar import get

from shared.schemas import TokenView
from shared.tokens import TOKENS


@get("/api/tokens", summary="Tokens the engine trades: symbol, mint, decimals")
async def list_tokens() -> list[TokenView]:
    return [
        TokenView(symbol=t.symbol, mint=t.mint, decimals=t.decimals, name=t.name) for t in TOKENS
    ]
