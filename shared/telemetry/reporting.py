"""Prometheus metrics of the whole engine, served by every API process at `GET /metrics`.

Every process (API or worker) counts in its own registry (`shared.telemetry.recording`) and a
background task adds what changed to Redis once a second, in one pipeline: counters and
histogram buckets with HINCRBYFLOAT into one hash per engine (`{ns}:metrics:totals`, so totals
survive restarts and are summed over every process), and the process's gauges into
`{ns}:metrics:processes` under its own id with a timestamp. A scrape of any API process
flushes its own figures, reads both hashes and the SAQ queue, and renders the sum: one scrape
sees every worker and every API process. Workers therefore need no HTTP port. A process that
dies loses at most its last second of figures; its gauges stop counting once its entry is
older than STALE_AFTER_S.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import Awaitable, Iterable
from typing import Any, cast

import msgspec
import structlog
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared.telemetry.recording import REGISTRY

log = structlog.get_logger(__name__)

# Prometheus text format 0.0.4 (what generate_latest writes); the server adds the charset.
CONTENT_TYPE = "text/plain; version=0.0.4"
FLUSH_INTERVAL_S = 1.0
STALE_AFTER_S = 10.0  # a process silent this long no longer counts in the gauges
FORGET_AFTER_S = 300.0  # ... and its entry is removed

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
                pipe.hincrbyfloat(totals, key.decode(), delta)
            entry = {"role": self.role, "at": time.time(), "gauges": _gauge_list(gauges)}
            pipe.hset(_processes_key(self.namespace), self.process_id, _encode(entry).decode())
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
            await cast(
                Awaitable[int], self.redis.hdel(_processes_key(self.namespace), self.process_id)
            )


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
            pipe.hgetall(_totals_key(namespace))
            pipe.hgetall(_processes_key(namespace))
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
            await cast(Awaitable[int], redis.hdel(_processes_key(namespace), *forget))

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
    return generate_latest(_Families(families))


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
