"""The fault suite: workers killed at every step, Redis and PostgreSQL stopped and restarted,
SIGTERM to the API and to a worker. Nothing accepted is lost, nothing settles twice.

These tests start and stop their OWN PostgreSQL and Redis (infra.local_stack, one pair for the
module, on free ports under a tmp dir): never the machine's. Each test gets its own database
(cloned from a migrated template) and Redis namespace on them.

Waiting: across a crash or an outage no stream can be trusted to deliver every step, so these
tests poll the orders' statuses in PostgreSQL (what GET /api/orders reads) with a deadline.
The few plain sleeps are the length of an outage or a pause between submits, never a wait for
something to have happened.

The figures (orders submitted, faults injected, orders lost, orders settled twice) are printed
at the end of the module (`pytest -s`) and written to test-artifacts/faults.json.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
import websockets
from redis.asyncio.client import PubSub

from infra.local_stack import LocalStack
from shared.config import load_settings
from shared.orders.statuses import TERMINAL
from tests.helpers.chain import check_engines_conserve
from tests.helpers.engine import (
    FAST,
    WALLET,
    Databases,
    Engine,
    follow,
    follow_reconnecting,
    with_database,
    ws_session,
)

pytestmark = [
    pytest.mark.faults,
    pytest.mark.skipif(sys.platform != "linux", reason="the embedded servers are Linux-only"),
]


ARTIFACT = Path(__file__).resolve().parents[2] / "test-artifacts" / "faults.json"

# Short timers, so that a dead worker's order is taken up within seconds and an order whose
# job Redis lost is swept after 5 s.
QUICK_RECOVERY = {
    "QUEUE_HEARTBEAT_S": "2",
    "QUEUE_SWEEP_INTERVAL_S": "1",
    "ORDER_STUCK_AFTER_S": "5",
}

FIGURES: dict[str, Any] = {
    "orders_submitted": 0,
    "faults_injected": 0,
    "orders_lost": 0,
    "orders_settled_twice": 0,
    "tests": {},
}


LEDGER: dict[str, int] = {}  # what the last audit saw in the chain's ledger


def _record(test: str, submitted: int, faults: int, lost: int, twice: int, **more: Any) -> None:
    FIGURES["orders_submitted"] += submitted
    FIGURES["faults_injected"] += faults
    FIGURES["orders_lost"] += lost
    FIGURES["orders_settled_twice"] += twice
    FIGURES["tests"][test] = {
        "orders_submitted": submitted,
        "faults_injected": faults,
        "orders_lost": lost,
        "orders_settled_twice": twice,
        **more,
        "ledger": dict(LEDGER),
    }
    LEDGER.clear()


# --- the servers and engines of this module ----------------------------------------------


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    """This module's own PostgreSQL and Redis; the figures are written when it ends. Not under
    pytest's tmp dir: another pytest run resets that dir to 0700, which would lock out the
    unprivileged user PostgreSQL runs as when we are root."""
    data_dir = Path(tempfile.mkdtemp(prefix="oe-fault-stack-"))
    own = LocalStack(data_dir / "data").start()
    try:
        yield own
    finally:
        own.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
        ARTIFACT.parent.mkdir(exist_ok=True)
        ARTIFACT.write_text(json.dumps(FIGURES, indent=2) + "\n")
        print(
            "\nfault suite: orders submitted {orders_submitted}, faults injected "
            "{faults_injected}, orders lost {orders_lost}, orders settled twice "
            "{orders_settled_twice}".format(**FIGURES)
        )
        for name, figures in FIGURES["tests"].items():
            print(f"  {name}: {json.dumps(figures)}")


@pytest.fixture(scope="module")
async def template(stack: LocalStack) -> str:
    from infra.migrate import migrate

    name = "faults_template"
    admin = await asyncpg.connect(stack.database_url)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name}")
        await admin.execute(f"CREATE DATABASE {name}")
    finally:
        await admin.close()
    await migrate(with_database(stack.database_url, name), quiet=True)
    return name


EngineFactory = Callable[..., Awaitable[Engine]]


@pytest.fixture
async def fault_engine(
    stack: LocalStack, template: str, tmp_path: Path
) -> AsyncIterator[EngineFactory]:
    """`await start(apis=1, workers=1, **env)`: engine processes on this module's servers,
    with a fresh database and namespace. At the end both servers are running again, and each
    engine's chain is checked for conservation before it stops."""
    engines: list[Engine] = []
    databases = Databases(stack.database_url, template)  # go with the module's servers

    async def start(*, apis: int = 1, workers: int = 1, **env: str) -> Engine:
        settings = load_settings(
            {
                **FAST,
                "DATABASE_URL": await databases.fresh(),
                "REDIS_URL": stack.redis_url,
                "REDIS_NAMESPACE": f"faults_{uuid.uuid4().hex[:10]}",
                **env,
            }
        )
        engine = Engine(settings, env, tmp_path / f"engine{len(engines)}")
        engines.append(engine)
        await engine.start(apis=apis, workers=workers)
        return engine

    try:
        yield start
    finally:
        for proc in (stack.postgres, stack.redis):
            assert proc is not None
        if stack.postgres is not None and stack.postgres.poll() is not None:
            await asyncio.to_thread(stack.start_postgres)
        if stack.redis is not None and stack.redis.poll() is not None:
            await asyncio.to_thread(stack.start_redis)
        try:
            await check_engines_conserve(engines)
        finally:
            await asyncio.gather(*(engine.stop() for engine in engines))


