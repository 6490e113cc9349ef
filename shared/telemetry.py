"""Prometheus metrics of the whole engine, served by every API process at `GET /metrics`.

Design: every process (API or worker) counts in its own in-memory registry (prometheus_client,
no I/O on the hot path) and a background task adds what changed to Redis once a second, in one
pipeline: counters and histogram buckets with HINCRBYFLOAT into one hash per engine
(`{ns}:metrics:totals`, so totals survive restarts and are summed over every process), and the
process's gauges into `{ns}:metrics:processes` under its own id with a timestamp. A scrape of
any API process flushes its own figures, reads both hashes and the SAQ queue, and renders the
sum: one scrape sees every worker and every API process. Workers therefore need no HTTP port.
A process that dies loses at most its last second of figures; its gauges stop counting once
its entry is older than STALE_AFTER_S.

Stages of an order, as histograms (`order_engine_stage_seconds{stage=...}`):
  queue_wait  accepted (the order's created_at) -> its first attempt starts work (after the
              rate limiter, which is also measured on its own)
  routing     attempt starts -> `routing` committed (quotes, route choice, the write)
  building    `routing` committed -> `submitted` committed (building step, signing)
  confirming  `submitted` committed -> `confirmed` committed (the transaction landing)
and `order_engine_order_seconds{outcome}`: accepted -> terminal.

The hot path calls: order_accepted, attempt_started, rate_limit_waited, step_committed (which
derives stage durations, outcomes and the route chosen from the committed event), retry,
a batch observer (each group-commit batch), and the track_websocket decorator (or ws_connected /
ws_disconnected).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import os
import socket
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

import msgspec
import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from redis.asyncio import Redis
from redis.exceptions import RedisError

log = structlog.get_logger(__name__)

# Prometheus text format 0.0.4 (what generate_latest writes); the server adds the charset.
CONTENT_TYPE = "text/plain; version=0.0.4"
FLUSH_INTERVAL_S = 1.0
STALE_AFTER_S = 10.0  # a process silent this long no longer counts in the gauges
FORGET_AFTER_S = 300.0  # ... and its entry is removed

ORDER_TYPES = ("market", "limit", "sniper")
OUTCOMES = ("confirmed", "failed", "cancelled", "expired")
STAGES = ("queue_wait", "routing", "building", "confirming")
_TERMINAL = frozenset(OUTCOMES)

# From sub-millisecond steps (latencies 0) to the default 2-3 s landing and long queues.
SECONDS_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
)

REGISTRY = CollectorRegistry(auto_describe=False)

ORDERS_ACCEPTED = Counter(
    "order_engine_orders_accepted",
    "Orders accepted by the API (stored and enqueued)",
    ["order_type"],
    registry=REGISTRY,
)
ORDERS_FINISHED = Counter(
    "order_engine_orders_finished",
    "Orders that reached a terminal status, by outcome",
    ["order_type", "outcome"],
    registry=REGISTRY,
)
ORDER_SECONDS = Histogram(
    "order_engine_order_seconds",
    "Accepted -> terminal status, by outcome (submit-to-confirmed for outcome=confirmed)",
    ["outcome"],
    buckets=SECONDS_BUCKETS,
    registry=REGISTRY,
)
STAGE_SECONDS = Histogram(
    "order_engine_stage_seconds",
    "Duration of each stage of an order: queue_wait (accepted -> first attempt starts), "
    "routing (attempt start -> routing committed), building (routing -> submitted committed), "
    "confirming (submitted -> confirmed committed)",
    ["stage"],
    buckets=SECONDS_BUCKETS,
    registry=REGISTRY,
)
RATE_LIMIT_WAIT = Histogram(
    "order_engine_rate_limit_wait_seconds",
    "Wait imposed by the global rate limiter before an attempt starts",
    buckets=(0.0, *SECONDS_BUCKETS),
    registry=REGISTRY,
)
RETRIES = Counter(
    "order_engine_retries",
    "Attempts that failed transiently and were scheduled again, by error code",
    ["code"],
    registry=REGISTRY,
)
ROUTES = Counter(
    "order_engine_routes",
    "Routes chosen (venue, split 'a+b' or two hops 'a>b')",
    ["route"],
    registry=REGISTRY,
)
BATCH_SIZE = Histogram(
    "order_engine_batch_size",
    "Calls served per round trip by group commit (shared/batching.py), by what was batched: "
    "1 when idle, larger under load",
    ["batch"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
    registry=REGISTRY,
)
WEBSOCKETS = Gauge(
    "order_engine_websocket_connections",
    "Open order streams (WebSockets) over every API process",
    registry=REGISTRY,
)

for _type in ORDER_TYPES:
    ORDERS_ACCEPTED.labels(_type)
    for _outcome in OUTCOMES:
        ORDERS_FINISHED.labels(_type, _outcome)
for _outcome in OUTCOMES:
    ORDER_SECONDS.labels(_outcome)
_STAGE = {stage: STAGE_SECONDS.labels(stage) for stage in STAGES}


# --- Hot path --------------------------------------------------------------------------------


def order_accepted(order_type: str) -> None:
    ORDERS_ACCEPTED.labels(order_type).inc()


def order_finished(order_type: str, outcome: str, total_s: float | None = None) -> None:
    """An order reached `outcome` (confirmed, failed, cancelled, expired); `total_s` is the time
    since it was accepted, when known. Called by step_committed for the worker's steps; a
    terminal status written elsewhere (a cancel in the API, an expiry sweep) calls it itself."""
    ORDERS_FINISHED.labels(order_type, outcome).inc()
    if total_s is not None:
        ORDER_SECONDS.labels(outcome).observe(max(0.0, total_s))


def stage_finished(stage: str, seconds: float) -> None:
    child = _STAGE.get(stage) or STAGE_SECONDS.labels(stage)
    child.observe(max(0.0, seconds))


def rate_limit_waited(seconds: float) -> None:
    RATE_LIMIT_WAIT.observe(seconds)


def batch_observer(batch: str) -> Callable[[float], None]:
    """What a Batcher calls with the size of each batch it runs (its label, looked up once)."""
    return BATCH_SIZE.labels(batch).observe


def retry(code: str) -> None:
    RETRIES.labels(code).inc()


def route_chosen(label: str) -> None:
    ROUTES.labels(label).inc()


def ws_connected() -> None:
    WEBSOCKETS.inc()


def ws_disconnected() -> None:
    WEBSOCKETS.dec()


P = ParamSpec("P")
R = TypeVar("R")


def track_websocket(handler: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Decorate the coroutine that serves one WebSocket: counted open while it runs."""

    @functools.wraps(handler)
    async def tracked(*args: P.args, **kwargs: P.kwargs) -> R:
        WEBSOCKETS.inc()
        try:
            return await handler(*args, **kwargs)
        finally:
            WEBSOCKETS.dec()

    return tracked


