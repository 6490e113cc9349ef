"""GET /metrics: the whole engine in Prometheus text format (see shared/telemetry.py).

Every API process answers for every process of the engine: workers and API processes add their
counts to Redis once a second, and a scrape adds the SAQ queue's depth at that moment. Scrape
any one API process (behind a load balancer, any of them); workers have no port of their own.
"""

from __future__ import annotations

from litestar import Response, get

from shared.telemetry.reporting import CONTENT_TYPE, render_metrics
from shared.web.state import ApiState


@get(
    "/metrics",
    summary="Prometheus metrics of the whole engine (text format)",
    description="Orders accepted and finished, stage durations, queue depth, rate-limiter "
    "waits, retries, WebSocket connections and routes chosen, over every API and worker "
    "process.",
    media_type=CONTENT_TYPE,
)
async def prometheus_metrics(state_: ApiState) -> Response[bytes]:
    body = await render_metrics(state_.redis, state_.settings.redis_namespace, state_.queue)
    return Response(body, media_type=CONTENT_TYPE)
