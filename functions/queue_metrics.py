"""GET /api/queue/metrics: the JSON summary of the queue and the orders."""

from __future__ import annotations

from litestar import get

from functions.deps import ApiState
from shared.metrics import queue_metrics
from shared.schemas import QueueMetrics


@get("/api/queue/metrics", summary="Queue depth, workers, limits, throughput and latency")
async def get_queue_metrics(state_: ApiState) -> QueueMetrics:
    return await queue_metrics(state_.queue, state_.settings)