@dataclass(slots=True)
class _Attempt:
    """Where the running attempt is; one per job task (a context variable, so nothing leaks)."""

    order_id: str
    attempt: int
    mark: float  # time.monotonic() of the last stage boundary
    last: str = ""  # status of the last step committed by this attempt


_attempt: contextvars.ContextVar[_Attempt | None] = contextvars.ContextVar(
    "order_engine_attempt", default=None
)

# The status whose commit ends a stage, and the status the attempt must have been in.
_STAGE_ENDED_BY = {
    "routing": ("routing", ""),
    "submitted": ("building", "building"),
    "confirmed": ("confirming", "submitted"),
}


def attempt_started(order: Any, attempt: int) -> None:
    """An attempt starts work on `order` (an OrderToExecute: id, created_at_epoch_s)."""
    if attempt == 1:
        stage_finished("queue_wait", time.time() - order.created_at_epoch_s)
    _attempt.set(_Attempt(str(order.id), attempt, time.monotonic()))


def step_committed(order: Any, event: Any) -> None:
    """A step of `order` (an OrderToExecute, or None for a step taken from outside an attempt:
    its order type is then `unknown`) committed as `event` (an OrderEvent): stage durations,
    the route chosen, and the outcome when the status is terminal."""
    status = event.status
    state = _attempt.get()
    if state is not None and state.order_id == event.order_id and state.attempt == event.attempt:
        ended = _STAGE_ENDED_BY.get(status)
        now = time.monotonic()
        if ended is not None and state.last == ended[1]:
            _STAGE[ended[0]].observe(now - state.mark)
        state.mark, state.last = now, status
    if status == "routing":
        chosen = event.data.get("chosen") if isinstance(event.data, dict) else None
        if chosen:
            route_chosen(str(chosen))
    elif status in _TERMINAL:
        created = getattr(order, "created_at_epoch_s", None)
        order_finished(
            getattr(order, "order_type", None) or "unknown",  # None: a cancel or an expiry
            status,
            None if created is None else time.time() - created,
        )


