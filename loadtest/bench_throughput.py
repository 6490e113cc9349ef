"""End-to-end throughput and latency of the engine, on real processes, every simulated latency 0.

Starts a scratch engine (API and worker processes on a scratch PostgreSQL database and Redis
namespace; see loadtest/common.py), drives orders through the real API, workers, PostgreSQL,
Redis and WebSocket streams, stops and removes everything, and prints:

1. Throughput: --orders orders submitted as fast as --inflight concurrent HTTP clients allow,
   each followed on its own WebSocket (--ws, the default) to its terminal event. Confirmed
   orders per second = confirmed / (first submit sent -> last terminal event received).
2. Latency at a fixed offered rate: --submit-rate submits per second for --rate-seconds,
   open loop (each submit leaves at its scheduled time whatever the previous ones do). Submit
   latency is measured from the scheduled send time (so a late driver cannot hide a slow
   server); event delivery = the client's clock when an event arrives minus the event's
   `timestamp` (PostgreSQL's clock_timestamp() at the write; same machine, same clock), for
   events committed after the stream was open (history replays are not deliveries). Event
   timestamps have millisecond resolution (truncated): delivery figures are up to 1 ms high.
3. CPU seconds per order of each process, per phase: every API and worker process, the
   PostgreSQL backends of the scratch database, PostgreSQL's background processes and the
   Redis server (both shared with anything else on the machine), and this driver, which
   shares the machine's cores with all of them.

    python3 dev.py run python -m loadtest.bench_throughput [--orders 5000] [--workers 1]
        [--apis 1] [--concurrency 200] [--submit-rate 500] [--rate-seconds 6] [--no-ws]
        [--submit-over-ws] [--slot-ms 400]

Every order is a real transaction on the scratch engine's own local validator, at Solana's
400 ms slots by default (--slot-ms). The slot is the chain's one latency that cannot be set to
0: an order waits about one slot to land and is confirmed by the next status read, so a worker
confirms at most QUEUE_CONCURRENCY orders per slot or so (concurrency 10: about 25 orders/s).
The default --concurrency 200 keeps enough orders in flight (Little's law) for the figure to be
the engine's throughput; a slot is then the natural batch of the validator's and the engine's
per-slot work (commit, notifications, status reads, pool re-reads).

--submit-over-ws: each order is submitted on its own WebSocket (`/api/orders/execute`, the
first message is the body) and followed there, instead of an HTTP submit plus a WebSocket;
submit latency is then the time to the socket's {orderId, status} answer.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

import aiohttp
import asyncpg
import msgspec

from loadtest.common import ORDER, ScratchEngine, machine, scratch_engine
from loadtest.procstat import ProcessWatch, Reading, cpu_used, raise_open_file_limit
from shared.db import SESSION_SETTINGS  # planned as the engine plans its reads
from shared.orders.statuses import TERMINAL


class _Event(msgspec.Struct):
    seq: int
    status: str
    timestamp: str


_decode_event = msgspec.json.Decoder(_Event).decode
# Both directions in turn (1.5 SOL -> USDC, 222 USDC -> SOL), so that thousands of orders leave
# the pools where they were and no order fails its slippage check on a drained pool. With
# --pairs N the orders go round N pairs (different pools), both ways.
PAIRS = [
    (("SOL", "USDC", "1.5"), ("USDC", "SOL", "222")),
    (("SOL", "USDT", "1.5"), ("USDT", "SOL", "222")),
    (("SOL", "JUP", "0.5"), ("JUP", "SOL", "100")),
    (("SOL", "RAY", "0.5"), ("RAY", "SOL", "30")),
]


def order_bodies(pairs: int) -> Iterator[bytes]:
    bodies = [
        msgspec.json.encode({**ORDER, "tokenIn": a, "tokenOut": b, "amountIn": amount})
        for there, back in PAIRS[:pairs]
        for a, b, amount in (there, back)
    ]
    return itertools.cycle(bodies)


_ORDER_BODIES = order_bodies(1)
ORDER_PATHS = {
    (True, False): "each order submitted over HTTP, then followed on its own WebSocket",
    (True, True): "each order submitted and followed on one WebSocket of its own",
    (False, False): "each order submitted over HTTP, no WebSockets",
}
_HEADERS = {"content-type": "application/json"}


def epoch_of(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class Results:
    submit_ms: list[float] = field(default_factory=list)  # from the scheduled (or actual) send
    send_lag_ms: list[float] = field(default_factory=list)  # driver: scheduled -> actual send
    delivery_ms: list[float] = field(default_factory=list)
    outcomes: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    first_send_wall: float = 0.0
    last_terminal_wall: float = 0.0
    order_ids: list[str] = field(default_factory=list)


class Driver:
    def __init__(
        self,
        engine: ScratchEngine,
        session: aiohttp.ClientSession,
        ws: bool,
        submit_over_ws: bool = False,
    ) -> None:
        self.urls = [url for _, url in engine.processes.apis]
        self.session = session
        self.ws = ws
        self.submit_over_ws = submit_over_ws
        self._next_api = itertools.cycle(range(len(self.urls)))

    async def order(
        self,
        results: Results,
        scheduled: float | None = None,
        slot: asyncio.Semaphore | None = None,
    ) -> None:
        """Submit one order (at `scheduled`, a perf_counter time, if given) and follow it on its
        stream; `slot`, if given, is released once the submit is answered."""
        url = self.urls[next(self._next_api)]
        sent = time.perf_counter()
        if not results.first_send_wall:
            results.first_send_wall = time.time()
        if scheduled is not None:
            results.send_lag_ms.append((sent - scheduled) * 1000)
        if self.submit_over_ws:
            await self.submit_and_follow(results, "ws" + url[4:], scheduled or sent, slot)
            return
        try:
            async with self.session.post(
                f"{url}/api/orders/execute", data=next(_ORDER_BODIES), headers=_HEADERS
            ) as response:
                body = await response.read()
                answered = time.perf_counter()
        except aiohttp.ClientError as exc:
            results.errors.append(f"submit: {exc!r}")
            return
        finally:
            if slot is not None:
                slot.release()
        if response.status != 202:
            results.errors.append(f"submit {response.status}: {body[:200]!r}")
            return
        results.submit_ms.append((answered - (scheduled if scheduled is not None else sent)) * 1000)
        order_id = msgspec.json.decode(body)["orderId"]
        results.order_ids.append(order_id)
        if self.ws:
            await self.follow(results, "ws" + url[4:], order_id)

    async def submit_and_follow(
        self, results: Results, ws_base: str, since: float, slot: asyncio.Semaphore | None
    ) -> None:
        """One WebSocket does both (`/api/orders/execute` without `orderId`): the submit is
        answered by {orderId, status} on the socket, then the order's events follow."""
        try:
            async with self.session.ws_connect(
                f"{ws_base}/api/orders/execute", autoping=True, heartbeat=None
            ) as socket:
                await socket.send_bytes(next(_ORDER_BODIES))  # any frame type is accepted
                answer = await socket.receive()
                answered = time.perf_counter()
                if slot is not None:
                    slot.release()
                    slot = None
                if answer.type != aiohttp.WSMsgType.TEXT or b'"error"' in answer.data.encode():
                    results.errors.append(f"submit over WebSocket: {answer.data!r:.200}")
                    return
                results.submit_ms.append((answered - since) * 1000)
                results.order_ids.append(msgspec.json.decode(answer.data)["orderId"])
                await self._events(results, socket)
        except (TimeoutError, aiohttp.ClientError) as exc:
            results.errors.append(f"submit over WebSocket: {exc!r}")
        finally:
            if slot is not None:
                slot.release()

    async def follow(self, results: Results, ws_base: str, order_id: str) -> None:
        try:
            async with self.session.ws_connect(
                f"{ws_base}/api/orders/ws?orderId={order_id}", autoping=True, heartbeat=None
            ) as socket:
                await self._events(results, socket)
        except (TimeoutError, aiohttp.ClientError) as exc:
            results.errors.append(f"stream: {exc!r}")

    async def _events(self, results: Results, socket: aiohttp.ClientWebSocketResponse) -> None:
        """Read the order's events to the terminal one, timing each live delivery; count the
        outcome (a stream that ends without a terminal event counts as such)."""
        status = None
        opened = time.time()
        try:
            async for message in socket:
                if message.type != aiohttp.WSMsgType.TEXT:
                    break
                received = time.time()
                event = _decode_event(message.data)
                committed = epoch_of(event.timestamp)
                if committed >= opened:
                    results.delivery_ms.append((received - committed) * 1000)
                if event.status in TERMINAL:
                    status = event.status
                    results.last_terminal_wall = max(results.last_terminal_wall, received)
                    break
        finally:
            key = status or "no terminal event"
            results.outcomes[key] = results.outcomes.get(key, 0) + 1


