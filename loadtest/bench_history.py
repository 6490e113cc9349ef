"""Does an order cost more when a million came before it? The same load on an empty database
and on one already holding `--history` finished orders with their events, side by side in one
run, on an embedded PostgreSQL with autovacuum off (as on these machines and CI) and on.

For each of the four runs: a fresh embedded PostgreSQL and Redis, a migrated database, the
history loaded in SQL (one INSERT for the orders, one for their five events each; foreign-key
triggers off while loading, as a restore does; the engine's totals set to match) and never
analyzed by hand, then the engine at its defaults (`order-engine up`: one API and one worker,
QUEUE_CONCURRENCY 10; every simulated latency 0, no rate limit) takes a warm-up and then
`--orders` orders, each followed on its own WebSocket (`--no-ws`: none). It prints confirmed
orders per second, CPU per order by process, and PostgreSQL's sequential scans (and the rows
they read) of `orders` and `order_events` per order, then the full/empty ratios.

    python3 dev.py run python -m loadtest.bench_history [--history 1000000] [--orders 3000]
        [--concurrency 10] [--workers 1] [--no-ws] [--autovacuum off,on]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from dataclasses import dataclass

import aiohttp
import asyncpg

from loadtest.bench_throughput import Driver, Phase, report, run_phase
from loadtest.common import machine, scratch_engine, scratch_services
from loadtest.procstat import ProcessWatch, raise_open_file_limit

SOL = "So11111111111111111111111111111111111111112"
USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"

# A day of trading as it leaves the tables: 90% confirmed, 10% failed, 5,000 wallets.
_LOAD_ORDERS = """
INSERT INTO orders (id, order_type, status, wallet_address, token_in, token_out, amount_in,
                    slippage_bps, attempt, last_seq, amount_out, min_amount_out, venue,
                    tx_signature, created_at, updated_at)
SELECT gen_random_uuid(), 'market', CASE WHEN g % 10 = 0 THEN 'failed' ELSE 'confirmed' END,
       'Hist' || lpad((g % 5000)::text, 40, '0'), $2, $3, 1500000000, 50, 1, 5, 221000000,
       220000000, 'raydium', 'sig' || g,
       now() - interval '2 days' + g * interval '100 ms',
       now() - interval '2 days' + g * interval '100 ms' + interval '300 ms'
FROM generate_series(1, $1::int) AS g
"""
_LOAD_EVENTS = """
INSERT INTO order_events (order_id, seq, status, attempt, data, created_at)
SELECT o.id, s.seq, CASE WHEN s.seq = 5 THEN o.status ELSE s.status END, 1,
       '{"note": "history"}'::jsonb, o.created_at
FROM orders o CROSS JOIN (VALUES (1, 'pending'), (2, 'routing'), (3, 'building'),
                                 (4, 'submitted'), (5, 'confirmed')) AS s(seq, status)