# --- Reporting to Redis ----------------------------------------------------------------------

_encode = msgspec.json.encode
_decode = msgspec.json.decode


def _key(name: str, labels: dict[str, str]) -> bytes:
    return _encode([name, dict(sorted(labels.items()))])


def _totals_key(namespace: str) -> str:
    return f"{namespace}:metrics:totals"


def _processes_key(namespace: str) -> str:
    return f"{namespace}:metrics:processes"


class Reporter:
    """Adds this process's counts to Redis every FLUSH_INTERVAL_S (and on demand)."""

    def __init__(self, redis: Redis, namespace: str, role: str) -> None:
        self.redis = redis
        self.namespace = namespace
        self.role = role
        self.process_id = f"{role}:{socket.gethostname()}:{os.getpid()}"
        self._sent: dict[bytes, float] = {}  # cumulative value last added to Redis, per series
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    def _changes(self) -> tuple[dict[bytes, float], dict[bytes, float], dict[bytes, float]]:
        """(deltas to add, the cumulative values they bring us to, gauge values)."""
        deltas: dict[bytes, float] = {}
        values: dict[bytes, float] = {}
        gauges: dict[bytes, float] = {}
        for family in REGISTRY.collect():
            for sample in family.samples:
                if sample.name.endswith("_created"):
                    continue
                key = _key(sample.name, sample.labels)
                if family.type == "gauge":
                    gauges[key] = sample.value
                    continue
                delta = sample.value - self._sent.get(key, 0.0)
                if delta:
                    deltas[key] = delta
                    values[key] = sample.value
        return deltas, values, gauges

    async def flush(self) -> None:
        async with self._lock:
            deltas, values, gauges = self._changes()
            pipe = self.redis.pipeline(transaction=False)
            totals = _totals_key(self.namespace)
            for key, delta in deltas.items():
                pipe.hincrbyfloat(totals, key, delta)
            entry = {"role": self.role, "at": time.time(), "gauges": _gauge_list(gauges)}
            pipe.hset(_processes_key(self.namespace), self.process_id, _encode(entry))
            await pipe.execute()
            self._sent.update(values)

    async def _run(self) -> None:
        failing = False
        while True:
            await asyncio.sleep(FLUSH_INTERVAL_S)
            try:
                await self.flush()
                failing = False
            except Exception as exc:  # Redis away: keep counting, send it all later
                if not failing:
                    log.warning("metrics flush failed; will retry", error=str(exc))
                failing = True

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="metrics-reporter")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        with contextlib.suppress(Exception):
            await self.flush()
            await self.redis.hdel(_processes_key(self.namespace), self.process_id)


def _gauge_list(gauges: dict[bytes, float]) -> list[tuple[str, float]]:
    return [(key.decode(), value) for key, value in gauges.items()]


_reporter: Reporter | None = None


async def start_reporting(redis: Redis, namespace: str, role: str) -> Reporter:
    """Start this process's reporter (once per process; in its event loop)."""
    global _reporter
    if _reporter is not None:
        await _reporter.stop()
    _reporter = Reporter(redis, namespace, role)
    _reporter.start()
    return _reporter


async def stop_reporting() -> None:
    """Send what is left and stop; this process's gauges stop counting at once."""
    global _reporter
    if _reporter is not None:
        reporter, _reporter = _reporter, None
        await reporter.stop()