async def wait_all_terminal(
    database_url: str, order_ids: list[str], timeout_s: float = 600
) -> None:
    """Without streams: poll PostgreSQL (one count every 100 ms) until these orders are done."""
    conn = await asyncpg.connect(database_url, server_settings=SESSION_SETTINGS)
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            done = await conn.fetchval(
                """SELECT count(*) FROM orders
                   WHERE status = ANY($1::text[]) AND id = ANY($2::uuid[])""",
                list(TERMINAL),
                order_ids,
            )
            if done >= len(order_ids):
                return
            await asyncio.sleep(0.1)
        raise TimeoutError(f"orders still unfinished after {timeout_s} s")
    finally:
        await conn.close()


async def stored_figures(database_url: str, order_ids: list[str]) -> asyncpg.Record:
    """From PostgreSQL: outcomes and the worker-side span (first routing -> last terminal)."""
    conn = await asyncpg.connect(database_url, server_settings=SESSION_SETTINGS)
    try:
        return await conn.fetchrow(
            """SELECT count(*) FILTER (WHERE o.status = 'confirmed') AS confirmed,
                      count(*) AS total,
                      count(*) FILTER (WHERE o.attempt > 1) AS retried,
                      extract(epoch FROM min(o.created_at)) AS first_created,
                      extract(epoch FROM max(o.updated_at)) AS last_updated,
                      extract(epoch FROM max(o.updated_at) - min(e.created_at)) AS worker_span_s
               FROM orders o JOIN order_events e ON e.order_id = o.id AND e.seq = 2
               WHERE o.id = ANY($1::uuid[])""",
            order_ids,
        )
    finally:
        await conn.close()


