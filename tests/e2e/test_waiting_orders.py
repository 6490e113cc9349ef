"""Limit and sniper orders, cancellation and expiry, on real engine processes."""

from __future__ import annotations

import asyncio
import json
import time
from decimal import Decimal
from typing import Any

import httpx
import redis.asyncio as aioredis
import websockets

from shared.tokens import token_by_symbol
from tests.helpers.chain import trade_on_chain
from tests.helpers.engine import (
    WALLET,
    Engine,
    EngineFactory,
    new_wallet,
    wait_terminal,
)

SOL, USDC = token_by_symbol("SOL"), token_by_symbol("USDC")
CONTROL = "sim-control-secret"


async def move_sol_price(engine: Engine, fraction: float, sell_sol: bool) -> None:
    """Another trader swaps `fraction` of every SOL/USDC pool's input holding: a real
    transaction per pool."""
    settings = engine.settings
    symbol_in = "SOL" if sell_sol else "USDC"
    await trade_on_chain(
        settings.solana_rpc_url, settings.solana_ws_url, "-SOL-USDC", symbol_in, fraction
    )


async def sol_price(engine: Engine, http: httpx.AsyncClient, amount: str = "1") -> Decimal:
    params = {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": amount}
    quote = (await http.get(f"{engine.url}/api/quote", params=params)).json()
    return Decimal(quote["outAmount"]) / Decimal(10**6) / Decimal(amount)


async def events_until(engine: Engine, order_id: str, status: str) -> list[dict[str, Any]]:
    """The order's events up to and including the first with `status` (stream left open)."""
    url = f"{engine.ws_url()}/api/orders/ws?orderId={order_id}"
    events: list[dict[str, Any]] = []
    async with asyncio.timeout(30), websockets.connect(url) as socket:
        async for message in socket:
            events.append(json.loads(message))
            if events[-1]["status"] == status:
                return events
    raise AssertionError(f"stream ended before {status}: {events}")


async def test_limit_order_waits_then_fires_when_the_market_reaches_it(engine: Engine) -> None:
    async with httpx.AsyncClient() as http:
        price = await sol_price(engine, http, "2")
        limit = (price * Decimal("1.01")).quantize(Decimal("0.01"))  # 1% above the market
        response = await engine.submit(http, orderType="limit", amountIn="2", limitPrice=str(limit))
        assert response.status_code == 202, response.text
        order_id = response.json()["orderId"]
        waiting = await events_until(engine, order_id, "waiting")
        assert [e["status"] for e in waiting] == ["pending", "waiting"]
        assert Decimal(waiting[1]["data"]["limitPrice"]) == limit
        stored = (await http.get(f"{engine.url}/api/orders/{order_id}")).json()
        assert stored["status"] == "waiting" and Decimal(stored["limitPrice"]) == limit
        # Other traders buy SOL: the price rises through the limit.
        await move_sol_price(engine, 0.03, sell_sol=False)
        events = await wait_terminal(engine, order_id)
    statuses = [e["status"] for e in events]
    assert statuses == ["pending", "waiting", "routing", "building", "submitted", "confirmed"]
    trigger = events[2]["data"]["trigger"]
    assert trigger["trigger"] == "price" and Decimal(trigger["executablePrice"]) >= limit
    floor = Decimal(events[3]["data"]["minAmountOut"])
    assert floor >= Decimal(2) * limit  # never below amountIn x limitPrice
    assert Decimal(events[-1]["data"]["amountOut"]) >= Decimal(2) * limit


async def test_limit_order_is_not_fired_by_a_price_reachable_only_for_less(engine: Engine) -> None:
    """The price for a small amount passes the limit, but not for the order's whole size."""
    async with httpx.AsyncClient() as http:
        small, large = await sol_price(engine, http, "1"), await sol_price(engine, http, "20000")
        assert large < small
        limit = ((small + large) / 2).quantize(Decimal("0.01"))
        order_id = (
            await engine.submit(http, orderType="limit", amountIn="20000", limitPrice=str(limit))
        ).json()["orderId"]
        await events_until(engine, order_id, "waiting")
        # Nudge the market so the watcher re-evaluates; the order must still wait.
        await move_sol_price(engine, 0.0001, sell_sol=False)
        probe = (await engine.submit(http, orderType="market", amountIn="0.1")).json()["orderId"]
        await wait_terminal(engine, probe)  # the market order went through meanwhile
        stored = (await http.get(f"{engine.url}/api/orders/{order_id}")).json()
        assert stored["status"] == "waiting"


async def test_waiting_order_expires_on_time(engine: Engine) -> None:
    async with httpx.AsyncClient() as http:
        order_id = (
            await engine.submit(http, orderType="limit", limitPrice="100000", expiresInSeconds=1)
        ).json()["orderId"]
        events = await wait_terminal(engine, order_id, timeout_s=10)
    assert [e["status"] for e in events] == ["pending", "waiting", "expired"]
    deadline = events[1]["timestamp"]
    assert events[2]["timestamp"] > deadline


async def test_cancel_a_waiting_order_and_not_a_confirmed_one(engine: Engine) -> None:
    wallet = new_wallet()
    async with httpx.AsyncClient() as http:
        order_id = (
            await engine.submit(http, orderType="limit", limitPrice="100000", walletAddress=wallet)
        ).json()["orderId"]
        await events_until(engine, order_id, "waiting")
        url = f"{engine.url}/api/orders/{order_id}"
        assert (await http.delete(url)).status_code == 401
        assert (await http.delete(url, headers={"X-Wallet-Address": WALLET})).status_code == 403
        response = await http.delete(url, headers={"X-Wallet-Address": wallet})
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "cancelled"
        events = await wait_terminal(engine, order_id)
        assert [e["status"] for e in events] == ["pending", "waiting", "cancelled"]
        again = await http.delete(url, headers={"X-Wallet-Address": wallet})
        assert again.status_code == 409 and again.json()["status"] == "cancelled"

        done = (await engine.submit(http, walletAddress=wallet)).json()["orderId"]
        await wait_terminal(engine, done)
        late = await http.delete(
            f"{engine.url}/api/orders/{done}", headers={"X-Wallet-Address": wallet}
        )
        assert late.status_code == 409 and late.json()["status"] == "confirmed"
        missing = await http.delete(
            f"{engine.url}/api/orders/00000000-0000-4000-8000-000000000000",
            headers={"X-Wallet-Address": wallet},
        )
        assert missing.status_code == 404


async def test_cancel_racing_a_trigger_has_exactly_one_winner(engine: Engine) -> None:
    """Many times: a limit order that the market is about to fill, cancelled at that moment.
    Each ends either cancelled (never executed) or executed (the cancel answered 409)."""
    wallet = new_wallet()
    outcomes = {"cancelled": 0, "confirmed": 0}
    async with httpx.AsyncClient() as http:
        for _ in range(12):
            price = await sol_price(engine, http, "1")
            limit = (price * Decimal("1.002")).quantize(Decimal("0.01"))
            order_id = (
                await engine.submit(
                    http,
                    orderType="limit",
                    amountIn="1",
                    limitPrice=str(limit),
                    walletAddress=wallet,
                    slippageBps=500,
                )
            ).json()["orderId"]
            await events_until(engine, order_id, "waiting")
            url = f"{engine.url}/api/orders/{order_id}"
            cancel, _ = await asyncio.gather(
                http.delete(url, headers={"X-Wallet-Address": wallet}),
                move_sol_price(engine, 0.005, sell_sol=False),
            )
            events = await wait_terminal(engine, order_id)
            statuses = [e["status"] for e in events]
            if cancel.status_code == 200:
                assert statuses == ["pending", "waiting", "cancelled"], statuses
            else:
                assert cancel.status_code == 409, cancel.text
                assert "cancelled" not in statuses and statuses[2] == "routing", statuses
            outcomes[statuses[-1] if statuses[-1] == "cancelled" else "confirmed"] += 1
            # Put the market back for the next round.
            await move_sol_price(engine, 0.005, sell_sol=True)
    assert sum(outcomes.values()) == 12


async def test_snipers_fire_on_a_launch_oldest_first_within_their_impact_cap(
    engine_factory: EngineFactory,
) -> None:
    engine: Engine = await engine_factory(SIM_CONTROL_TOKEN=CONTROL)
    async with httpx.AsyncClient() as http:
        ids = []
        for amount, cap in (("1", 2000), ("2", 2000), ("400", 50), ("1.5", 2000)):
            response = await engine.submit(
                http,
                orderType="sniper",
                tokenIn="SOL",
                tokenOut="NEWCOIN",
                amountIn=amount,
                maxPriceImpactBps=cap,
                slippageBps=3000,
            )
            assert response.status_code == 202, response.text
            ids.append(response.json()["orderId"])
            await events_until(engine, ids[-1], "waiting")
        launch = {
            "symbol": "NEWCOIN",
            "decimals": 6,
            "venue": "raydium",
            "quoteToken": "SOL",
            "tokenAmount": "1000000000",
            "quoteAmount": "500",
        }
        response = await http.post(
            f"{engine.url}/api/sim/launch",
            json=launch,
            headers={"Authorization": f"Bearer {CONTROL}"},
        )
        assert response.status_code == 201, response.text
        mint = response.json()["mint"]
        fired = [await wait_terminal(engine, ids[i]) for i in (0, 1, 3)]
        stored = (await http.get(f"{engine.url}/api/orders/{ids[2]}")).json()
    # The 400 SOL sniper would move the 500 SOL pool far more than its 0.5% cap: it waits.
    assert stored["status"] == "waiting"
    positions = []
    for events in fired:
        assert events[-1]["status"] == "confirmed", events
        trigger = events[2]["data"]["trigger"]
        assert trigger["trigger"] == "launch" and trigger["mint"] == mint
        positions.append(trigger["position"])
    assert positions == sorted(positions)  # oldest first


async def test_launch_needs_its_token(engine_factory: EngineFactory) -> None:
    plain: Engine = await engine_factory()
    controlled: Engine = await engine_factory(SIM_CONTROL_TOKEN=CONTROL)
    launch = {
        "symbol": "XCOIN",
        "decimals": 6,
        "venue": "meteora",
        "quoteToken": "SOL",
        "tokenAmount": "1000000",
        "quoteAmount": "100",
    }
    async with httpx.AsyncClient() as http:
        assert (await http.post(f"{plain.url}/api/sim/launch", json=launch)).status_code == 404
        url = f"{controlled.url}/api/sim/launch"
        assert (await http.post(url, json=launch)).status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        assert (await http.post(url, json=launch, headers=wrong)).status_code == 401
        ok = {"Authorization": f"Bearer {CONTROL}"}
        assert (await http.post(url, json=launch, headers=ok)).status_code == 201
        assert (await http.post(url, json=launch, headers=ok)).status_code == 409
        tokens = {t["symbol"] for t in (await http.get(f"{controlled.url}/api/tokens")).json()}
    assert "XCOIN" in tokens


async def test_a_stopping_worker_hands_over_the_watcher_lead(engine_factory: EngineFactory) -> None:
    """SIGTERM: the watcher stops while Redis is still open — it gives up its lead (another
    worker takes over at once, not after the lease) and logs no failure on the way out."""
    engine: Engine = await engine_factory()
    settings = engine.settings
    leader_key = f"{settings.redis_namespace}:watcher:leader"
    redis = aioredis.from_url(settings.redis_url)
    try:
        # The lead is taken by a loop inside the worker process: nothing to await from here.
        deadline = time.monotonic() + 10
        while not await redis.exists(leader_key):
            assert time.monotonic() < deadline, "no watcher took the lead"
            await asyncio.sleep(0.05)
        worker = engine.workers[0]
        worker.terminate()
        assert await asyncio.to_thread(worker.wait, 15) == 0
        assert not await redis.exists(leader_key)
        log = engine.log_text("worker0")
        assert "worker stopped" in log
        assert "watcher loop failed" not in log
    finally:
        await redis.aclose()
