"""Many open order streams on ONE API process: memory, whether they all stay open, and how
fast a burst of events fans out to them.

Starts a scratch engine with one API process and no worker, so that submitted orders stay
`pending`; opens --connections WebSockets spread over --orders orders (each stream answers its
history, the `pending` event, at once), holds them --hold seconds and checks none closed, then
starts a worker: every order runs, and every stream must get its events and the terminal one,
then a close 1000. Prints the API process's memory and open files before and after, the time
to open them all, and the delivery latency of the live events (commit -> client).

The driver raises its own open-file limit (RLIMIT_NOFILE, up to the hard limit) before
starting the engine, and the API process inherits it; in a container, `order-engine api`
raises its soft limit to the hard limit at start (infra/cli.py).

    python3 dev.py run python -m loadtest.bench_websockets [--connections 10000] [--orders 100]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import datetime

import aiohttp
import msgspec
import psutil

from loadtest.common import ORDER, machine, scratch_engine
from loadtest.procstat import cpu_seconds, raise_open_file_limit, rss_bytes
from shared.orders.statuses import TERMINAL


class _Event(msgspec.Struct):
    seq: int
    status: str
    timestamp: str


_decode_event = msgspec.json.Decoder(_Event).decode


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def epoch_of(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


class Stream:
    """One client WebSocket on an order, read in the background."""

    def __init__(self) -> None:
        self.first = asyncio.Event()
        self.terminal: str | None = None
        self.close_code: int | None = None
        self.closed = False
        self.deliveries: list[float] = []
        self.opened = 0.0


async def hold_stream(
    session: aiohttp.ClientSession, url: str, stream: Stream, opened: asyncio.Semaphore
) -> None:
    try:
        async with session.ws_connect(url, autoping=True, heartbeat=None) as socket:
            stream.opened = time.time()
            opened.release()
            async for message in socket:
                if message.type != aiohttp.WSMsgType.TEXT:
                    break
                received = time.time()
                event = _decode_event(message.data)
                stream.first.set()
                committed = epoch_of(event.timestamp)
                if committed >= stream.opened:
                    stream.deliveries.append((received - committed) * 1000)
                if event.status in TERMINAL:
                    stream.terminal = event.status
            stream.close_code = socket.close_code
    except (aiohttp.ClientError, OSError) as exc:
        stream.close_code = -1
        print(f"stream failed: {exc!r}")
        opened.release()
    finally:
        stream.closed = True
        stream.first.set()


async def run(args: argparse.Namespace) -> None:
    limit = raise_open_file_limit(args.connections * 2 + 2048)
    print(f"machine: {machine()}")
    print(f"open-file limit of the driver and the API process: {limit}")
    env = {
        "DEX_QUOTE_LATENCY_MS": "0",
        "DEX_EXECUTION_LATENCY_MS": "0",
        "QUEUE_RATE_LIMIT_PER_MINUTE": "0",
        "QUEUE_CONCURRENCY": "20",
        "LOG_LEVEL": "WARNING",
    }
    async with scratch_engine(env, workers=0, apis=1) as engine:
        api_pid = engine.processes.apis[0][0].pid
        api = psutil.Process(api_pid)
        connector = aiohttp.TCPConnector(limit=0)
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=30)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            order_ids = []
            for _ in range(args.orders):
                async with session.post(f"{engine.url}/api/orders/execute", json=ORDER) as r:
                    assert r.status == 202, await r.text()
                    order_ids.append((await r.json())["orderId"])
            await asyncio.sleep(1)
            rss_before, fds_before = rss_bytes(api_pid) or 0, api.num_fds()
            cpu_before = cpu_seconds(api_pid) or 0.0
            print(
                f"API process {api_pid} before: RSS {rss_before / 2**20:.1f} MiB, "
                f"{fds_before} open files"
            )

            streams = [Stream() for _ in range(args.connections)]
            opened = asyncio.Semaphore(args.batch)
            tasks = []
            started = time.perf_counter()
            for index, stream in enumerate(streams):
                await opened.acquire()  # at most --batch handshakes in flight
                order_id = order_ids[index % len(order_ids)]
                url = f"{engine.ws_url}/api/orders/ws?orderId={order_id}"
                tasks.append(asyncio.create_task(hold_stream(session, url, stream, opened)))
            await asyncio.gather(*(s.first.wait() for s in streams))
            open_s = time.perf_counter() - started
            failed = [s for s in streams if s.closed]
            print(
                f"opened {args.connections - len(failed)} of {args.connections} streams in "
                f"{open_s:.1f} s ({args.connections / open_s:.0f}/s), each answered its history"
                + (f"; {len(failed)} failed or closed" if failed else "")
            )
            await asyncio.sleep(2)
            rss_open, fds_open = rss_bytes(api_pid) or 0, api.num_fds()
            cpu_open = cpu_seconds(api_pid) or 0.0
            per_stream = (rss_open - rss_before) / max(1, args.connections) / 1024
            print(
                f"API process with the streams open: RSS {rss_open / 2**20:.1f} MiB "
                f"(+{(rss_open - rss_before) / 2**20:.1f} MiB, {per_stream:.1f} KiB per stream), "
                f"{fds_open} open files; CPU to accept them {cpu_open - cpu_before:.1f} s; "
                f"driver RSS {psutil.Process().memory_info().rss / 2**20:.0f} MiB"
            )

            await asyncio.sleep(args.hold)
            still_open = sum(1 for s in streams if not s.closed)
            idle_cpu = (cpu_seconds(api_pid) or 0.0) - cpu_open
            print(
                f"after holding {args.hold:g} s: {still_open} of {args.connections} still open; "
                f"API CPU while idle {idle_cpu:.2f} s ({idle_cpu / (args.hold + 2):.3f} cores), "
                f"RSS {(rss_bytes(api_pid) or 0) / 2**20:.1f} MiB"
            )

            print("starting a worker: every order runs; every stream must end with its events")
            started = time.perf_counter()
            engine.processes.add_worker()
            await asyncio.wait_for(asyncio.gather(*tasks), timeout=args.finish_timeout)
            finish_s = time.perf_counter() - started
            confirmed = sum(1 for s in streams if s.terminal == "confirmed")
            normal = sum(1 for s in streams if s.close_code == 1000)
            deliveries = [d for s in streams for d in s.deliveries]
            print(
                f"all streams ended {finish_s:.1f} s after the worker started (its start "
                f"included): {confirmed} saw `confirmed`, {normal} closed with 1000; "
                f"{len(deliveries)} live events delivered, commit -> client "
                f"p50 {pct(deliveries, 0.5):.1f} ms, p99 {pct(deliveries, 0.99):.1f} ms, "
                f"max {max(deliveries, default=0):.1f} ms"
            )
            print(
                f"API process at the end: RSS {(rss_bytes(api_pid) or 0) / 2**20:.1f} MiB, "
                f"{api.num_fds()} open files"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--orders", type=int, default=100, help="orders the streams follow")
    parser.add_argument("--batch", type=int, default=200, help="handshakes in flight")
    parser.add_argument("--hold", type=float, default=10, help="seconds to hold them open")
    parser.add_argument("--finish-timeout", type=float, default=300)
    args = parser.parse_args()
    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:
        runner = asyncio.Runner()
    with runner:
        runner.run(run(args))


if __name__ == "__main__":
    main()