async def failure_codes(database_url: str, order_ids: list[str]) -> dict[str, int]:
    conn = await asyncpg.connect(database_url, server_settings=SESSION_SETTINGS)
    try:
        rows = await conn.fetch(
            """SELECT failure_code, count(*) AS n FROM orders
               WHERE id = ANY($1::uuid[]) AND status = 'failed' GROUP BY failure_code""",
            order_ids,
        )
    finally:
        await conn.close()
    return {row["failure_code"]: row["n"] for row in rows}


Histograms = dict[tuple[str, str], dict[str, float]]  # (family, stage) -> le|sum|count -> value


async def scrape_stages(session: aiohttp.ClientSession, url: str) -> Histograms:
    """The engine's stage and batch-size histograms from GET /metrics (every process's)."""
    from prometheus_client.parser import text_string_to_metric_families

    async with session.get(f"{url}/metrics") as response:
        text = await response.text()
    found: Histograms = {}
    for family in text_string_to_metric_families(text):
        if family.name not in (STAGES, ORDER_SECONDS, BATCH_SIZE):
            continue
        for sample in family.samples:
            label = (
                sample.labels.get("stage")
                or sample.labels.get("outcome")
                or sample.labels.get("batch", "")
            )
            into = found.setdefault((family.name, label), {})
            if sample.name.endswith("_bucket"):
                into[sample.labels["le"]] = sample.value
            else:
                into[sample.name.rsplit("_", 1)[1]] = sample.value
    return found


