"""GET /health: readiness of PostgreSQL and Redis; 503 naming the part that is down."""

from __future__ import annotations

import asyncio
from importlib.metadata import version

from litestar import Response, get
from litestar.openapi.datastructures import ResponseSpec

from shared.db import pool
from shared.schemas import HealthCheck
from shared.web.state import ApiState

CHECK_TIMEOUT_S = 2.0


async def _check(probe: object) -> str:
    try:
        await asyncio.wait_for(probe, CHECK_TIMEOUT_S)  # type: ignore[arg-type]
        return "ok"
    except Exception as exc:  # any failure means "not ready"; say which
        return f"down: {type(exc).__name__}: {exc}"[:200]


@get("/health", summary="Liveness and readiness", responses={503: ResponseSpec(HealthCheck)})
async def health(state_: ApiState) -> Response[HealthCheck]:
    postgres, redis = await asyncio.gather(
        _check(pool().fetchval("SELECT 1")), _check(state_.redis.ping())
    )
    ok = postgres == "ok" and redis == "ok"
    body = HealthCheck(
        status="ok" if ok else "down",
        postgres=postgres,
        redis=redis,
        version=version("order-engine"),
    )
    return Response(body, status_code=200 if ok else 503)