# --- Rendering (GET /metrics) -----------------------------------------------------------------

_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum")}


class _Families:
    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families


def _sort_key(name: str, labels: dict[str, str]) -> tuple[Any, ...]:
    rest = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
    if name.endswith("_bucket"):
        return (rest, 0, float(labels.get("le", "inf")))
    return (rest, 1 if name.endswith("_count") else 2, 0.0)


async def render_metrics(redis: Redis, namespace: str, queue: Any | None = None) -> bytes:
    """The Prometheus text of the whole engine: Redis totals over every process, live gauges
    of the processes reporting, and the SAQ queue's depth now."""
    if _reporter is not None:
        with contextlib.suppress(Exception):
            await _reporter.flush()
    try:
        async with redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(_totals_key(namespace)).hgetall(_processes_key(namespace))
            raw_totals, raw_processes = await pipe.execute()
    except (RedisError, OSError):  # Redis away: this process's own figures, better than none
        return generate_latest(REGISTRY)
    totals: dict[tuple[str, bytes], float] = {}
    for raw_key, raw_value in raw_totals.items():
        name, labels = _decode(raw_key)
        totals[(name, _key(name, labels))] = float(raw_value)

    now = time.time()
    live_gauges: dict[bytes, float] = {}
    roles: dict[str, int] = {}
    forget = []
    for process_id, raw_entry in raw_processes.items():
        entry = _decode(raw_entry)
        age = now - float(entry.get("at", 0))
        if age > FORGET_AFTER_S:
            forget.append(process_id)
        if age > STALE_AFTER_S:
            continue
        roles[entry.get("role", "?")] = roles.get(entry.get("role", "?"), 0) + 1
        for key, value in entry.get("gauges", []):
            live_gauges[key.encode()] = live_gauges.get(key.encode(), 0.0) + float(value)
    if forget:
        with contextlib.suppress(Exception):
            await redis.hdel(_processes_key(namespace), *forget)

    families: list[Metric] = []
    for local in REGISTRY.collect():
        family = Metric(local.name, local.documentation, local.type, local.unit)
        samples: dict[bytes, tuple[str, dict[str, str]]] = {}
        for sample in local.samples:  # every series this process knows, at 0 if unseen
            if not sample.name.endswith("_created"):
                samples[_key(sample.name, sample.labels)] = (sample.name, dict(sample.labels))
        if local.type == "gauge":
            for key in live_gauges:
                name, labels = _decode(key)
                if name == local.name:
                    samples.setdefault(key, (name, labels))
            for key, (name, labels) in samples.items():
                family.add_sample(name, labels, live_gauges.get(key, 0.0))
        else:
            names = {local.name + suffix for suffix in _SUFFIXES.get(local.type, ("",))}
            for name, key in totals:
                if name in names and key not in samples:
                    samples[key] = (name, dict(_decode(key)[1]))
            for key, (name, labels) in sorted(
                samples.items(), key=lambda item: _sort_key(*item[1])
            ):
                family.add_sample(name, labels, totals.get((name, key), 0.0))
        families.append(family)

    reporting = GaugeMetricFamily(
        "order_engine_reporting_processes",
        "Engine processes whose figures this scrape includes, by role",
        labels=["role"],
    )
    for role in ("api", "worker"):
        reporting.add_metric([role], roles.get(role, 0))
    families.append(reporting)
    if queue is not None:
        families.extend(await _queue_families(queue))
    return generate_latest(_Families(families))  # type: ignore[arg-type]


async def _queue_families(queue: Any) -> list[Metric]:
    jobs = GaugeMetricFamily(
        "order_engine_queue_jobs", "Order jobs in the SAQ queue now, by state", labels=["state"]
    )
    workers = GaugeMetricFamily("order_engine_queue_workers", "Worker processes seen by SAQ")
    try:
        info = await queue.info()
    except Exception:  # the scrape still answers; the queue figures are missing
        return []
    for state in ("queued", "active", "scheduled"):
        jobs.add_metric([state], float(info.get(state, 0) or 0))
    workers.add_metric([], float(len(info.get("workers", {}) or {})))
    return [jobs, workers]