# --- helpers ------------------------------------------------------------------------------


async def submit_many(engine: Engine, client: httpx.AsyncClient, count: int) -> list[str]:
    responses = await asyncio.gather(*(engine.submit(client) for _ in range(count)))
    for response in responses:
        assert response.status_code == 202, response.text
    return [str(r.json()["orderId"]) for r in responses]


async def statuses(engine: Engine, order_ids: list[str]) -> dict[str, str]:
    conn = await asyncpg.connect(engine.settings.database_url)
    try:
        rows = await conn.fetch(
            "SELECT id::text, status FROM orders WHERE id = ANY($1::uuid[])", order_ids
        )
    finally:
        await conn.close()
    return {row["id"]: row["status"] for row in rows}


async def wait_all_terminal(
    engine: Engine, order_ids: list[str], timeout_s: float
) -> dict[str, str]:
    """Poll PostgreSQL (no stream survives every fault) until every order is terminal or the
    deadline passes; return the statuses as they are then."""
    deadline = time.monotonic() + timeout_s
    while True:
        now = await statuses(engine, order_ids)
        if all(now.get(o) in TERMINAL for o in order_ids) or time.monotonic() > deadline:
            return now
        await asyncio.sleep(0.25)


@contextlib.asynccontextmanager
async def published_events(engine: Engine) -> AsyncIterator[PubSub]:
    """The engine's live events, as its API processes receive them."""
    client = aioredis.from_url(engine.settings.redis_url)
    pubsub = client.pubsub()
    try:
        await pubsub.psubscribe(f"{engine.settings.redis_namespace}:order:*")
        yield pubsub
    finally:
        await pubsub.aclose()
        await client.aclose()


async def seen(events: PubSub, status: str, count: int, timeout_s: float) -> None:
    """Return once `count` events of `status` have been published."""
    async with asyncio.timeout(timeout_s):
        async for message in events.listen():
            if message["type"] == "pmessage" and json.loads(message["data"])["status"] == status:
                count -= 1
                if not count:
                    return


async def audit(
    engine: Engine, client: httpx.AsyncClient, order_ids: list[str], final: dict[str, str]
) -> tuple[int, int]:
    """Check the chain's ledger (GET /api/chain/transactions) against every order: a confirmed
    order has exactly one settlement, its own signature and amount; a failed one none.
    Returns (orders lost, orders settled twice); the assertions follow in the test. Also
    counts, into `LEDGER`, transactions declared dead and orders confirmed by reconciling an
    earlier attempt's settled transaction (no new routing)."""
    lost = sum(1 for o in order_ids if final.get(o) not in TERMINAL)
    twice = 0
    problems: list[str] = []
    LEDGER.update(dead=0, slippage=0, settled=0, confirmed_by_reconcile=0)
    for order_id in order_ids:
        ledger = await client.get(
            f"{engine.url}/api/chain/transactions", params={"orderId": order_id}
        )
        assert ledger.status_code == 200, ledger.text
        assert ledger.json()["orderId"] == order_id
        settled = [t for t in ledger.json()["transactions"] if t["status"] == "settled"]
        signatures = [t["signature"] for t in ledger.json()["transactions"]]
        assert len(signatures) == len(set(signatures)), f"{order_id}: a signature twice"
        if len(settled) > 1:
            twice += 1
        for transaction in ledger.json()["transactions"]:
            LEDGER[transaction["status"]] += 1
        order = (await client.get(f"{engine.url}/api/orders/{order_id}")).json()
        routed = [e["attempt"] for e in order["events"] if e["status"] == "routing"]
        if order["status"] == "confirmed" and routed and order["attempt"] > max(routed):
            LEDGER["confirmed_by_reconcile"] += 1
        if order["status"] == "confirmed":
            if len(settled) != 1:
                problems.append(f"{order_id} confirmed with {len(settled)} settlements")
            elif settled[0]["signature"] != order["txSignature"]:
                problems.append(f"{order_id} confirmed with another signature than settled")
        elif settled:
            problems.append(f"{order_id} is {order['status']} but settled {len(settled)} times")
    assert not problems, problems
    return lost, twice


