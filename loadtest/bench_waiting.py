"""Waiting orders' figures.

1. Launch -> first sniper `submitted`: snipers wait for a token; the launch is posted; the
   time until the first sniper's `submitted` event reaches its WebSocket (client clock).
2. The cost of re-checking 10,000 waiting limit orders after a price move: the watcher's
   whole evaluation (range query per direction, exact routing of the candidates) timed
   in-process against real Redis, for a move that fires none and one that fires a few. The
   pools are the seeded market held in memory, as each process's pool cache holds them.

    python3 dev.py run python -m loadtest.bench_waiting
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time
from decimal import Decimal

import aiohttp
import redis.asyncio as aioredis

from loadtest.common import ORDER, machine, scratch_engine, scratch_services
from shared.config import load_settings
from shared.dex.cpmm import CpmmPool
from shared.dex.market_seed import seed_pools
from shared.dex.pools import Pool, holding, swap
from shared.jobs.queue import create_queue
from shared.tokens import token_by_symbol
from shared.waiting.book import WaitingBook, waiting_order
from shared.waiting.watcher import Watcher

CONTROL = "bench-control"
SOL, USDC = token_by_symbol("SOL"), token_by_symbol("USDC")


async def launch_to_submitted(rounds: int, quote_latency_ms: int) -> list[float]:
    env = {
        "SIM_CONTROL_TOKEN": CONTROL,
        "DEX_QUOTE_LATENCY_MS": str(quote_latency_ms),
        "DEX_EXECUTION_LATENCY_MS": "0",
        "QUEUE_RATE_LIMIT_PER_MINUTE": "0",
    }
    results = []
    async with scratch_engine(env) as engine, aiohttp.ClientSession() as http:
        for round_ in range(rounds):
            symbol = f"BENCH{round_}"
            ids = []
            for _ in range(3):
                body = {
                    **ORDER,
                    "orderType": "sniper",
                    "tokenOut": symbol,
                    "amountIn": "1",
                    "maxPriceImpactBps": 3000,
                    "slippageBps": 3000,
                }
                async with http.post(f"{engine.url}/api/orders/execute", json=body) as r:
                    ids.append((await r.json())["orderId"])
            url = f"{engine.ws_url}/api/orders/ws?orderId={ids[0]}"
            async with http.ws_connect(url) as socket:
                async for message in socket:  # until waiting: the sniper is on the book
                    if json.loads(message.data)["status"] == "waiting":
                        break
                launch = {
                    "symbol": symbol,
                    "decimals": 6,
                    "venue": "raydium",
                    "quoteToken": "SOL",
                    "tokenAmount": "1000000000",
                    "quoteAmount": "500",
                }
                started = time.perf_counter()
                async with http.post(
                    f"{engine.url}/api/sim/launch",
                    json=launch,
                    headers={"Authorization": f"Bearer {CONTROL}"},
                ) as r:
                    assert r.status == 201, await r.text()
                async for message in socket:
                    if json.loads(message.data)["status"] == "submitted":
                        results.append((time.perf_counter() - started) * 1000)
                        break
    return results


class MemoryPools:
    """The pools as the watcher reads them from a pool cache (ChainPools.pools), held here."""

    def __init__(self, pools: dict[str, Pool]) -> None:
        self.current = pools

    def pools(self) -> dict[str, Pool]:
        return self.current

    def on_change(self, callback: object) -> None:
        pass  # the benchmark calls check_limits itself after each move

    def move(self, updates: dict[str, Pool]) -> None:
        self.current = {**self.current, **updates}


async def recheck_cost(orders: int, repeats: int) -> dict[str, float]:
    async with scratch_services() as services:
        settings = load_settings(
            {
                "DATABASE_URL": services.database_url,
                "REDIS_URL": services.redis_url,
                "REDIS_NAMESPACE": services.namespace,
            }
        )
        redis = aioredis.from_url(services.redis_url)
        market = MemoryPools(seed_pools(42))
        book = WaitingBook(redis, services.namespace)
        raydium = market.pools()["raydium-SOL-USDC"]
        assert isinstance(raydium, CpmmPool)
        spot = float(raydium.reserve_b) / float(raydium.reserve_a) * 1000
        rng = random.Random(5)
        pipe_tasks = []
        for i in range(orders):  # limits 0.5%-20% above the market: waiting, spread out
            limit = Decimal(f"{spot * (1 + rng.uniform(0.005, 0.2)):.2f}")
            order = waiting_order(
                f"bench-{i}",
                "limit",
                SOL,
                USDC.mint,
                rng.randint(1, 50) * 10**8,
                limit_price=limit,
                max_price_impact_bps=None,
                expires_at=time.time() + 3600,
                arrival=time.time(),
            )
            pipe_tasks.append(book.add(order))
            if len(pipe_tasks) == 500:
                await asyncio.gather(*pipe_tasks)
                pipe_tasks.clear()
        await asyncio.gather(*pipe_tasks)
        queue = create_queue(settings, redis)
        watcher = Watcher(redis, settings, market, book, queue, None)  # type: ignore[arg-type]
        quiet = []
        for _ in range(repeats):  # small moves: nothing reaches a limit
            pool = market.pools()["raydium-SOL-USDC"]
            market.move({pool.pool_id: swap(pool, USDC.mint, 10**6)[1]})
            started = time.perf_counter()
            assert await watcher.check_limits() == 0
            quiet.append((time.perf_counter() - started) * 1000)
        # A move of about 1% up: the lowest limits come into reach and fire.
        updates = {}
        for pool_id, pool in market.pools().items():
            if pool_id.endswith("-SOL-USDC"):
                depth = holding(pool, USDC.mint)
                updates[pool_id] = swap(pool, USDC.mint, int(depth * 0.012))[1]
        market.move(updates)
        started = time.perf_counter()
        fired = await watcher.check_limits()
        firing_ms = (time.perf_counter() - started) * 1000
        waiting = await book.count()
        await redis.aclose()
    return {
        "quiet_median_ms": statistics.median(quiet),
        "quiet_max_ms": max(quiet),
        "fired": fired,
        "firing_ms": firing_ms,
        "left_waiting": waiting,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--orders", type=int, default=10_000)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    for latency in (0, 200):
        times = asyncio.run(launch_to_submitted(args.rounds, latency))
        print(
            f"launch -> first sniper submitted (quote latency {latency} ms): median "
            f"{statistics.median(times):.0f} ms, min {min(times):.0f}, max {max(times):.0f} "
            f"({len(times)} launches)"
        )
    cost = asyncio.run(recheck_cost(args.orders, 20))
    print(
        f"re-check of {args.orders:,} waiting limit orders after a price move that fires "
        f"none: median {cost['quiet_median_ms']:.1f} ms, max {cost['quiet_max_ms']:.1f} ms"
    )
    print(
        f"a ~1% move: {cost['fired']} fired, evaluation {cost['firing_ms']:.0f} ms "
        f"(incl. claiming and enqueueing), {cost['left_waiting']:,} still waiting"
    )


if __name__ == "__main__":
    main()
