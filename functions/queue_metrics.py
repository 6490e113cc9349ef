"""GET /api/queue/metrics: the JSON summary of the queue and the orders."""

from __future__ import annotations

from litestar import get

from shared.schemas import QueueMetrics
from shared.telemetry.summary import queue_metrics
from shared.web.state import ApiState


@get("/api/queue/metrics", summary="Queue depth, workers, limits, throughput and latency")
async def get_queue_metrics(state_: ApiState) -> QueueMetrics:
    return await queue_metrics(state_.queue, state_.settings)