def alive(proc: subprocess.Popen[bytes]) -> bool:
    return proc.poll() is None


async def exit_code(proc: subprocess.Popen[bytes], timeout_s: float) -> int | None:
    try:
        return await asyncio.to_thread(proc.wait, timeout_s)
    except subprocess.TimeoutExpired:
        return None


# --- 1. workers killed at every step, under load -----------------------------------------


async def test_workers_killed_at_every_step_settle_each_order_once(
    fault_engine: EngineFactory,
) -> None:
    engine = await fault_engine(
        workers=0,
        DEX_EXECUTION_LATENCY_MS="300-800",
        QUEUE_CONCURRENCY="8",
        QUEUE_MAX_ATTEMPTS="4",
        **QUICK_RECOVERY,
    )
    order_ids: list[str] = []
    faults: dict[str, int] = {}
    async with httpx.AsyncClient(timeout=10) as client:
        # One round per step: a wave of orders, and a worker that SIGKILLs itself the first
        # time one of them passes the step (shared/faults.py), with the rest of its orders in
        # flight. The next round's worker (and its SAQ sweep) takes up what the last one left.
        for point in ("routing", "building", "submitted", "landed"):
            order_ids += await submit_many(engine, client, 10)
            victim = await engine.add_worker(FAULT_SIGKILL_AT=point)
            code = await exit_code(victim, 30)
            assert code == -signal.SIGKILL, f"the worker did not die at {point}: {code}"
            faults[point] = 1
        # Then SIGKILL from outside, with transactions in flight; two workers finish.
        killed = await engine.add_worker()
        async with published_events(engine) as events:
            order_ids += await submit_many(engine, client, 12)
            await seen(events, "submitted", 3, timeout_s=30)
        killed.send_signal(signal.SIGKILL)
        faults["external"] = 1
        survivor = await engine.add_worker()
        await engine.add_worker()

        final = await wait_all_terminal(engine, order_ids, 90)
        lost, twice = await audit(engine, client, order_ids, final)
        confirmed = sum(1 for s in final.values() if s == "confirmed")
        _record(
            "sigkill_at_every_step",
            len(order_ids),
            sum(faults.values()),
            lost,
            twice,
            faults_by_step=faults,
            confirmed=confirmed,
            failed=sum(1 for s in final.values() if s == "failed"),
        )
        assert lost == 0, {o: s for o, s in final.items() if s not in TERMINAL}
        assert twice == 0
        assert confirmed >= len(order_ids) // 2, final
        # The `landed` kill left an order settled on the chain but `submitted` in PostgreSQL:
        # its retry found the signature settled and confirmed it without routing again. The
        # `submitted` kill left a signature never sent: its retry declared it dead first.
        ledger = FIGURES["tests"]["sigkill_at_every_step"]["ledger"]
        assert ledger["confirmed_by_reconcile"] >= 1 and ledger["dead"] >= 1, ledger
        assert alive(survivor) and alive(engine.apis[0][0])


# --- Streams that lose their live feed ------------------------------------------------------


@pytest.mark.parametrize("how", ["stopped", "frozen"])
async def test_a_stream_that_loses_its_live_feed_closes_1013_at_once(
    stack: LocalStack, fault_engine: EngineFactory, how: str
) -> None:
    """Redis stopped (its connections close) or frozen (SIGSTOP: they stay open, silent) while
    a client follows an unfinished order: the stream closes 1013 within about two seconds of
    the subscription being lost, and a reconnect with afterSeq repeats nothing."""
    engine = await fault_engine(**QUICK_RECOVERY)
    assert stack.redis is not None
    async with httpx.AsyncClient(timeout=10) as client:
        submitted = await engine.submit(client, orderType="limit", limitPrice="100000")
        assert submitted.status_code == 202, submitted.text
        order_id = submitted.json()["orderId"]
        url = f"{engine.ws_url()}/api/orders/ws?orderId={order_id}"
        async with websockets.connect(url) as socket:
            first = [json.loads(await socket.recv()) for _ in range(2)]
            assert [e["status"] for e in first] == ["pending", "waiting"], first
            lost_at = time.monotonic()
            if how == "stopped":
                await asyncio.to_thread(stack.stop_redis)
            else:
                stack.redis.send_signal(signal.SIGSTOP)
            try:
                with pytest.raises(websockets.ConnectionClosed):
                    async with asyncio.timeout(15):
                        await socket.recv()
                closed_after_s = time.monotonic() - lost_at
            finally:
                if how == "frozen":
                    stack.redis.send_signal(signal.SIGCONT)
            assert socket.close_code == 1013, (socket.close_code, socket.close_reason)
            assert "afterSeq" in (socket.close_reason or "")
        # Stopped: the connection closes, noticed at once. Frozen: the heartbeat gives up after
        # two silent seconds (plus up to one heartbeat interval).
        assert closed_after_s < (1.5 if how == "stopped" else 4.0), closed_after_s
        if how == "stopped":
            await asyncio.to_thread(stack.start_redis)
        cancel = await client.delete(
            f"{engine.url}/api/orders/{order_id}", headers={"X-Wallet-Address": WALLET}
        )
        assert cancel.status_code == 200, cancel.text
        rest, code = await follow_reconnecting(engine.ws_url(), order_id, after_seq=2)
        assert code == 1000, (code, rest)
        assert [(e["seq"], e["status"]) for e in rest] == [(3, "cancelled")], rest


