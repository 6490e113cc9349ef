"""The simulated market on real Redis and real engine processes: pools shared by everyone,
swaps that move them atomically, quotes that see the moves, slippage checked at landing."""

from __future__ import annotations

import asyncio
import json
import random
from decimal import Decimal

import httpx
import redis.asyncio as aioredis
import websockets

from shared.config import Settings
from shared.dex.activity import ARBITRAGE_THRESHOLD_BPS, arbitrage, market_tick
from shared.dex.cpmm import CpmmPool
from shared.dex.pools import spot_price, swap
from shared.dex.store import PoolStore
from shared.tokens import token_by_symbol
from tests.helpers.engine import (
    Engine,
    EngineFactory,
    SettingsFactory,
    trade_sol_usdc,
    wait_terminal,
)

SOL, USDC = token_by_symbol("SOL"), token_by_symbol("USDC")


async def store_for(settings: Settings) -> tuple[aioredis.Redis, PoolStore]:
    client = aioredis.from_url(settings.redis_url)
    return client, PoolStore(client, settings.redis_namespace)


async def test_a_stale_quote_beyond_slippage_fails_and_moves_nothing(
    engine_factory: EngineFactory,
) -> None:
    # The simulated chain's own behaviour (the pools in Redis, moved under an order in flight);
    # on the chain the programs' slippage errors are named by tests/unit/test_chain_transactions.
    engine: Engine = await engine_factory(
        DEX_EXECUTION_LATENCY_MS="800", EXECUTION_CHAIN="simulated"
    )
    client, store = await store_for(engine.settings)
    try:
        async with httpx.AsyncClient() as http:
            order_id = (await engine.submit(http, slippageBps=10)).json()["orderId"]
        url = f"{engine.ws_url()}/api/orders/ws?orderId={order_id}"
        events = []
        async with asyncio.timeout(30), websockets.connect(url) as socket:
            async for message in socket:
                events.append(json.loads(message))
                if events[-1]["status"] == "submitted":
                    # While the transaction is in flight the market drops by about 1%.
                    await trade_sol_usdc(
                        engine.settings.redis_url,
                        engine.settings.redis_namespace,
                        0.005,
                        sell_sol=True,
                    )
                    before_landing = await store.snapshot()
        assert [e["status"] for e in events][-2:] == ["submitted", "failed"]
        assert events[-1]["data"]["error"]["code"] == "SLIPPAGE_EXCEEDED"
        assert events[-1]["attempt"] == 1  # not retried
        after = await store.snapshot()
        assert after.pools == before_landing.pools  # the reverted swap moved no pool
        assert after.versions == before_landing.versions
    finally:
        await client.aclose()


async def test_a_swap_moves_the_next_quote(engine: Engine) -> None:
    params = {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "100", "slippageBps": 50}
    async with httpx.AsyncClient() as http:
        before = (await http.get(f"{engine.url}/api/quote", params=params)).json()
        order_id = (await engine.submit(http, amountIn="100")).json()["orderId"]
        events = await wait_terminal(engine, order_id)
        assert events[-1]["status"] == "confirmed"
        after = (await http.get(f"{engine.url}/api/quote", params=params)).json()
    # Selling 100 SOL made SOL cheaper: the same quote now pays less.
    assert int(after["outAmount"]) < int(before["outAmount"])
    # What the order got is what the quote promised, on the unmoved market.
    amount_out = USDC.to_base_units(Decimal(events[-1]["data"]["amountOut"]))
    assert amount_out == int(before["outAmount"])


