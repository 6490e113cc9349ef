"""A worker killed mid-order: another worker finishes the order, and it settles exactly once."""

from __future__ import annotations

import asyncio
import json
import signal

import httpx
import msgspec
import redis.asyncio as aioredis
import websockets

from tests.helpers.engine import Engine, EngineFactory


async def settlements(engine: Engine, order_id: str) -> list[dict[str, object]]:
    """The simulated chain's records for the order that moved money."""
    client = aioredis.from_url(engine.settings.redis_url)
    try:
        records = []
        async for key in client.scan_iter(match=f"{engine.settings.redis_namespace}:chain:tx:*"):
            record = msgspec.json.decode(await client.get(key))
            if record["order_id"] == order_id and record["status"] == "settled":
                records.append(record)
        return records
    finally:
        await client.aclose()


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