# --- 2. Redis stopped and restarted during submissions -----------------------------------


async def test_redis_outage_during_submissions(
    stack: LocalStack, fault_engine: EngineFactory
) -> None:
    # The per-client submit limit is on (it lives in Redis): it must fail open, not refuse.
    engine = await fault_engine(
        DEX_EXECUTION_LATENCY_MS="100", SUBMIT_RATE_LIMIT_PER_MINUTE="60000", **QUICK_RECOVERY
    )
    api, worker = engine.apis[0][0], engine.workers[0]
    order_ids: list[str] = []
    async with httpx.AsyncClient(timeout=10) as client:
        order_ids += await submit_many(engine, client, 6)
        await asyncio.to_thread(stack.stop_redis)  # SIGTERM: its AOF is written
        during: list[str] = []
        slowest = 0.0
        for _ in range(8):  # the order is stored in PostgreSQL: accepted all the same
            started = time.monotonic()
            response = await engine.submit(client)
            slowest = max(slowest, time.monotonic() - started)
            assert response.status_code == 202, response.text
            during.append(response.json()["orderId"])
            await asyncio.sleep(0.1)
        started = time.monotonic()
        health = await client.get(f"{engine.url}/health")
        health_s = time.monotonic() - started
        assert health.status_code == 503
        assert health.json()["redis"].startswith("down") and health.json()["postgres"] == "ok"
        assert health_s < 2.5
        # A stream opened now sends the history from PostgreSQL, then says it cannot go on
        # live (1013); the client reconnects with afterSeq once Redis is back.
        history, code = await follow(engine.ws_url(), during[0], timeout_s=10)
        assert code == 1013, (code, history)
        assert [e["seq"] for e in history] == list(range(1, len(history) + 1)), history
        assert alive(api) and alive(worker)
        await asyncio.to_thread(stack.start_redis)
        stream = asyncio.create_task(
            follow_reconnecting(engine.ws_url(), during[0], after_seq=len(history), timeout_s=60)
        )
        order_ids += during
        # A limit order that any price reaches: the watcher's loops are alive again if the
        # price moves of the market orders after it fire it.
        limit = await engine.submit(client, orderType="limit", limitPrice="1")
        assert limit.status_code == 202, limit.text
        order_ids.append(limit.json()["orderId"])
        order_ids += await submit_many(engine, client, 4)

        final = await wait_all_terminal(engine, order_ids, 60)
        events, code = await stream
        events = history + events
        assert code == 1000 and events[-1]["status"] == final[during[0]], events
        assert [e["seq"] for e in events] == list(range(1, len(events) + 1)), events
        assert final[limit.json()["orderId"]] == "confirmed", final
        lost, twice = await audit(engine, client, order_ids, final)
        _record(
            "redis_outage",
            len(order_ids),
            1,
            lost,
            twice,
            accepted_while_down=len(during),
            slowest_submit_while_down_s=round(slowest, 3),
            confirmed=sum(1 for s in final.values() if s == "confirmed"),
        )
        assert lost == 0, {o: s for o, s in final.items() if s not in TERMINAL}
        assert twice == 0
        assert all(final[o] == "confirmed" for o in during), final
        assert (await client.get(f"{engine.url}/health")).status_code == 200
        assert alive(api) and alive(worker)


# --- 3. PostgreSQL stopped and restarted --------------------------------------------------


