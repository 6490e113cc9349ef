"""Waiting orders (limit and sniper) and what wakes them: price moves, launches, deadlines.

Waiting costs no job and no query per order per tick. Redis holds, per namespace:
  waiting:orders              hash  order id -> WaitingOrder (JSON)
  waiting:limit:{in}:{out}    zset  order id by limit price (tokenOut per tokenIn, UI units)
  waiting:limit:pairs         set   the directions that have waiting limit orders
  waiting:sniper:{target}     zset  order id by arrival (oldest first)
  waiting:expiries            zset  order id by deadline (epoch seconds)
After a price move only the limit orders whose limit is at or below the direction's best
marginal price are looked at (a range query on the zset); each of them is routed for its
whole size and fires only if that pays at least amountIn x limitPrice. A trigger first
*claims* the order (removing it atomically; one claimer wins), then enqueues its job; the job
moves it waiting -> routing with a conditional update, which a cancel or an expiry racing it
can also only win or lose whole.

PostgreSQL stays the truth: `reconcile` re-adds every waiting order the book lacks (after a
Redis loss, or a claim whose job never came), and the job's conditional transition makes a
second trigger harmless.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from decimal import Decimal
from fractions import Fraction
from typing import cast

import msgspec
from redis.asyncio import Redis

from shared.db import pool
from shared.dex.pools import Pool, holding, other_mint
from shared.dex.routing import NoRoute, Route, apply_route, best_route
from shared.order_events import LaunchTrigger, PriceTrigger, Trigger
from shared.orders.insert import limit_floor_base_units
from shared.tokens import Token, find_token

_encode = msgspec.json.Encoder(decimal_format="string").encode


class WaitingOrder(msgspec.Struct, frozen=True, kw_only=True):
    order_id: str
    order_type: str  # limit | sniper
    mint_in: str
    key: str  # limit: the tokenOut mint; sniper: the target (symbol or mint)
    amount_in: int
    limit_price: Decimal | None = None
    max_price_impact_bps: int | None = None
    expires_at: float = 0.0  # epoch seconds
    arrival: float = 0.0  # epoch seconds: snipers fire oldest first


_decode_waiting = msgspec.json.Decoder(WaitingOrder).decode

# Remove an order from every index; 1 if this call removed it (the claim), 0 if already gone.
_CLAIM_SCRIPT = """
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
return 1
"""

# Add an order unless it is already there (reconcile may race a claim: a claimed order that is
# re-added is claimed again later, and its job's conditional transition decides).
_ADD_SCRIPT = """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
if KEYS[4] ~= '' then redis.call('SADD', KEYS[4], ARGV[5]) end
return 1
"""


class WaitingBook:
    def __init__(self, redis: Redis, namespace: str) -> None:
        self._redis = redis
        self._prefix = f"{namespace}:waiting"
        self.orders = f"{self._prefix}:orders"
        self.expiries = f"{self._prefix}:expiries"
        self.pairs = f"{self._prefix}:limit:pairs"
        self._claim = redis.register_script(_CLAIM_SCRIPT)
        self._add = redis.register_script(_ADD_SCRIPT)

    def index_key(self, order: WaitingOrder) -> str:
        if order.order_type == "limit":
            return self.limit_key(order.mint_in, order.key)
        return self.sniper_key(order.key)

    def limit_key(self, mint_in: str, mint_out: str) -> str:
        return f"{self._prefix}:limit:{mint_in}:{mint_out}"

    def sniper_key(self, target: str) -> str:
        return f"{self._prefix}:sniper:{target}"

    async def add(self, order: WaitingOrder) -> bool:
        is_limit = order.order_type == "limit"
        score = float(order.limit_price) if is_limit else order.arrival  # type: ignore[arg-type]
        keys = [self.orders, self.index_key(order), self.expiries, self.pairs if is_limit else ""]
        args: list[str | bytes | float] = [
            order.order_id,
            _encode(order),
            score,
            order.expires_at,
            f"{order.mint_in}:{order.key}",
        ]
        return bool(await self._add(keys=keys, args=args))

    async def claim(self, order: WaitingOrder) -> bool:
        """Take the order off the book; True for exactly one caller."""
        keys = [self.orders, self.index_key(order), self.expiries]
        return bool(await self._claim(keys=keys, args=[order.order_id]))

    async def claim_by_id(self, order_id: str) -> bool:
        orders = await self.get([order_id])
        return bool(orders) and await self.claim(orders[0])

    async def get(self, order_ids: list[str]) -> list[WaitingOrder]:
        if not order_ids:
            return []
        raw = await cast(Awaitable[list[bytes | None]], self._redis.hmget(self.orders, order_ids))
        return [_decode_waiting(r) for r in raw if r is not None]

    async def limit_directions(self) -> list[tuple[str, str]]:
        members = await cast(Awaitable[set[bytes]], self._redis.smembers(self.pairs))
        pairs = (m.decode().partition(":") for m in members)  # written as "mint:key"
        return [(mint, key) for mint, _, key in pairs]

    async def limit_candidates(
        self, mint_in: str, mint_out: str, best_price: float
    ) -> list[WaitingOrder]:
        """Orders of the direction whose limit is at or below `best_price`, lowest first."""
        # The zset scores are floats: take a hair more and let the exact check decide.
        ids = await self._redis.zrangebyscore(
            self.limit_key(mint_in, mint_out), "-inf", best_price * (1 + 1e-9)
        )
        return await self.get([i.decode() for i in ids])

    async def snipers(self, target: str) -> list[WaitingOrder]:
        ids = await self._redis.zrange(self.sniper_key(target), 0, -1)
        return await self.get([i.decode() for i in ids])

    async def due(self, now: float) -> list[WaitingOrder]:
        ids = await self._redis.zrangebyscore(self.expiries, "-inf", now)
        return await self.get([i.decode() for i in ids])

    async def count(self) -> int:
        return int(await cast(Awaitable[int], self._redis.hlen(self.orders)))


def waiting_order(
    order_id: str,
    order_type: str,
    token_in: Token,
    key: str,
    amount_in: int,
    *,
    limit_price: Decimal | None,
    max_price_impact_bps: int | None,
    expires_at: float,
    arrival: float,
) -> WaitingOrder:
    return WaitingOrder(
        order_id=order_id,
        order_type=order_type,
        mint_in=token_in.mint,
        key=key,
        amount_in=amount_in,
        limit_price=limit_price,
        max_price_impact_bps=max_price_impact_bps,
        expires_at=expires_at,
        arrival=arrival,
    )


_WAITING_SQL = """
SELECT id, order_type, token_in, token_out, amount_in, limit_price, max_price_impact_bps,
       extract(epoch FROM expires_at) AS expires, extract(epoch FROM created_at) AS created