STAGES, ORDER_SECONDS = "order_engine_stage_seconds", "order_engine_order_seconds"
BATCH_SIZE = "order_engine_batch_size"


def stage_lines(before: Histograms, after: Histograms) -> list[str]:
    """Mean and bucket-bound p50/p99 of each stage over the phase (from histogram deltas)."""
    lines = []
    names = {ORDER_SECONDS: "accepted -> confirmed"}
    for key, values in after.items():
        family, label = key
        if family == BATCH_SIZE or (family == ORDER_SECONDS and label != "confirmed"):
            continue
        start = before.get(key, {})
        count = values.get("count", 0) - start.get("count", 0)
        if count <= 0:
            continue
        mean = (values.get("sum", 0) - start.get("sum", 0)) / count
        bounds = sorted(
            (float(le), values[le] - start.get(le, 0))
            for le in values
            if le[0].isdigit() or le == "+Inf"
        )

        def bound(
            q: float, bounds: list[tuple[float, float]] = bounds, count: float = count
        ) -> str:
            for le, cumulative in bounds:
                if cumulative >= q * count:
                    return f"<= {le * 1000:g} ms" if le != float("inf") else "> 120 s"
            return "?"

        name = names.get(family, label)
        lines.append(
            f"  {name:24s} mean {mean * 1000:8.1f} ms, p50 {bound(0.5)}, p99 {bound(0.99)}"
            f"  ({count:.0f} observed)"
        )
    return lines


def batch_line(before: Histograms, after: Histograms) -> str:
    """Group commit over the phase: calls per round trip (mean batch size) of each batcher."""
    sizes = []
    for (family, label), values in sorted(after.items()):
        start = before.get((family, label), {})
        batches = values.get("count", 0) - start.get("count", 0)
        if family == BATCH_SIZE and batches > 0:
            calls = values.get("sum", 0) - start.get("sum", 0)
            sizes.append(f"{label} {calls / batches:.1f}")
    return "group commit, mean calls per batch: " + ", ".join(sizes) if sizes else ""


@dataclass
class Phase:
    title: str
    orders: int
    wall_s: float
    results: Results
    cpu: dict[str, float]
    stored: asyncpg.Record
    stages: list[str]
    failures: dict[str, int]


async def run_phase(
    title: str,
    engine: ScratchEngine,
    driver: Driver,
    watch: ProcessWatch,
    orders: int,
    *,
    inflight: int | None = None,
    rate: float | None = None,
) -> Phase:
    results = Results()
    stages_before = await scrape_stages(driver.session, driver.urls[0])
    before: Reading = await watch.read()
    started = time.perf_counter()
    if rate is not None:  # open loop at a fixed rate
        tasks = []
        t0 = time.perf_counter() + 0.05
        for i in range(orders):
            at = t0 + i / rate
            if (delay := at - time.perf_counter()) > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(driver.order(results, scheduled=at)))
        await asyncio.gather(*tasks)
    else:  # as fast as `inflight` submits in flight allow; streams do not hold a slot
        slots = asyncio.Semaphore(inflight or 64)

        async def one() -> None:
            await slots.acquire()
            await driver.order(results, slot=slots)

        await asyncio.gather(*(one() for _ in range(orders)))
    if not driver.ws:
        await wait_all_terminal(engine.database_url, results.order_ids)
    wall_s = time.perf_counter() - started
    after = await watch.read()
    stored = await stored_figures(engine.database_url, results.order_ids)
    if not driver.ws:
        results.last_terminal_wall = float(stored["last_updated"])
    await asyncio.sleep(1.2)  # workers report their figures once a second
    stages_after = await scrape_stages(driver.session, driver.urls[0])
    stages = stage_lines(stages_before, stages_after)
    if batches := batch_line(stages_before, stages_after):
        stages.append(batches)
    failures = await failure_codes(engine.database_url, results.order_ids)
    return Phase(title, orders, wall_s, results, cpu_used(before, after), stored, stages, failures)


