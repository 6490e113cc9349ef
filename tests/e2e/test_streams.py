"""The WebSocket status streams through real API and worker processes: across API processes,
live and replayed under load, resumed with afterSeq, and opened by a submit over the socket.
Every stream is compared with the order's stored timeline (GET /api/orders/{id})."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import websockets

from shared.orders.statuses import TERMINAL
from tests.helpers.engine import WALLET, Engine, follow, wait_terminal

EngineFactory = Callable[..., Awaitable[Engine]]


LIFECYCLE = ["pending", "routing", "building", "submitted", "confirmed"]


async def submit(engine: Engine, client: httpx.AsyncClient, index: int = 0) -> str:
    response = await engine.submit(client, index)
    assert response.status_code == 202, response.text
    return str(response.json()["orderId"])


async def timeline(engine: Engine, client: httpx.AsyncClient, order_id: str) -> list[Any]:
    response = await client.get(f"{engine.url}/api/orders/{order_id}")
    assert response.status_code == 200, response.text
    events: list[Any] = response.json()["events"]
    return events


async def test_stream_on_second_api_process_follows_live_order(
    engine_factory: EngineFactory,
) -> None:
    # No worker yet: the subscriber on API 1 is connected before any step is taken.
    engine = await engine_factory(apis=2, workers=0)
    async with httpx.AsyncClient() as client:
        order_id = await submit(engine, client, 0)
        url = f"{engine.ws_url(1)}/api/orders/ws?orderId={order_id}"
        received: list[dict[str, Any]] = []
        async with asyncio.timeout(30), websockets.connect(url) as socket:
            received.append(json.loads(await socket.recv()))
            before = (await client.get(f"{engine.url}/api/orders/{order_id}")).json()
            await engine.add_worker()
            # Every later step can only come from the live feed the worker publishes.
            async for message in socket:
                received.append(json.loads(message))
            code = socket.close_code
        stored = await timeline(engine, client, order_id)

    assert before["status"] == "pending"
    assert code == 1000
    assert [e["status"] for e in received] == LIFECYCLE
    assert [e["seq"] for e in received] == [1, 2, 3, 4, 5]
    assert received == stored


async def test_live_and_replayed_streams_are_exact_under_load(
    engine_factory: EngineFactory,
) -> None:
    engine = await engine_factory(
        apis=2, DEX_QUOTE_LATENCY_MS="5", DEX_EXECUTION_LATENCY_MS="20-60"
    )
    rng = random.Random(20261122)
    count = 30

    async def one(client: httpx.AsyncClient, index: int) -> tuple[str, list[Any], int | None]:
        order_id = await submit(engine, client, index % 2)
        ws_base = engine.ws_url(rng.randrange(2))
        mode = index % 3
        if mode == 1:  # at a random moment of the order's life (timing spread, not a sync)
            await asyncio.sleep(rng.uniform(0, 0.15))
        elif mode == 2:  # after the order is done: all replay
            await wait_terminal(engine, order_id)
        events, code = await follow(ws_base, order_id, timeout_s=45)
        return order_id, events, code

    async with httpx.AsyncClient(timeout=30) as client:
        results = await asyncio.gather(*(one(client, i) for i in range(count)))
        stored = await asyncio.gather(*(timeline(engine, client, oid) for oid, _, _ in results))

    for (order_id, events, code), truth in zip(results, stored, strict=True):
        assert code == 1000, order_id
        assert truth[-1]["status"] in TERMINAL, order_id
        assert [e["seq"] for e in truth] == list(range(1, len(truth) + 1)), order_id
        assert events == truth, order_id


async def test_after_seq_resumes_a_live_order(engine_factory: EngineFactory) -> None:
    engine = await engine_factory(DEX_EXECUTION_LATENCY_MS="500")
    async with httpx.AsyncClient() as client:
        order_id = await submit(engine, client)
        url = f"{engine.ws_url()}/api/orders/ws?orderId={order_id}"
        first: list[dict[str, Any]] = []
        async with asyncio.timeout(30), websockets.connect(url) as socket:
            while not first or first[-1]["seq"] < 2:
                first.append(json.loads(await socket.recv()))
            # Routing is done, the swap is in flight: resume from two points meanwhile.
            assert first[-1]["status"] not in TERMINAL
            after_two, after_four = await asyncio.gather(
                follow(engine.ws_url(), order_id, after_seq=2),
                follow(engine.ws_url(), order_id, after_seq=4),
            )
            async for message in socket:
                first.append(json.loads(message))
        stored = await timeline(engine, client, order_id)

    assert first == stored
    assert [e["seq"] for e in first] == [1, 2, 3, 4, 5]
    events, code = after_two
    assert code == 1000
    assert events == stored[2:]
    events, code = after_four
    assert code == 1000
    assert events == stored[4:]


async def test_after_seq_past_the_end_of_a_finished_order_closes(engine: Engine) -> None:
    async with httpx.AsyncClient() as client:
        order_id = await submit(engine, client)
        events = await wait_terminal(engine, order_id)
    assert [e["seq"] for e in events] == [1, 2, 3, 4, 5]
    resumed, code = await follow(engine.ws_url(), order_id, after_seq=5, timeout_s=5)
    assert resumed == []
    assert code == 1000


async def test_submit_over_websocket_streams_from_the_first_event(
    engine_factory: EngineFactory,
) -> None:
    engine = await engine_factory(workers=0)
    body = {
        "tokenIn": "SOL",
        "tokenOut": "USDC",
        "amountIn": "0.25",
        "slippageBps": 50,
        "walletAddress": WALLET,
    }
    url = f"{engine.ws_url()}/api/orders/execute"
    messages: list[dict[str, Any]] = []
    async with asyncio.timeout(30), websockets.connect(url) as socket:
        await socket.send(json.dumps(body))
        messages.append(json.loads(await socket.recv()))
        messages.append(json.loads(await socket.recv()))
        # Subscribed, and no step taken yet: only now does a worker start.
        await engine.add_worker()
        async for message in socket:
            messages.append(json.loads(message))
        code = socket.close_code

    assert code == 1000
    accepted, events = messages[0], messages[1:]
    assert accepted["status"] == "pending"
    assert "seq" not in accepted
    order_id = accepted["orderId"]
    uuid.UUID(order_id)
    assert [e["seq"] for e in events] == [1, 2, 3, 4, 5]
    assert [e["status"] for e in events] == LIFECYCLE
    assert all(e["orderId"] == order_id for e in events)
    assert events[0]["data"]["amountIn"] == "0.25"
    async with httpx.AsyncClient() as client:
        assert events == await timeline(engine, client, order_id)