FROM orders WHERE status = 'waiting'
"""


async def reconcile(book: WaitingBook) -> int:
    """Put back every waiting order of PostgreSQL that the book lacks; return how many."""
    added = 0
    for row in await pool().fetch(_WAITING_SQL):
        token_in = find_token(row["token_in"])
        if token_in is None:
            continue
        order = waiting_order(
            str(row["id"]),
            row["order_type"],
            token_in,
            row["token_out"],
            int(row["amount_in"]),
            limit_price=row["limit_price"],
            max_price_impact_bps=row["max_price_impact_bps"],
            expires_at=float(row["expires"]),
            arrival=float(row["created"]),
        )
        added += await book.add(order)
    return added


# --- deciding what fires (pure) -------------------------------------------------------------


def best_marginal_price(
    pools: Mapping[str, Pool], token_in: Token, token_out: Token
) -> float | None:
    """tokenOut per tokenIn (UI units) for a tiny order (a thousandth of a token): no order
    of that size or larger gets a better price, so no limit above it can fire now."""
    probe = max(1, 10**token_in.decimals // 1000)
    try:
        route = best_route(pools, token_in.mint, token_out.mint, probe)
    except (NoRoute, ValueError):
        return None
    return float(
        Fraction(route.amount_out, probe) * Fraction(10) ** (token_in.decimals - token_out.decimals)
    )


class Fired(msgspec.Struct, frozen=True):
    """A waiting order that fires now: its route as it would go now, and why."""

    order: WaitingOrder
    route: Route
    reason: Trigger


def limit_triggers(
    pools: dict[str, Pool], candidates: list[WaitingOrder], token_in: Token, token_out: Token
) -> list[Fired]:
    """The candidates that fire now, lowest limit first. Each one that fires is applied to
    `pools` (a private copy), so the next sees the market it will leave behind."""
    fired = []
    for order in candidates:
        assert order.limit_price is not None
        floor = limit_floor_base_units(order.amount_in, token_in, token_out, order.limit_price)
        try:
            route = best_route(pools, order.mint_in, order.key, order.amount_in)
        except (NoRoute, ValueError):
            continue
        if route.amount_out < floor:
            continue
        price = Fraction(route.amount_out, order.amount_in) * Fraction(10) ** (
            token_in.decimals - token_out.decimals
        )
        reason = PriceTrigger(
            limit_price=f"{order.limit_price}",
            executable_price=f"{float(price):.12g}",
            quoted_amount_out=token_out.format(route.amount_out),
        )
        fired.append(Fired(order, route, reason))
        pools.update(apply_route(pools, route))
    return fired


def sniper_triggers(
    pools: dict[str, Pool],
    snipers: list[WaitingOrder],
    launched: Token,
    pool_id: str,
    min_liquidity_ui: Decimal,
) -> list[Fired]:
    """Snipers that fire on a launch, oldest first, each only if the new pool holds at least
    the minimum liquidity of its quote token and the sniper's price impact stays under its
    cap; each one that fires is applied to `pools`, so later ones see the pool it leaves."""
    launch_pool = pools.get(pool_id)
    if launch_pool is None:
        return []
    quote_mint = other_mint(launch_pool, launched.mint)
    quote = find_token(quote_mint)
    if quote is None:
        return []
    liquidity = holding(launch_pool, quote_mint)
    if liquidity < quote.to_base_units(
        min_liquidity_ui.quantize(Decimal(1).scaleb(-quote.decimals))
    ):
        return []
    fired = []
    for position, order in enumerate(snipers, start=1):
        try:
            route = best_route(pools, order.mint_in, launched.mint, order.amount_in)
        except (NoRoute, ValueError):
            continue
        cap = order.max_price_impact_bps or 0
        if route.price_impact_bps > cap:
            continue
        reason = LaunchTrigger(
            token=launched.symbol,
            mint=launched.mint,
            pool_id=pool_id,
            position=position,
            price_impact_bps=route.price_impact_bps,
            max_price_impact_bps=cap,
        )
        fired.append(Fired(order, route, reason))
        pools.update(apply_route(pools, route))
    return fired
