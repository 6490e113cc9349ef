"""The watcher: wakes waiting orders. Runs inside every worker; one of them leads at a time.

Event-driven: price moves come from the pool cache's account notifications (a pool's accounts
changed on chain), launches from Redis (`{ns}:launch`). Price moves are coalesced (at most one
evaluation per EVALUATE_EVERY_S); a launch is handled at once. Deadlines are checked every
EXPIRY_EVERY_S. Leadership is a Redis key with a short TTL that the leader keeps renewing, so a
dead leader is replaced within LEADER_TTL_MS; a new leader first reconciles the book with
PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from decimal import Decimal
from typing import Any

import msgspec
import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared.chain.pools import ChainPools
from shared.config import Settings
from shared.db import pool
from shared.jobs.queue import enqueue_order
from shared.jobs.saq_fork import OrderQueue
from shared.launch import Launched, launch_channel
from shared.order_events import EndedData
from shared.orders.records import OrderSteps
from shared.tokens import find_token, load_launched_tokens
from shared.waiting.book import (
    Fired,
    WaitingBook,
    WaitingOrder,
    best_marginal_price,
    limit_triggers,
    reconcile,
    sniper_triggers,
)

log = structlog.get_logger(__name__)

EVALUATE_EVERY_S = 0.02
EXPIRY_EVERY_S = 0.5
RECONCILE_EVERY_S = 30.0
LEADER_TTL_MS = 3000

_RENEW_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) and 1 or 0
"""
# Give the lead up only if it is still ours (the lease may have passed to another meanwhile).
_RESIGN_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Watcher:
    def __init__(
        self,
        redis: Redis,
        settings: Settings,
        pools: ChainPools,
        book: WaitingBook,
        queue: OrderQueue,
        steps: OrderSteps,
    ) -> None:
        self.redis = redis
        self.settings = settings
        self.namespace = settings.redis_namespace
        self.pools = pools  # what prices are read from
        self.book = book
        self.queue = queue
        self.steps = steps
        self.identity = uuid.uuid4().hex
        self.leader = False
        self._prices_moved = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._renew = redis.register_script(_RENEW_SCRIPT)
        self._resign = redis.register_script(_RESIGN_SCRIPT)
        # A pool's accounts changed: its price may have moved.
        pools.on_change(lambda _pool_ids: self._prices_moved.set())

    async def start(self) -> None:
        self._prices_moved.set()  # evaluate once at start
        for loop in (self._lead, self._listen, self._evaluate_prices, self._expire):
            self._tasks.append(asyncio.create_task(self._forever(loop), name=loop.__name__))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.leader:  # hand the lead over now rather than when the lease runs out
            with contextlib.suppress(RedisError, OSError):
                await self._resign(keys=[self._leader_key], args=[self.identity])

    @property
    def _leader_key(self) -> str:
        return f"{self.namespace}:watcher:leader"

    async def _forever(self, loop: Any) -> None:
        """Keep a loop alive through Redis or database outages."""
        while True:
            try:
                await loop()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("watcher loop failed; restarting", loop=loop.__name__)
                self.leader = False
                await asyncio.sleep(1)

    async def _lead(self) -> None:
        last_reconcile = 0.0
        while True:
            was_leader = self.leader
            self.leader = bool(
                await self._renew(keys=[self._leader_key], args=[self.identity, LEADER_TTL_MS])
            )
            if self.leader and (
                not was_leader or time.monotonic() - last_reconcile > RECONCILE_EVERY_S
            ):
                added = await reconcile(self.book)
                last_reconcile = time.monotonic()
                if added:
                    log.warning("waiting orders put back on the book", count=added)
                self._prices_moved.set()
            await asyncio.sleep(LEADER_TTL_MS / 3000)

    async def _listen(self) -> None:
        pubsub = self.redis.pubsub()
        try:
            await pubsub.subscribe(launch_channel(self.namespace))
            async for message in pubsub.listen():
                if message["type"] == "message" and self.leader:
                    await self.on_launch(msgspec.json.decode(message["data"], type=Launched))
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves it untyped

    async def _evaluate_prices(self) -> None:
        while True:
            await self._prices_moved.wait()
            self._prices_moved.clear()
            if self.leader:
                await self.check_limits()
            await asyncio.sleep(EVALUATE_EVERY_S)

    async def check_limits(self) -> int:
        """Fire every limit order the market now fills; return how many fired."""
        directions = await self.book.limit_directions()
        if not directions:
            return 0
        pools = self.pools.pools()
        fired = 0
        for mint_in, mint_out in directions:
            token_in, token_out = find_token(mint_in), find_token(mint_out)
            if token_in is None or token_out is None:
                continue
            best = best_marginal_price(pools, token_in, token_out)
            if best is None:
                continue
            candidates = await self.book.limit_candidates(mint_in, mint_out, best)
            for trigger in limit_triggers(pools, candidates, token_in, token_out):
                fired += await self.fire(trigger)
        return fired

    async def on_launch(self, launched: Launched) -> int:
        """Fire the snipers waiting for this token, oldest first."""
        await load_launched_tokens(self.redis, self.namespace)
        token = find_token(launched.mint)
        if token is None:
            return 0
        snipers = await self.book.snipers(launched.symbol.upper()) + await self.book.snipers(
            launched.mint
        )
        snipers.sort(key=lambda order: order.arrival)  # oldest first
        await self.pools.discover()  # the new pool is on chain: find it
        pools = self.pools.pools()
        triggers = sniper_triggers(
            pools, snipers, token, launched.pool_id, Decimal(self.settings.sniper_min_liquidity)
        )
        fired = 0
        for trigger in triggers:
            # The order now targets a real mint: record it before the job reads the order.
            await pool().execute(
                "UPDATE orders SET token_out = $2 WHERE id = $1 AND status = 'waiting'",
                uuid.UUID(trigger.order.order_id),
                token.mint,
            )
            fired += await self.fire(trigger)
        log.info("launch handled", token=token.symbol, snipers=len(snipers), fired=fired)
        return fired

    async def fire(self, trigger: Fired) -> int:
        """Claim the order (one claimer wins), then enqueue its execution with the reason."""
        if not await self.book.claim(trigger.order):
            return 0
        await enqueue_order(
            self.queue,
            self.settings,
            trigger.order.order_id,
            trigger=msgspec.to_builtins(trigger.reason),
        )
        return 1

    async def _expire(self) -> None:
        while True:
            if self.leader:
                await self.expire_due(time.time())
            await asyncio.sleep(EXPIRY_EVERY_S)

    async def expire_due(self, now: float) -> int:
        expired = 0
        for order in await self.book.due(now):
            expired += await expire_order(self.steps, self.book, order)
        return expired


async def expire_order(steps: OrderSteps, book: WaitingBook, order: WaitingOrder) -> int:
    """waiting -> expired (conditional: a trigger or a cancel may have won), then off the book."""
    event = await steps.outside(
        uuid.UUID(order.order_id), "expired", EndedData(reason="the order's deadline passed")
    )
    await book.claim(order)
    return 1 if event else 0
