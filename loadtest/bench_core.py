"""The core engine's two figures, measured end to end on real processes.

1. Submit-to-confirmed time of one order at a time at the defaults (quote latency 200 ms, the
   local validator's 400 ms slots): client-side, from the POST to the `confirmed` event on the
   order's WebSocket.
2. Orders confirmed per second by ONE worker process with the quote latency at 0, 20 ms slots
   and no rate limit: N orders submitted at once; rate = confirmed / (last confirmation -
   first routing step), from the timestamps stored in PostgreSQL.

    python3 dev.py run python -m loadtest.bench_core [--orders 2000] [--single 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time

import aiohttp
import asyncpg

from loadtest.common import ORDER, ORDER_BACK, ScratchEngine, machine, scratch_engine
from shared.orders.statuses import TERMINAL


async def one_order_latency(engine: ScratchEngine, session: aiohttp.ClientSession) -> float:
    started = time.perf_counter()
    async with session.post(f"{engine.url}/api/orders/execute", json=ORDER) as response:
        order_id = (await response.json())["orderId"]
    async with session.ws_connect(f"{engine.ws_url}/api/orders/ws?orderId={order_id}") as socket:
        async for message in socket:
            event = json.loads(message.data)
            if event["status"] in TERMINAL:
                assert event["status"] == "confirmed", event
                return (time.perf_counter() - started) * 1000
    raise RuntimeError("stream closed before the terminal event")


async def measure_latency(single: int) -> list[float]:
    async with scratch_engine({}) as engine, aiohttp.ClientSession() as session:
        return [await one_order_latency(engine, session) for _ in range(single)]


async def measure_throughput(orders: int, concurrency: int) -> dict[str, float]:
    env = {
        "DEX_QUOTE_LATENCY_MS": "0",
        "CHAIN_SLOT_MS": "20",
        "QUEUE_RATE_LIMIT_PER_MINUTE": "0",
        "QUEUE_CONCURRENCY": str(concurrency),
    }
    async with scratch_engine(env) as engine:
        # Fill the queue first (the worker starts at once), then wait for the last order.
        connector = aiohttp.TCPConnector(limit=64)
        async with aiohttp.ClientSession(connector=connector) as session:
            semaphore = asyncio.Semaphore(64)

            async def submit(body: dict[str, object]) -> None:
                async with (
                    semaphore,
                    session.post(f"{engine.url}/api/orders/execute", json=body) as r,
                ):
                    assert r.status == 202, await r.text()

            await asyncio.gather(*(submit((ORDER, ORDER_BACK)[n % 2]) for n in range(orders)))
        db = await asyncpg.connect(engine.database_url)
        try:
            while True:  # a benchmark may poll: one cheap count every 200 ms
                done = await db.fetchval(
                    "SELECT count(*) FROM orders WHERE status = ANY($1::text[])", list(TERMINAL)
                )
                if done >= orders:
                    break
                await asyncio.sleep(0.2)
            row = await db.fetchrow(
                """SELECT count(*) FILTER (WHERE o.status = 'confirmed') AS confirmed,
                          extract(epoch FROM max(o.updated_at) - min(e.created_at)) AS span_s
                   FROM orders o JOIN order_events e ON e.order_id = o.id AND e.seq = 2"""
            )
        finally:
            await db.close()
    return {
        "orders": orders,
        "confirmed": row["confirmed"],
        "span_s": float(row["span_s"]),
        "confirmed_per_s": row["confirmed"] / float(row["span_s"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--single", type=int, default=5, help="orders for the latency figure")
    parser.add_argument("--orders", type=int, default=2000, help="orders for the throughput figure")
    parser.add_argument(
        "--concurrency", type=int, default=10, help="QUEUE_CONCURRENCY of the worker"
    )
    args = parser.parse_args()
    print(f"machine: {machine()}")
    latencies = asyncio.run(measure_latency(args.single))
    print(
        f"submit-to-confirmed, default latencies, {args.single} orders one at a time: "
        f"median {statistics.median(latencies):.0f} ms, "
        f"min {min(latencies):.0f} ms, max {max(latencies):.0f} ms"
    )
    result = asyncio.run(measure_throughput(args.orders, args.concurrency))
    print(
        f"one worker (concurrency {args.concurrency}), latencies 0: {result['confirmed']} of "
        f"{result['orders']} confirmed in {result['span_s']:.2f} s = "
        f"{result['confirmed_per_s']:.0f} orders/s"
    )


if __name__ == "__main__":
    main()
