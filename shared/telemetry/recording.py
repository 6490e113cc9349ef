"""What the engine counts, in this process's own Prometheus registry (no I/O on the hot path).

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
ws_disconnected). `shared.telemetry.reporting` adds it all up across processes.
"""

from __future__ import annotations

import contextvars
import functools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from shared.orders.statuses import TERMINAL, TERMINAL_ORDER

ORDER_TYPES = ("market", "limit", "sniper")
OUTCOMES = TERMINAL_ORDER
STAGES = ("queue_wait", "routing", "building", "confirming")

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
        chosen = getattr(event.data, "chosen", None)
        if chosen:
            route_chosen(str(chosen))
    elif status in TERMINAL:
        created = getattr(order, "created_at_epoch_s", None)
        order_finished(
            getattr(order, "order_type", None) or "unknown",  # None: a cancel or an expiry
            status,
            None if created is None else time.time() - created,
        )