async def test_postgres_outage(stack: LocalStack, fault_engine: EngineFactory) -> None:
    engine = await fault_engine(DEX_EXECUTION_LATENCY_MS="300", **QUICK_RECOVERY)
    api, worker = engine.apis[0][0], engine.workers[0]
    async with httpx.AsyncClient(timeout=10) as client:
        before = await submit_many(engine, client, 6)  # in flight when PostgreSQL stops
        await asyncio.to_thread(stack.stop_postgres)
        refused = 0
        for _ in range(3):
            started = time.monotonic()
            response = await engine.submit(client)
            assert time.monotonic() - started < 2.5
            assert response.status_code == 503, response.text
            assert response.headers["retry-after"] == "5"
            assert response.json()["error"] == "UNAVAILABLE"
            assert "PostgreSQL" in response.json()["message"]
            refused += 1
        started = time.monotonic()
        health = await client.get(f"{engine.url}/health")
        assert time.monotonic() - started < 2.5
        assert health.status_code == 503
        assert health.json()["postgres"].startswith("down") and health.json()["redis"] == "ok"
        # A stream that cannot read the order's history is closed "try again later".
        _, code, reason = await ws_session(
            f"{engine.ws_url()}/api/orders/ws?orderId={before[0]}", timeout_s=5
        )
        assert code == 1013 and "PostgreSQL" in reason, (code, reason)
        await asyncio.sleep(1.0)  # the outage lasts a little longer
        assert alive(api) and alive(worker)
        await asyncio.to_thread(stack.start_postgres)

        # The pools reconnect by themselves: the first submit after the restart is accepted.
        after = await submit_many(engine, client, 4)
        final = await wait_all_terminal(engine, before + after, 60)
        lost, twice = await audit(engine, client, before + after, final)
        _record(
            "postgres_outage",
            len(before) + len(after) + refused,
            1,
            lost,
            twice,
            refused_with_503=refused,
            confirmed=sum(1 for s in final.values() if s == "confirmed"),
        )
        assert lost == 0, {o: s for o, s in final.items() if s not in TERMINAL}
        assert twice == 0
        assert all(final[o] == "confirmed" for o in after), final
        assert (await client.get(f"{engine.url}/health")).status_code == 200
        assert alive(api) and alive(worker)


# --- 4. graceful shutdown -----------------------------------------------------------------


async def test_api_sigterm_closes_websockets_with_1001(fault_engine: EngineFactory) -> None:
    engine = await fault_engine(DEX_EXECUTION_LATENCY_MS="3000")
    api = engine.apis[0][0]
    async with httpx.AsyncClient(timeout=10) as client:
        order_id = (await submit_many(engine, client, 1))[0]
    url = f"{engine.ws_url()}/api/orders/ws?orderId={order_id}"
    async with asyncio.timeout(15), websockets.connect(url) as socket:
        first = json.loads(await socket.recv())
        assert first["status"] == "pending"
        api.send_signal(signal.SIGTERM)
        with pytest.raises(websockets.ConnectionClosed):
            while True:  # the events before the close, then the close
                await socket.recv()
        assert socket.close_code == 1001, (socket.close_code, socket.close_reason)
    assert await exit_code(api, 10) is not None, "the API did not exit"
    _record("api_sigterm", 1, 1, 0, 0, close_code=1001)


async def test_worker_sigterm_finishes_in_flight_order_and_takes_no_new_one(
    fault_engine: EngineFactory,
) -> None:
    engine = await fault_engine(DEX_EXECUTION_LATENCY_MS="1500", QUEUE_SHUTDOWN_GRACE_S="10")
    worker = engine.workers[0]
    async with httpx.AsyncClient(timeout=10) as client:
        in_flight = (await submit_many(engine, client, 1))[0]
        url = f"{engine.ws_url()}/api/orders/ws?orderId={in_flight}"
        events: list[dict[str, Any]] = []
        async with asyncio.timeout(30), websockets.connect(url) as socket:
            async for message in socket:
                events.append(json.loads(message))
                if events[-1]["status"] == "submitted":
                    worker.send_signal(signal.SIGTERM)  # the transaction is in flight
                    late = (await submit_many(engine, client, 1))[0]
            assert socket.close_code == 1000
        assert events[-1]["status"] == "confirmed", events
        assert events[-1]["attempt"] == 1  # finished by the same worker, not retried
        assert await exit_code(worker, 12) == 0, "the worker did not exit cleanly"
        assert (await statuses(engine, [late]))[late] == "pending"  # the draining worker left it
        await engine.add_worker()
        final = await wait_all_terminal(engine, [in_flight, late], 30)
        assert final[late] == "confirmed"
        lost, twice = await audit(engine, client, [in_flight, late], final)
    _record("worker_sigterm", 2, 1, lost, twice)