async def test_quote_has_jupiters_shape_and_rejects_bad_input(engine: Engine) -> None:
    async with httpx.AsyncClient() as http:
        quote = (
            await http.get(
                f"{engine.url}/api/quote",
                params={
                    "tokenIn": "SOL",
                    "tokenOut": USDC.mint,
                    "amountIn": "5000",
                    "slippageBps": 100,
                },
            )
        ).json()
        assert quote["inputMint"] == SOL.mint and quote["outputMint"] == USDC.mint
        assert quote["inAmount"] == str(5000 * 10**9)
        assert int(quote["otherAmountThreshold"]) == int(quote["outAmount"]) * 9900 // 10_000
        assert quote["priceImpactBps"] > 0
        plan = quote["routePlan"]
        assert {step["venue"] for step in plan} <= {"raydium", "meteora"}
        assert sum(int(s["inAmount"]) for s in plan if s["inputMint"] == SOL.mint) == 5000 * 10**9
        # A large order is split: both venues take a share.
        assert len({step["venue"] for step in plan}) == 2 and quote["gainBps"] > 0
        for params, field in [
            ({"tokenIn": "DOGE", "tokenOut": "USDC", "amountIn": "1"}, "tokenIn"),
            ({"tokenIn": "SOL", "tokenOut": "SOL", "amountIn": "1"}, "tokenOut"),
            ({"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "0.0000000001"}, "amountIn"),
            ({"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "-1"}, "amountIn"),
        ]:
            response = await http.get(f"{engine.url}/api/quote", params=params)
            assert response.status_code == 400, params
            assert field in {d["field"] for d in response.json()["details"]}, response.json()


async def test_pools_are_listed_per_venue(engine: Engine) -> None:
    async with httpx.AsyncClient() as http:
        pools = (await http.get(f"{engine.url}/api/pools")).json()
    ids = {pool["poolId"] for pool in pools}
    for pair in ("SOL-USDC", "SOL-USDT", "USDC-USDT", "BONK-SOL", "JUP-SOL", "RAY-SOL"):
        assert {f"raydium-{pair}", f"meteora-{pair}"} <= ids
    by_id = {pool["poolId"]: pool for pool in pools}
    assert by_id["raydium-SOL-USDC"]["type"] == "cpmm" and by_id["raydium-SOL-USDC"]["feeBps"] == 25
    assert by_id["meteora-SOL-USDC"]["type"] == "dlmm" and by_id["meteora-SOL-USDC"]["binStep"] > 0
    assert 100 < float(by_id["raydium-SOL-USDC"]["price"]) < 200


async def test_concurrent_swaps_on_one_pool_lose_no_update(
    settings_factory: SettingsFactory,
) -> None:
    settings: Settings = await settings_factory()
    clients = [aioredis.from_url(settings.redis_url) for _ in range(4)]
    stores = [PoolStore(c, settings.redis_namespace) for c in clients]
    try:
        await stores[0].seed(settings.sim_seed)
        start = (await stores[0].snapshot()).pools["raydium-SOL-USDC"]
        assert isinstance(start, CpmmPool)
        rng = random.Random(7)
        swaps = [(rng.choice((SOL.mint, USDC.mint)), rng.randint(10**6, 10**10)) for _ in range(60)]

        async def trade(store: PoolStore, mint_in: str, amount: int) -> tuple[int, int, int]:
            while True:  # optimistic: recompute on the newer state until the commit lands
                snapshot = await store.snapshot()
                result, after = swap(snapshot.pools["raydium-SOL-USDC"], mint_in, amount)
                if await store.commit(snapshot, {"raydium-SOL-USDC": after}) == 1:
                    return (amount, result.amount_out, 1 if mint_in == SOL.mint else 0)

        done = await asyncio.gather(
            *(trade(stores[i % 4], mint, amount) for i, (mint, amount) in enumerate(swaps))
        )
        end = (await stores[0].snapshot()).pools["raydium-SOL-USDC"]
        assert isinstance(end, CpmmPool)
        sol_in = sum(a for a, _, is_sol in done if is_sol) - sum(
            o for _, o, is_sol in done if not is_sol
        )
        usdc_in = sum(a for a, _, is_sol in done if not is_sol) - sum(
            o for _, o, is_sol in done if is_sol
        )
        # Every swap's input and output is in the reserves: none was lost or applied twice.
        assert end.reserve_a == start.reserve_a + sol_in
        assert end.reserve_b == start.reserve_b + usdc_in
        assert end.reserve_a * end.reserve_b >= start.reserve_a * start.reserve_b  # fees stay in
        versions = (await stores[0].snapshot()).versions
        assert int(versions["raydium-SOL-USDC"]) == 1 + len(swaps)
    finally:
        for client in clients:
            await client.aclose()


async def test_market_activity_moves_prices_and_arbitrage_pulls_venues_together(
    settings_factory: SettingsFactory,
) -> None:
    settings: Settings = await settings_factory()
    client, store = await store_for(settings)
    try:
        await store.seed(settings.sim_seed)
        before = await store.snapshot()
        landed = await market_tick(store, random.Random(3), trades_per_second=40)
        assert landed >= 20
        after = await store.snapshot()
        moved = [p for p in before.pools if before.versions[p] != after.versions[p]]
        assert len(moved) >= 5
        # Push one venue 5% away from the other, then let the arbitrageur act.
        snapshot = await store.snapshot()
        raydium = snapshot.pools["raydium-SOL-USDC"]
        _, pushed = swap(raydium, SOL.mint, raydium.reserve_a // 20)  # type: ignore[union-attr]
        assert await store.commit(snapshot, {"raydium-SOL-USDC": pushed}) == 1
        assert await arbitrage(store) >= 1
        pools = (await store.snapshot()).pools
        prices = [spot_price(pools[f"{v}-SOL-USDC"], SOL.mint) for v in ("raydium", "meteora")]
        gap_bps = (max(prices) / min(prices) - 1) * 10_000
        assert gap_bps <= ARBITRAGE_THRESHOLD_BPS + 10
    finally:
        await client.aclose()
