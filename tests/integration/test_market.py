"""The market on real engine processes and their chain: quotes that see a swap's move, Jupiter's
quote shape, the pools per venue; and the arbitrageur's plan."""

from __future__ import annotations

from decimal import Decimal

import httpx

from shared.dex.activity import ARBITRAGE_THRESHOLD_BPS, plan_arbitrage
from shared.dex.cpmm import CpmmPool
from shared.dex.market_seed import seed_pools
from shared.dex.pools import spot_price, swap
from shared.tokens import token_by_symbol
from tests.helpers.engine import Engine, wait_terminal

SOL, USDC = token_by_symbol("SOL"), token_by_symbol("USDC")


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


def test_arbitrage_pulls_a_venue_pushed_away_back_within_the_threshold() -> None:
    # The arbitrageur's plan, applied as the chain applies its swaps (one after the other).
    pools = dict(seed_pools(42))
    raydium = pools["raydium-SOL-USDC"]
    assert isinstance(raydium, CpmmPool)
    _, pools["raydium-SOL-USDC"] = swap(raydium, SOL.mint, raydium.reserve_a // 20)  # 5% away
    planned = plan_arbitrage(pools)
    assert {p.pool_id for p in planned} >= {"raydium-SOL-USDC", "meteora-SOL-USDC"}
    for step in planned:
        _, pools[step.pool_id] = swap(pools[step.pool_id], step.mint_in, step.amount)
    prices = [spot_price(pools[f"{v}-SOL-USDC"], SOL.mint) for v in ("raydium", "meteora")]
    gap_bps = (max(prices) / min(prices) - 1) * 10_000
    assert gap_bps <= ARBITRAGE_THRESHOLD_BPS + 10
