"""The worker's policies, observed through real API and worker processes: the concurrency cap,
the global rate limit, retries with back-off, exhausted attempts, permanent failures, and exact
amounts. Every assertion reads outcomes: the events stored in PostgreSQL, the order rows, the
WebSocket streams and the HTTP views. Each order is known to be finished when its stream closes.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg
import httpx

from shared.orders.statuses import TERMINAL
from shared.tokens import find_token
from tests.helpers.engine import Engine, wait_terminal, wait_workers

EngineFactory = Callable[..., Awaitable[Engine]]


# Timestamps of events come from PostgreSQL's clock; the designed delays come from Redis's
# clock and asyncio timers on the same machine. This much scheduling noise is tolerated.
TOLERANCE_MS = 30.0
# Rate-limit starts are read from each worker's "start granted" log line, written when its
# wait ended: a busy event loop wakes late by a few ms, and a start woken later than its
# successor shrinks a gap by that much. 150 ms at 400 ms intervals still fails a missing or
# per-process limit: with two workers each at the full rate, starts two apart would be ~400 ms
# apart, not the 650 ms this allows at least. (The routing event is no measure of a start: it
# is written with building and submitted, after the route, the fee, the simulation.)
RATE_TOLERANCE_MS = 150.0


@dataclass(frozen=True)
class Stored:
    seq: int
    status: str
    attempt: int
    data: dict[str, Any]
    at: datetime


async def stored_events(engine: Engine) -> dict[str, list[Stored]]:
    """Every stored event of the engine's database, per order, in seq order."""
    conn = await asyncpg.connect(engine.settings.database_url)
    try:
        rows = await conn.fetch(
            "SELECT order_id::text AS order_id, seq, status, attempt, data::text AS data,"
            " created_at FROM order_events ORDER BY order_id, seq"
        )
    finally:
        await conn.close()
    events: dict[str, list[Stored]] = {}
    for row in rows:
        events.setdefault(row["order_id"], []).append(
            Stored(
                seq=row["seq"],
                status=row["status"],
                attempt=row["attempt"],
                data=json.loads(row["data"]),
                at=row["created_at"],
            )
        )
    return events


async def order_rows(engine: Engine) -> dict[str, asyncpg.Record]:
    conn = await asyncpg.connect(engine.settings.database_url)
    try:
        rows = await conn.fetch("SELECT *, id::text AS order_id FROM orders")
    finally:
        await conn.close()
    return {row["order_id"]: row for row in rows}


async def submit_many(engine: Engine, bodies: list[dict[str, Any]]) -> list[str]:
    """Submit every body at once; return the order ids (each submit must be accepted)."""
    async with httpx.AsyncClient(timeout=30) as client:
        responses = await asyncio.gather(*(engine.submit(client, **body) for body in bodies))
    for response in responses:
        assert response.status_code == 202, response.text
    return [response.json()["orderId"] for response in responses]


