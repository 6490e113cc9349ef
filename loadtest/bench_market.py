"""The market's figures: router speed, what split routing gains, and the cost of keeping pool
state consistent under contention (a Redis script vs a PostgreSQL row lock).

    python3 dev.py run python -m loadtest.bench_market

1. Router quotes per second for SOL->USDT (a two-venue split on the direct pair, with two-hop
   alternatives through SOL and USDC both evaluated), pure Python, one core.
2. The gain of the best route over the best single venue for large SOL->USDC orders, in bps.
3. Swaps per second on ONE pool with C concurrent swappers, each swap read-compute-write:
   (a) optimistic: snapshot from Redis, pool maths in Python, Lua check-and-set, retry on
       conflict; (b) the same, queued on one lock per process; (c) what the engine does:
   SimulatedChain.send, whose swaps arriving together land as one slot (one read, one
   check-and-set for the slot); (d) pessimistic: SELECT ... FOR UPDATE of the pool's row in
   PostgreSQL, pool maths, UPDATE, COMMIT.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import time

import asyncpg
import msgspec
import redis.asyncio as aioredis

from loadtest.common import machine, scratch_services
from shared.dex.chain import SimulatedChain, new_signature
from shared.dex.market_seed import seed_pools
from shared.dex.pools import Pool, swap
from shared.dex.routing import best_route, split_gain_bps
from shared.dex.store import PoolStore
from shared.tokens import token_by_symbol

SOL, USDC, USDT = (token_by_symbol(s) for s in ("SOL", "USDC", "USDT"))
POOL_ID = "raydium-SOL-USDC"


def router_rate(seconds: float = 3.0) -> tuple[float, str]:
    pools = seed_pools(42)
    amount = 5_000 * 10**9
    route = best_route(pools, SOL.mint, USDT.mint, amount)  # warm the bin-price caches
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        best_route(pools, SOL.mint, USDT.mint, amount)
        count += 1
    shape = f"{len(route.legs)} legs, via {'USDC' if route.via else 'direct'}"
    return count / (time.perf_counter() - started), shape


async def optimistic(
    redis_url: str, namespace: str, swappers: int, swaps: int, *, local_lock: bool
) -> float:
    """With `local_lock` the swappers share one store (one process's lock), as an engine
    worker's do; without it each behaves as its own process would."""
    clients = [aioredis.from_url(redis_url) for _ in range(swappers)]
    shared = PoolStore(clients[0], namespace)
    stores = [shared if local_lock else PoolStore(c, namespace) for c in clients]
    await stores[0].seed(42)
    lock = asyncio.Lock()

    async def swapper(store: PoolStore, count: int) -> None:
        for i in range(count):
            mint = SOL.mint if i % 2 else USDC.mint
            async with lock if local_lock else contextlib.nullcontext():
                while True:
                    snapshot = await store.snapshot([POOL_ID])
                    _, after = swap(snapshot.pools[POOL_ID], mint, 10**7)
                    if await store.commit(snapshot, {POOL_ID: after}) == 1:
                        break

    started = time.perf_counter()
    await asyncio.gather(*(swapper(s, swaps // swappers) for s in stores))
    elapsed = time.perf_counter() - started
    for client in clients:
        await client.aclose()
    return swaps / elapsed


async def in_slots(redis_url: str, namespace: str, swappers: int, swaps: int) -> float:
    """The engine's way: each swapper sends signed swaps to one process's SimulatedChain."""
    client = aioredis.from_url(redis_url, max_connections=swappers + 4)
    store = PoolStore(client, namespace)
    await store.seed(42)
    chain = SimulatedChain(
        client, namespace, store, latency_ms=(0, 0), failure_rate=0.0, rng=random.Random(1)
    )
    pool = {POOL_ID: (await store.snapshot([POOL_ID])).pools[POOL_ID]}  # this pool alone
    routes = [best_route(pool, a.mint, b.mint, 10**7) for a, b in ((USDC, SOL), (SOL, USDC))]

    async def swapper(count: int) -> None:
        for i in range(count):
            record = await chain.send(new_signature(), "bench", routes[i % 2], 0)
            assert record.status == "settled", record

    started = time.perf_counter()
    await asyncio.gather(*(swapper(swaps // swappers) for _ in range(swappers)))
    elapsed = time.perf_counter() - started
    await client.aclose()
    return swaps / elapsed


async def pessimistic(database_url: str, swappers: int, swaps: int) -> float:
    decoder = msgspec.json.Decoder(Pool)  # type: ignore[arg-type]
    db = await asyncpg.create_pool(database_url, min_size=swappers, max_size=swappers)
    await db.execute("CREATE TABLE bench_pools (pool_id text PRIMARY KEY, state jsonb NOT NULL)")
    await db.execute(
        "INSERT INTO bench_pools VALUES ($1, $2::jsonb)",
        POOL_ID,
        msgspec.json.encode(seed_pools(42)[POOL_ID]).decode(),
    )

    async def swapper(count: int) -> None:
        for i in range(count):
            mint = SOL.mint if i % 2 else USDC.mint
            async with db.acquire() as conn, conn.transaction():
                raw = await conn.fetchval(
                    "SELECT state::text FROM bench_pools WHERE pool_id = $1 FOR UPDATE", POOL_ID
                )
                _, after = swap(decoder.decode(raw), mint, 10**7)
                await conn.execute(
                    "UPDATE bench_pools SET state = $2::jsonb WHERE pool_id = $1",
                    POOL_ID,
                    msgspec.json.encode(after).decode(),
                )

    started = time.perf_counter()
    await asyncio.gather(*(swapper(swaps // swappers) for _ in range(swappers)))
    elapsed = time.perf_counter() - started
    await db.close()
    return swaps / elapsed


async def contention(swaps: int, levels: list[int]) -> list[tuple[int, float, float, float, float]]:
    rows = []
    async with scratch_services() as services:
        for level in levels:
            namespace = f"{services.namespace}{level}"
            redis_rate = await optimistic(
                services.redis_url, namespace, level, swaps, local_lock=False
            )
            locked_rate = await optimistic(
                services.redis_url, namespace + "l", level, swaps, local_lock=True
            )
            slot_rate = await in_slots(services.redis_url, namespace + "s", level, swaps)
            db = await asyncpg.connect(services.database_url)
            await db.execute("DROP TABLE IF EXISTS bench_pools")
            await db.close()
            pg_rate = await pessimistic(services.database_url, level, swaps)
            rows.append((level, redis_rate, locked_rate, slot_rate, pg_rate))
        client = aioredis.from_url(services.redis_url)
        for level in levels:
            keys = [k async for k in client.scan_iter(match=f"{services.namespace}{level}*")]
            if keys:
                await client.delete(*keys)
        await client.aclose()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--swaps", type=int, default=1200, help="swaps per contention level")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    rate, shape = router_rate()
    print(
        f"router: {rate:,.0f} quotes/s for 5,000 SOL -> USDT ({shape}; split and two-hop "
        "alternatives evaluated)"
    )
    pools = seed_pools(42)
    for sol in (1_000, 5_000, 10_000):
        gain = split_gain_bps(pools, SOL.mint, USDC.mint, sol * 10**9)
        print(f"split gain, {sol:,} SOL -> USDC (direct pools): {gain:.1f} bps over the best venue")
    print(
        "contention on one pool, swaps/s: Redis check-and-set script (retry on conflict) | "
        "the same with a per-process lock | landing in slots (the engine) | "
        "PostgreSQL row lock (SELECT ... FOR UPDATE)"
    )
    for level, *rates in asyncio.run(contention(args.swaps, [1, 4, 16])):
        print(f"  {level:>2} swappers: " + " | ".join(f"{rate:8,.0f}" for rate in rates))


if __name__ == "__main__":
    main()
