"""Token launches on the local chain: a new SPL mint, its first pool, and the announcement
snipers wait for (`launch_on_chain`); `launch_pool` is the pool the validator creates."""

from __future__ import annotations

import os
from collections.abc import Awaitable
from decimal import Decimal
from fractions import Fraction
from typing import Literal, cast

import base58
import msgspec
from redis.asyncio import Redis

from shared.chain.rpc import RpcError, SolanaRpc, wait_landed
from shared.dex.cpmm import CpmmPool
from shared.dex.dlmm import dlmm_from_spot
from shared.dex.pools import Pool
from shared.tokens import Token, launched_tokens_key, register_token

LAUNCH_BIN_STEP = 100  # a new token is volatile: 1% bins, as Meteora's launch pools use
LAUNCH_BINS_EACH_SIDE = 69


class LaunchRequest(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    symbol: str
    decimals: int
    venue: Literal["raydium", "meteora"]
    quote_token: str
    token_amount: Decimal
    quote_amount: Decimal


class LaunchResult(msgspec.Struct, rename="camel"):
    mint: str
    pool_id: str
    symbol: str


class Launched(msgspec.Struct, frozen=True):
    """The announcement on `{namespace}:launch`."""

    symbol: str
    mint: str
    decimals: int
    pool_id: str


def launch_channel(namespace: str) -> str:
    return f"{namespace}:launch"


def new_mint() -> str:
    return base58.b58encode(os.urandom(32)).decode()


def launch_pool(token: Token, quote: Token, venue: str, token_units: int, quote_units: int) -> Pool:
    pool_id = f"{venue}-{token.symbol}-{quote.symbol}"
    if venue == "raydium":
        return CpmmPool(
            pool_id=pool_id,
            mint_a=token.mint,
            mint_b=quote.mint,
            reserve_a=token_units,
            reserve_b=quote_units,
        )
    # A DLMM launch pool holds the new token above the active bin and the quote below it,
    # half of each around the launch price.
    return dlmm_from_spot(
        pool_id,
        token.mint,
        quote.mint,
        Fraction(quote_units, token_units),
        LAUNCH_BIN_STEP,
        token_units,
        quote_units,
        LAUNCH_BINS_EACH_SIDE,
    )


async def launch_on_chain(
    redis: Redis,
    namespace: str,
    rpc: SolanaRpc,
    request: Token,
    venue: Literal["raydium", "meteora"],
    quote: Token,
    token_units: int,
    quote_units: int,
) -> LaunchResult:
    """A real SPL mint and its first pool, created by the validator's localnet_launchToken
    (the pool's accounts as launch_pool's model); once it has landed, the token is registered
    under its new mint, then announced (in that order: whoever hears the announcement finds
    both). ValueError when the
    chain refuses it (RpcError -32602: a bad parameter) or the transaction failed."""
    try:
        created = await rpc.launch_token(
            request.symbol, request.decimals, venue, quote.mint, token_units, quote_units
        )
    except RpcError as exc:
        raise ValueError(exc.message) from None
    for status in await wait_landed(rpc, created.signatures):
        if status.err is not None:
            raise ValueError(f"the launch failed on chain: {status.err}")
    token = msgspec.structs.replace(request, mint=str(created.mint))
    await _register(redis, namespace, token)
    pool_id = created.pool_id or f"{venue}-{token.symbol}-{quote.symbol}"
    return await _announce(redis, namespace, token, pool_id)


async def _register(redis: Redis, namespace: str, token: Token) -> None:
    encoded = msgspec.json.encode(token).decode()
    await cast(Awaitable[bool], redis.hsetnx(launched_tokens_key(namespace), token.mint, encoded))
    register_token(token)


async def _announce(redis: Redis, namespace: str, token: Token, pool_id: str) -> LaunchResult:
    announcement = Launched(token.symbol, token.mint, token.decimals, pool_id)
    await redis.publish(launch_channel(namespace), msgspec.json.encode(announcement))
    return LaunchResult(mint=token.mint, pool_id=pool_id, symbol=token.symbol)
