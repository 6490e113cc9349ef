"""GET /metrics: Prometheus text over every process of the engine (shared/telemetry.py).

Real API and worker processes: the worker's figures (stages, outcomes, routes) and every API
process's figures (orders accepted, open WebSockets) reach one scrape through Redis.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable

import httpx
import websockets
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers.engine import Engine, EngineFactory, wait_terminal

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(client: httpx.AsyncClient, url: str) -> tuple[Samples, dict[str, str]]:
    """(every sample by (name, labels), every family's type)."""
    response = await client.get(f"{url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples: Samples = {}
    types: dict[str, str] = {}
    for family in text_string_to_metric_families(response.text):
        types[family.name] = family.type
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples, types


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def wait_for(
    client: httpx.AsyncClient, url: str, ready: Callable[[Samples], bool], timeout_s: float = 10
) -> Samples:
    """Scrape until `ready` holds (workers report once a second)."""
    deadline = time.monotonic() + timeout_s
    while True:
        samples, _ = await scrape(client, url)
        if ready(samples):
            return samples
        assert time.monotonic() < deadline, "the metrics did not move in time"
        await asyncio.sleep(0.2)


async def test_metrics_cover_every_process_and_move_when_an_order_confirms(
    engine_factory: EngineFactory,
) -> None:
    engine: Engine = await engine_factory(apis=2)
    async with httpx.AsyncClient(timeout=10) as client:
        before, types = await scrape(client, engine.url)
        assert types["order_engine_orders_accepted"] == "counter"
        assert types["order_engine_orders_finished"] == "counter"
        assert types["order_engine_stage_seconds"] == "histogram"
        assert types["order_engine_order_seconds"] == "histogram"
        assert types["order_engine_rate_limit_wait_seconds"] == "histogram"
        assert types["order_engine_retries"] == "counter"
        assert types["order_engine_routes"] == "counter"
        assert types["order_engine_websocket_connections"] == "gauge"
        assert types["order_engine_batch_size"] == "histogram"
        assert types["order_engine_queue_jobs"] == "gauge"
        assert value(before, "order_engine_orders_accepted_total", order_type="market") == 0
        # Every process reports: two APIs and the worker.
        await wait_for(
            client,
            engine.url,
            lambda s: (
                value(s, "order_engine_reporting_processes", role="api") == 2
                and value(s, "order_engine_reporting_processes", role="worker") == 1
            ),
        )

        # One order through each API; both are counted by a scrape of the first.
        order_ids = []
        for index in (0, 1):
            response = await engine.submit(client, index)
            assert response.status_code == 202, response.text
            order_ids.append(response.json()["orderId"])
        for order_id in order_ids:
            events = await wait_terminal(engine, order_id)
            assert events[-1]["status"] == "confirmed"
        routes = {e["data"]["chosen"] for e in events if e["status"] == "routing"}

        # Each process reports once a second: both figures arrive within about a second.
        after = await wait_for(
            client,
            engine.url,
            lambda s: (
                value(s, "order_engine_orders_finished_total", **confirmed) == 2
                and value(s, "order_engine_orders_accepted_total", order_type="market") == 2
            ),
        )
        for stage in ("queue_wait", "routing", "building", "confirming"):
            assert value(after, "order_engine_stage_seconds_count", stage=stage) == 2, stage
            assert value(after, "order_engine_stage_seconds_bucket", stage=stage, le="+Inf") == 2
            assert value(after, "order_engine_stage_seconds_sum", stage=stage) > 0
        assert value(after, "order_engine_order_seconds_count", outcome="confirmed") == 2
        assert value(after, "order_engine_rate_limit_wait_seconds_count") == 2
        assert sum(value(after, "order_engine_routes_total", route=r) for r in routes) >= 1
        assert value(after, "order_engine_queue_workers") == 1
        # Group commit at work: every step of both orders went through a batch (of one or two).
        steps = value(after, "order_engine_batch_size_sum", batch="order_steps")
        assert steps == 4  # routing+building+submitted, then confirmed, for each order
        assert value(after, "order_engine_batch_size_count", batch="order_inserts") >= 1
        # The second API answers the same totals.
        other, _ = await scrape(client, engine.apis[1][1])
        assert value(other, "order_engine_orders_finished_total", **confirmed) == 2

        # The JSON summary is still there.
        summary = (await client.get(f"{engine.url}/api/queue/metrics")).json()
        assert summary["orders"]["byStatus"]["confirmed"] == 2


confirmed = {"order_type": "market", "outcome": "confirmed"}


async def test_open_websockets_and_retries_are_counted(engine_factory: EngineFactory) -> None:
    # The validator drops every send: each attempt's blockhash expires (150 slots of 10 ms)
    # unlanded, and the order is retried once, then fails; meanwhile the stream stays open
    # long enough to be seen.
    engine: Engine = await engine_factory(
        DEX_FAILURE_RATE="1", CHAIN_SLOT_MS="10", QUEUE_MAX_ATTEMPTS="2"
    )
    async with httpx.AsyncClient(timeout=10) as client:
        response = await engine.submit(client)
        order_id = response.json()["orderId"]
        url = f"{engine.ws_url()}/api/orders/ws?orderId={order_id}"
        async with websockets.connect(url) as socket:
            await wait_for(
                client, engine.url, lambda s: value(s, "order_engine_websocket_connections") == 1
            )
            statuses = [json.loads(message)["status"] async for message in socket]
        assert statuses[-1] == "failed"
        assert statuses.count("routing") == 2  # attempt 1 expired, attempt 2 expired too
        failed = {"order_type": "market", "outcome": "failed"}
        samples = await wait_for(
            client,
            engine.url,
            lambda s: (
                value(s, "order_engine_websocket_connections") == 0
                and value(s, "order_engine_orders_finished_total", **failed) == 1
            ),
        )
        assert value(samples, "order_engine_retries_total", code="TX_EXPIRED") == 1
        assert value(samples, "order_engine_stage_seconds_count", stage="routing") == 2