async def finish_all(engine: Engine, order_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Await every order's stream to its close (1000); return each stream."""
    streams = await asyncio.gather(*(wait_terminal(engine, oid, timeout_s=45) for oid in order_ids))
    for order_id, events in zip(order_ids, streams, strict=True):
        assert events, f"{order_id}: empty stream"
        assert events[-1]["status"] in TERMINAL, f"{order_id}: ended at {events[-1]['status']}"
    return dict(zip(order_ids, streams, strict=True))


def ms(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds() * 1000


def max_overlap(intervals: list[tuple[datetime, datetime]]) -> int:
    """The largest number of half-open intervals [start, end) holding one instant."""
    points = [(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals]
    points.sort(key=lambda p: (p[0], p[1]))  # at a tie an end comes before a start
    current = best = 0
    for _, step in points:
        current += step
        best = max(best, current)
    return best


def assert_contiguous(order_id: str, events: list[Stored]) -> None:
    assert [e.seq for e in events] == list(range(1, len(events) + 1)), order_id
    assert events[0].status == "pending", order_id
    assert sum(e.status in TERMINAL for e in events) == 1, order_id
    assert events[-1].status in TERMINAL, order_id


def attempts_of(events: list[Stored]) -> list[list[Stored]]:
    """The events after `pending`, cut at each `routing`: one list per attempt."""
    runs: list[list[Stored]] = []
    for event in events[1:]:
        if event.status == "routing":
            runs.append([])
        assert runs, f"{event.status} before any routing"
        runs[-1].append(event)
    return runs


# --- concurrency --------------------------------------------------------------------------------


async def test_concurrency_cap_bounds_orders_in_flight(engine_factory: EngineFactory) -> None:
    engine = await engine_factory(
        QUEUE_CONCURRENCY="3",
        DEX_QUOTE_LATENCY_MS="20",
        DEX_EXECUTION_LATENCY_MS="300",
    )
    order_ids = await submit_many(engine, [{} for _ in range(12)])
    streams = await finish_all(engine, order_ids)
    assert all(s[-1]["status"] == "confirmed" for s in streams.values())

    stored = await stored_events(engine)
    intervals = []
    for order_id in order_ids:
        events = stored[order_id]
        assert_contiguous(order_id, events)
        routing = next(e for e in events if e.status == "routing")
        intervals.append((routing.at, events[-1].at))
    # Each order is in flight at least from its routing step to its terminal step.
    assert max_overlap(intervals) == 3


# --- global rate limit -------------------------------------------------------------------------


def granted_starts(engine: Engine, worker: int) -> dict[str, datetime]:
    """When each order's start was let through by the rate limit, from the worker's JSON log."""
    starts: dict[str, datetime] = {}
    for line in engine.log_text(f"worker{worker}").splitlines():
        if '"start granted by the rate limit"' in line:
            entry = json.loads(line)
            starts[entry["order_id"]] = datetime.fromisoformat(entry["timestamp"])
    return starts


async def test_rate_limit_is_global_across_two_workers(engine_factory: EngineFactory) -> None:
    # 400 ms between starts; the tolerance stays well under half an interval, so a limiter that
    # let twice the rate through would still fail every pair.
    per_minute = 150
    interval_ms = 60_000 / per_minute
    engine = await engine_factory(
        workers=2,
        QUEUE_RATE_LIMIT_PER_MINUTE=str(per_minute),
        QUEUE_CONCURRENCY="10",
        LOG_FORMAT="json",
    )
    await wait_workers(engine, 2)
    # The wallet's first order brings its starter balance (a faucet transaction): done first,
    # so that no measured start waits for it.
    await finish_all(engine, await submit_many(engine, [{}]))
    count = 12
    order_ids = await submit_many(engine, [{} for _ in range(count)])
    streams = await finish_all(engine, order_ids)
    assert all(s[-1]["status"] == "confirmed" for s in streams.values())

    per_worker = [granted_starts(engine, index) for index in range(2)]
    granted = per_worker[0] | per_worker[1]
    assert set(order_ids) <= set(granted), (len(per_worker[0]), len(per_worker[1]))
    starts = sorted(granted[order_id] for order_id in order_ids)
    # In any window at most rate x window + 1 starts: the k-th start after another is at least
    # k intervals later.
    for i, earlier in enumerate(starts):
        for j in range(i + 1, len(starts)):
            gap = ms(starts[j], earlier)
            assert gap >= (j - i) * interval_ms - RATE_TOLERANCE_MS, (i, j, gap)
    assert ms(starts[-1], starts[0]) >= (count - 1) * interval_ms * 0.95

    # Both processes took part, so the limit held globally.
    measured = [set(order_ids) & set(starts_of) for starts_of in per_worker]
    assert measured[0] and measured[1], [len(s) for s in measured]


# --- retries ------------------------------------------------------------------------------------


async def test_transient_failures_retry_with_backoff(engine_factory: EngineFactory) -> None:
    backoff_ms = 200
    # On the chain a dropped send is resent (every 2 s) until its blockhash expires (150 slots
    # of 40 ms): at 0.7 an attempt expires when its three sends are all dropped (34%), so some
    # of the 16 orders are retried and then confirmed, and few use up all five attempts.
    engine = await engine_factory(
        DEX_FAILURE_RATE="0.7",
        QUEUE_MAX_ATTEMPTS="5",
        QUEUE_BACKOFF_MS=str(backoff_ms),
        SIM_SEED="7",
        CHAIN_SEED="7",
    )
    order_ids = await submit_many(engine, [{} for _ in range(16)])
    streams = await finish_all(engine, order_ids)
    stored = await stored_events(engine)

    retried_and_confirmed = 0
    for order_id in order_ids:
        events = stored[order_id]
        assert_contiguous(order_id, events)
        runs = attempts_of(events)
        assert [run[0].attempt for run in runs] == list(range(1, len(runs) + 1)), order_id
        assert len(runs) <= 5, order_id
        for number, run in enumerate(runs, start=1):
            assert all(e.attempt == number for e in run), order_id
            routing = run[0]
            if number == 1:
                assert "previousError" not in routing.data, order_id
                continue
            previous = runs[number - 2]
            # The failed attempt reached submitted and ended there: the transaction expired.
            assert [e.status for e in previous] == ["routing", "building", "submitted"], order_id
            assert routing.data["previousError"]["code"] == "TX_EXPIRED", order_id
            assert routing.data["previousError"]["attempt"] == number - 1, order_id
            waited = ms(routing.at, previous[-1].at)
            designed = backoff_ms * 2 ** (number - 2)
            assert waited >= designed - TOLERANCE_MS, (order_id, number, waited, designed)
        final = runs[-1]
        if events[-1].status == "confirmed":
            assert [e.status for e in final] == ["routing", "building", "submitted", "confirmed"]
            retried_and_confirmed += len(runs) >= 2
        else:  # every one of the five attempts expired
            assert len(runs) == 5, order_id
            assert events[-1].data["error"]["code"] == "TX_EXPIRED", order_id
        # The stream showed exactly what was stored.
        assert [(e["seq"], e["status"]) for e in streams[order_id]] == [
            (e.seq, e.status) for e in events
        ]
    assert retried_and_confirmed >= 1


async def test_exhausted_attempts_fail_with_reason_stored(engine_factory: EngineFactory) -> None:
    engine = await engine_factory(
        DEX_FAILURE_RATE="1", QUEUE_MAX_ATTEMPTS="3", QUEUE_BACKOFF_MS="50"
    )
    (order_id,) = await submit_many(engine, [{}])
    stream = await wait_terminal(engine, order_id)

    last = stream[-1]
    assert last["status"] == "failed"
    assert last["attempt"] == 3
    assert last["data"]["error"]["code"] == "TX_EXPIRED"
    assert last["data"]["error"]["message"]
    assert [e["seq"] for e in stream] == list(range(1, len(stream) + 1))
    assert [(e["status"], e["attempt"]) for e in stream if e["status"] == "routing"] == [
        ("routing", 1),
        ("routing", 2),
        ("routing", 3),
    ]
    assert [e["status"] for e in stream] == ["pending"] + [
        "routing",
        "building",
        "submitted",
    ] * 3 + ["failed"]

    async with httpx.AsyncClient() as client:
        view = (await client.get(f"{engine.url}/api/orders/{order_id}")).json()
    assert view["status"] == "failed"
    assert view["attempt"] == 3
    assert "TX_EXPIRED" in view["failureReason"]
    assert view["events"] == stream

    row = (await order_rows(engine))[order_id]
    assert row["status"] == "failed"
    assert row["attempt"] == 3
    assert row["failure_code"] == "TX_EXPIRED"
    assert row["failure_reason"]
    assert row["amount_out"] is None


# --- exact amounts ------------------------------------------------------------------------------

PAIRS = [
    ("SOL", "USDC", "1.234567891"),
    ("USDC", "SOL", "250.5"),
    ("SOL", "BONK", "0.5"),
    ("USDC", "JUP", "12.345678"),
    ("BONK", "USDT", "123456.78901"),
    ("RAY", "USDC", "3.3"),
    ("JUP", "RAY", "0.123457"),
]

PLAIN_DECIMAL = re.compile(r"^(0|[1-9][0-9]*)(\.[0-9]*[1-9])?$")


def assert_amount(text: str, decimals: int, what: str) -> Decimal:
    """A plain decimal string (no exponent, no trailing zero) within the token's decimals."""
    assert isinstance(text, str), what
    assert PLAIN_DECIMAL.match(text), f"{what}: {text!r}"
    _, _, fraction = text.partition(".")
    assert len(fraction) <= decimals, f"{what}: {text!r} has more than {decimals} decimals"
    return Decimal(text)


async def test_amounts_are_exact_decimal_strings_matching_stored_base_units(
    engine_factory: EngineFactory,
) -> None:
    engine = await engine_factory()
    bodies = [{"tokenIn": a, "tokenOut": b, "amountIn": amount} for a, b, amount in PAIRS]
    order_ids = await submit_many(engine, bodies)
    streams = await finish_all(engine, order_ids)
    stored = await stored_events(engine)
    rows = await order_rows(engine)

    async with httpx.AsyncClient() as client:
        views = [
            (await client.get(f"{engine.url}/api/orders/{order_id}")).json()
            for order_id in order_ids
        ]
    for (symbol_in, symbol_out, amount), order_id, view in zip(
        PAIRS, order_ids, views, strict=True
    ):
        token_in, token_out = find_token(symbol_in), find_token(symbol_out)
        assert token_in is not None and token_out is not None
        events = stored[order_id]
        assert events[-1].status == "confirmed", (symbol_in, symbol_out, events[-1].data)
        assert streams[order_id][-1]["status"] == "confirmed"
        row = rows[order_id]

        amount_in = assert_amount(events[0].data["amountIn"], token_in.decimals, "amountIn")
        assert amount_in == Decimal(amount)
        assert assert_amount(view["amountIn"], token_in.decimals, "view amountIn") == amount_in
        assert row["amount_in"] == amount_in.scaleb(token_in.decimals)

        building = next(e for e in events if e.status == "building")
        floor = assert_amount(building.data["minAmountOut"], token_out.decimals, "minAmountOut")
        assert row["min_amount_out"] == floor.scaleb(token_out.decimals)
        assert view["minAmountOut"] == building.data["minAmountOut"]

        confirmed = events[-1].data
        amount_out = assert_amount(confirmed["amountOut"], token_out.decimals, "amountOut")
        assert row["amount_out"] == amount_out.scaleb(token_out.decimals)
        assert view["amountOut"] == confirmed["amountOut"]
        assert amount_out >= floor > 0
        assert isinstance(confirmed["executionTimeMs"], int)
        # The NUMERIC columns hold whole base units.
        for column in ("amount_in", "min_amount_out", "amount_out"):
            assert row[column] == row[column].to_integral_value(), column


async def test_small_executed_price_is_a_plain_decimal_string(
    engine_factory: EngineFactory,
) -> None:
    engine = await engine_factory()
    # One BONK is worth about 1.3e-7 SOL.
    (order_id,) = await submit_many(
        engine, [{"tokenIn": "BONK", "tokenOut": "SOL", "amountIn": "1000000"}]
    )
    stream = await wait_terminal(engine, order_id)
    assert stream[-1]["status"] == "confirmed"
    async with httpx.AsyncClient() as client:
        view = (await client.get(f"{engine.url}/api/orders/{order_id}")).json()
    number = re.compile(r"^[0-9]+(\.[0-9]+)?$")
    for price in (stream[-1]["data"]["executedPrice"], view["executedPrice"]):
        assert number.match(price), price


async def test_failures_before_routing_count_as_attempts(engine_factory: EngineFactory) -> None:
    """An attempt that fails before writing anything (here an injected error just before the
    routing write) still counts: the order fails after QUEUE_MAX_ATTEMPTS, not never."""
    engine = await engine_factory(
        FAULT_RAISE_AT="routing", QUEUE_MAX_ATTEMPTS="3", QUEUE_BACKOFF_MS="50"
    )
    order_ids = await submit_many(engine, [{}])
    streams = await finish_all(engine, order_ids)
    events = streams[order_ids[0]]
    assert [e["status"] for e in events] == ["pending", "failed"]
    failed = events[-1]
    assert failed["attempt"] == 3
    assert failed["data"]["error"]["code"] == "INTERNAL_ERROR"
    assert "after 3 attempts" in failed["data"]["error"]["message"]
