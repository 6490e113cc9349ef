"""Orders and attempts made directly in a test, without engine processes: a new order, and a
simulated chain with an Executor over this process's own records."""

from __future__ import annotations

import contextlib
import random
from collections.abc import AsyncIterator

import redis.asyncio as aioredis

from shared.config import Settings
from shared.dex.chain import SimulatedChain
from shared.dex.store import PoolStore
from shared.events import EventPublisher
from shared.execution import Executor
from shared.orders.records import OrderRecords, OrderSteps
from shared.orders.submission import NewOrder
from shared.tokens import token_by_symbol
from tests.helpers.engine import WALLET

RECORDS = OrderRecords()  # the test process's road to the orders tables


def new_order() -> NewOrder:
    return NewOrder(
        order_type="market",
        token_in=token_by_symbol("SOL"),
        token_out=token_by_symbol("USDC"),
        amount_in=1_500_000_000,
        slippage_bps=50,
        wallet_address=WALLET,
    )


@contextlib.asynccontextmanager
async def chain_and_executor(settings: Settings) -> AsyncIterator[tuple[SimulatedChain, Executor]]:
    redis = aioredis.from_url(settings.redis_url)
    try:
        store = PoolStore(redis, settings.redis_namespace)
        await store.seed(settings.sim_seed)
        chain = SimulatedChain(
            redis,
            settings.redis_namespace,
            store,
            latency_ms=(0, 0),
            failure_rate=0.0,
            rng=random.Random(1),
        )
        publisher = EventPublisher(redis, settings.redis_namespace)
        yield chain, Executor(OrderSteps(RECORDS, publisher), store, chain)
    finally:
        await redis.aclose()