def report(phase: Phase, *, rate: float | None) -> None:
    r, stored = phase.results, phase.stored
    confirmed = stored["confirmed"]
    span = r.last_terminal_wall - r.first_send_wall
    print(f"\n== {phase.title}")
    print(
        f"orders: {stored['total']} accepted, {confirmed} confirmed"
        + (f", stream outcomes {r.outcomes}" if r.outcomes else "")
        + (f", {len(r.errors)} errors (first: {r.errors[0]})" if r.errors else "")
        + f"; {stored['retried']} needed more than one attempt"
        + (f"; failures by code {phase.failures}" if phase.failures else "")
    )
    print(
        f"confirmed orders per second: {confirmed / span:.0f}  "
        f"({confirmed} in {span:.2f} s, first submit -> last terminal event at the client); "
        f"worker side (first routing -> last terminal, PostgreSQL clock): "
        f"{confirmed / float(stored['worker_span_s']):.0f}/s"
    )
    basis = "from the scheduled send" if rate is not None else "from the send"
    print(
        f"submit latency ({basis}): p50 {pct(r.submit_ms, 0.5):.1f} ms, "
        f"p99 {pct(r.submit_ms, 0.99):.1f} ms, max {max(r.submit_ms, default=0):.1f} ms"
        + (
            f"; driver send lag p99 {pct(r.send_lag_ms, 0.99):.1f} ms, "
            f"max {max(r.send_lag_ms, default=0):.1f} ms"
            if r.send_lag_ms
            else ""
        )
    )
    if r.delivery_ms:
        print(
            f"event delivery (commit -> WebSocket client, {len(r.delivery_ms)} live events): "
            f"p50 {pct(r.delivery_ms, 0.5):.1f} ms, p99 {pct(r.delivery_ms, 0.99):.1f} ms, "
            f"max {max(r.delivery_ms):.1f} ms"
        )
    if phase.stages:
        print("stages, worker side (GET /metrics histograms; p50/p99 as bucket bounds):")
        for line in phase.stages:
            print(line)
    orders = max(1, stored["total"])
    total = sum(phase.cpu.values())
    print(f"CPU per order ({orders} orders, {phase.wall_s:.2f} s wall):")
    for name, seconds in phase.cpu.items():
        print(
            f"  {name:42s} {seconds / orders * 1000:7.3f} ms/order"
            f"  ({seconds:6.2f} s CPU, {seconds / phase.wall_s:4.2f} cores)"
        )
    print(
        f"  {'total':42s} {total / orders * 1000:7.3f} ms/order"
        f"  ({total:6.2f} s CPU, {total / phase.wall_s:4.2f} cores)"
    )