"""
_LOAD_TOTALS = """
INSERT INTO order_totals (status, shard, n)
SELECT status, 0, count(*) FROM orders GROUP BY status
ON CONFLICT (status, shard) DO UPDATE SET n = order_totals.n + EXCLUDED.n
"""
_SCANS = """
SELECT coalesce(sum(seq_scan), 0) AS scans, coalesce(sum(seq_tup_read), 0) AS rows
FROM pg_stat_user_tables WHERE relname IN ('orders', 'order_events')
"""


async def load_history(database_url: str, count: int) -> float:
    """`count` finished orders and their events; seconds it took."""
    started = time.perf_counter()
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("SET session_replication_role = replica")  # no FK triggers: a restore
        await conn.execute(_LOAD_ORDERS, count, SOL, USDC)
        await conn.execute(_LOAD_EVENTS)
        if await conn.fetchval("SELECT to_regclass('order_totals') IS NOT NULL"):
            await conn.execute(_LOAD_TOTALS)  # the engine's counters, where it keeps them
    finally:
        await conn.close()
    return time.perf_counter() - started


async def seq_scans(database_url: str) -> tuple[int, int]:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("SELECT pg_stat_clear_snapshot()")
        row = await conn.fetchrow(_SCANS)
        return int(row["scans"]), int(row["rows"])
    finally:
        await conn.close()


@dataclass
class Outcome:
    autovacuum: str
    history: int
    load_s: float
    phase: Phase
    scans: int
    scanned_rows: int

    @property
    def per_second(self) -> float:
        r = self.phase.results
        return self.phase.stored["confirmed"] / (r.last_terminal_wall - r.first_send_wall)

    @property
    def cpu_ms(self) -> float:
        return sum(self.phase.cpu.values()) / max(1, self.phase.stored["total"]) * 1000


async def one_run(args: argparse.Namespace, autovacuum: str, history: int) -> Outcome:
    env = {
        "DEX_QUOTE_LATENCY_MS": "0",
        "DEX_EXECUTION_LATENCY_MS": "0",
        "DEX_FAILURE_RATE": "0",
        "QUEUE_RATE_LIMIT_PER_MINUTE": "0",
        "QUEUE_CONCURRENCY": str(args.concurrency),
    }
    async with scratch_services({"autovacuum": autovacuum}) as services:
        load_s = await load_history(services.database_url, history) if history else 0.0
        async with scratch_engine(env, workers=args.workers, services=services) as engine:
            pids = {f"api{i}": p.pid for i, (p, _) in enumerate(engine.processes.apis)}
            pids |= {f"worker{i}": p.pid for i, p in enumerate(engine.processes.workers)}
            watch = ProcessWatch(engine.database_url, engine.redis_url, pids)
            connector = aiohttp.TCPConnector(limit=0)
            timeout = aiohttp.ClientTimeout(total=600)
            async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
                driver = Driver(engine, session, args.ws)
                await run_phase("warm-up", engine, driver, watch, args.warmup, inflight=32)
                scans_before = await seq_scans(engine.database_url)
                title = (
                    f"autovacuum {autovacuum}, {history:,} finished orders before: "
                    f"{args.orders} orders"
                )
                phase = await run_phase(
                    title, engine, driver, watch, args.orders, inflight=args.inflight
                )
                scans_after = await seq_scans(engine.database_url)
    report(phase, rate=None)
    return Outcome(
        autovacuum,
        history,
        load_s,
        phase,
        scans_after[0] - scans_before[0],
        scans_after[1] - scans_before[1],
    )


def summary(outcomes: list[Outcome]) -> None:
    print("\n== summary (sequential scans: of orders and order_events, per order)")
    print(
        "| autovacuum | finished orders before | history load | confirmed orders/s "
        "| CPU ms/order | seq scans/order | rows scanned/order |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for o in outcomes:
        orders = max(1, o.phase.stored["total"])
        print(
            f"| {o.autovacuum} | {o.history:,} | {o.load_s:.0f} s | {o.per_second:.0f} "
            f"| {o.cpu_ms:.2f} | {o.scans / orders:.3f} | {o.scanned_rows / orders:,.0f} |"
        )
    for mode in dict.fromkeys(o.autovacuum for o in outcomes):
        empty = next((o for o in outcomes if o.autovacuum == mode and not o.history), None)
        full = next((o for o in outcomes if o.autovacuum == mode and o.history), None)
        if empty and full:
            print(
                f"autovacuum {mode}: full/empty = {full.per_second / empty.per_second:.2f}x "
                f"orders/s, {full.cpu_ms / empty.cpu_ms:.2f}x CPU per order"
            )


async def run(args: argparse.Namespace) -> None:
    raise_open_file_limit(max(4096, args.orders * 2 + 1024))
    print(f"machine: {machine()}")
    print(
        f"engine: 1 API, {args.workers} worker(s) at QUEUE_CONCURRENCY {args.concurrency}; "
        f"latencies 0, no rate limit; {'a WebSocket per order' if args.ws else 'no WebSockets'}"
    )
    outcomes = []
    for autovacuum in args.autovacuum.split(","):
        for history in (0, args.history):
            outcomes.append(await one_run(args, autovacuum, history))
    summary(outcomes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history", type=int, default=1_000_000, help="finished orders before")
    parser.add_argument("--orders", type=int, default=3000, help="orders measured per run")
    parser.add_argument("--warmup", type=int, default=300, help="orders before measuring")
    parser.add_argument("--inflight", type=int, default=64, help="submits in flight")
    parser.add_argument("--concurrency", type=int, default=10, help="QUEUE_CONCURRENCY")
    parser.add_argument("--workers", type=int, default=1, help="worker processes")
    parser.add_argument("--autovacuum", default="off,on", help="off, on, or off,on")
    parser.add_argument("--ws", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()
    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:
        runner = asyncio.Runner()
    with runner as loop_runner:
        loop_runner.run(run(args))


if __name__ == "__main__":
    main()
