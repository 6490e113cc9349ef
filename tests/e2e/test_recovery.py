"""A worker killed mid-order: another worker finishes the order, and it settles exactly once."""

from __future__ import annotations

import asyncio
import json
import signal

import httpx
import websockets

from tests.helpers.engine import Engine, EngineFactory


async def settlements(engine: Engine, order_id: str) -> list[dict[str, object]]:
    """The chain's transactions of the order that moved money (GET /api/chain/transactions)."""
    async with httpx.AsyncClient() as client:
        reply = await client.get(f"{engine.url}/api/chain/transactions?orderId={order_id}")
    assert reply.status_code == 200, reply.text
    return [t for t in reply.json()["transactions"] if t["status"] == "settled"]


async def test_order_of_a_killed_worker_is_finished_by_another(
    engine_factory: EngineFactory,
) -> None:
    engine: Engine = await engine_factory(
        DEX_EXECUTION_LATENCY_MS="2000",
        QUEUE_HEARTBEAT_S="2",
        QUEUE_SWEEP_INTERVAL_S="1",
    )
    async with httpx.AsyncClient() as client:
        order_id = (await engine.submit(client)).json()["orderId"]
    url = f"{engine.ws_url()}/api/orders/ws?orderId={order_id}"
    events = []
    async with asyncio.timeout(60), websockets.connect(url) as socket:
        async for message in socket:
            event = json.loads(message)
            events.append(event)
            if event["status"] == "submitted" and event["attempt"] == 1:
                # The transaction is in flight: the worker dies without a word.
                engine.workers[0].send_signal(signal.SIGKILL)
                await engine.add_worker()
        assert socket.close_code == 1000
    statuses = [e["status"] for e in events]
    assert statuses[-1] == "confirmed", statuses
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[-1]["attempt"] >= 2
    retry = next(e for e in events if e["attempt"] == 2)
    if retry["status"] == "routing":  # the first transaction was declared dead
        assert retry["data"]["previousError"]["code"] == "WORKER_LOST"
    assert len(await settlements(engine, order_id)) == 1
