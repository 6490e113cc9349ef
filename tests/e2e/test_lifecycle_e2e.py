"""One order from submit to confirmed through real API and worker processes."""

from __future__ import annotations

import httpx

from tests.helpers.engine import WALLET, Engine, follow, wait_terminal


async def test_market_order_goes_pending_to_confirmed(engine: Engine) -> None:
    async with httpx.AsyncClient() as client:
        response = await engine.submit(client)
        assert response.status_code == 202
        body = response.json()
        order_id = body["orderId"]
        assert body["status"] == "pending"
        assert body["wsUrl"].endswith(f"/api/orders/ws?orderId={order_id}")
        assert response.headers["location"] == f"/api/orders/{order_id}"

        events = await wait_terminal(engine, order_id)
        assert [e["status"] for e in events] == [
            "pending",
            "routing",
            "building",
            "submitted",
            "confirmed",
        ]
        assert [e["seq"] for e in events] == [1, 2, 3, 4, 5]

        stored = (await client.get(f"{engine.url}/api/orders/{order_id}")).json()
        assert stored["status"] == "confirmed"
        assert stored["walletAddress"] == WALLET
        assert [e["status"] for e in stored["events"]] == [e["status"] for e in events]
        confirmed = events[-1]["data"]
        assert stored["amountOut"] == confirmed["amountOut"]
        assert confirmed["txHash"] == events[3]["data"]["txSignature"] == stored["txSignature"]


async def test_late_subscriber_gets_whole_history_then_close(engine: Engine) -> None:
    async with httpx.AsyncClient() as client:
        order_id = (await engine.submit(client)).json()["orderId"]
        first = await wait_terminal(engine, order_id)
    again, code = await follow(engine.ws_url(), order_id)
    assert code == 1000
    assert again == first
    resumed, code = await follow(engine.ws_url(), order_id, after_seq=3)
    assert [e["seq"] for e in resumed] == [4, 5]