async def run(args: argparse.Namespace) -> None:
    global _ORDER_BODIES
    _ORDER_BODIES = order_bodies(args.pairs)
    limit = raise_open_file_limit(max(4096, args.orders * 2 + 1024))
    env = {
        "DEX_QUOTE_LATENCY_MS": "0",
        "DEX_EXECUTION_LATENCY_MS": "0",
        "DEX_FAILURE_RATE": "0",
        "QUEUE_RATE_LIMIT_PER_MINUTE": "0",
        "QUEUE_CONCURRENCY": str(args.concurrency),
        "SIM_MARKET_ACTIVITY": "0",
        "LOG_LEVEL": "WARNING",
        "CHAIN_SLOT_MS": str(args.slot_ms),
    }
    print(f"machine: {machine()}")
    print(f"orders execute on the local validator, {args.slot_ms} ms slots")
    print(
        f"engine: {args.apis} API process(es), {args.workers} worker process(es) with "
        f"QUEUE_CONCURRENCY {args.concurrency}; every simulated latency 0, no rate limit; "
        f"{ORDER_PATHS[(args.ws, args.submit_over_ws)]}; "
        f"{args.pairs} pair(s) of pools, both ways; open files {limit}"
    )
    async with scratch_engine(env, workers=args.workers, apis=args.apis) as engine:
        pids = {f"api{i}": proc.pid for i, (proc, _) in enumerate(engine.processes.apis)}
        pids |= {f"worker{i}": proc.pid for i, proc in enumerate(engine.processes.workers)}
        if engine.processes.chain is not None:
            pids["validator"] = engine.processes.chain.proc.pid
        print("pids: " + ", ".join(f"{name} {pid}" for name, pid in pids.items()), flush=True)
        watch = ProcessWatch(engine.database_url, engine.redis_url, pids)
        connector = aiohttp.TCPConnector(limit=0, force_close=False)
        timeout = aiohttp.ClientTimeout(total=300)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            driver = Driver(engine, session, args.ws, args.submit_over_ws)
            if args.warmup:
                await run_phase("warm-up", engine, driver, watch, args.warmup, inflight=32)
            if args.orders:
                throughput = await run_phase(
                    f"throughput: {args.orders} orders, {args.inflight} submits in flight",
                    engine,
                    driver,
                    watch,
                    args.orders,
                    inflight=args.inflight,
                )
                report(throughput, rate=None)
                await asyncio.sleep(1)
            if count := int(args.submit_rate * args.rate_seconds):
                fixed = await run_phase(
                    f"fixed rate: {args.submit_rate:g} submits/s for {args.rate_seconds:g} s "
                    f"({count} orders, open loop)",
                    engine,
                    driver,
                    watch,
                    count,
                    rate=args.submit_rate,
                )
                report(fixed, rate=args.submit_rate)
        for name in pids:
            if (text := engine.processes.log_text(name)) and "Traceback" in text:
                print(f"\n{name} logged an error:\n{text[-2000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--orders", type=int, default=5000, help="orders of the throughput phase (0: skip it)"
    )
    parser.add_argument("--workers", type=int, default=1, help="worker processes")
    parser.add_argument("--apis", type=int, default=1, help="API processes")
    parser.add_argument("--concurrency", type=int, default=200, help="QUEUE_CONCURRENCY")
    parser.add_argument("--submit-rate", type=float, default=500, help="submits/s, phase 2")
    parser.add_argument("--rate-seconds", type=float, default=6, help="phase 2 (0: skip it)")
    parser.add_argument("--inflight", type=int, default=256, help="submits in flight, phase 1")
    parser.add_argument("--warmup", type=int, default=200, help="orders before measuring")
    parser.add_argument(
        "--pairs",
        type=int,
        default=1,
        choices=range(1, len(PAIRS) + 1),
        help="token pairs the orders go round (1: SOL/USDC only)",
    )
    parser.add_argument(
        "--ws",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="follow every order on its own WebSocket (default on)",
    )
    parser.add_argument(
        "--slot-ms", type=int, default=400, help="the local validator's CHAIN_SLOT_MS"
    )
    parser.add_argument(
        "--submit-over-ws",
        action="store_true",
        help="submit on the order's WebSocket (/api/orders/execute), no HTTP request",
    )
    args = parser.parse_args()
    if args.submit_over_ws and not args.ws:
        parser.error("--submit-over-ws follows each order on its WebSocket: drop --no-ws")
    runner: contextlib.AbstractContextManager[asyncio.Runner]
    try:
        import uvloop  # the driver's own overhead matters: it shares the cores

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:
        runner = asyncio.Runner()
    with runner as loop_runner:
        loop_runner.run(run(args))


if __name__ == "__main__":
    main()
