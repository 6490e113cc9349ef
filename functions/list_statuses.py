"""GET /api/statuses: the order statuses, and which of them are terminal (the desk reads them
here rather than keep its own copy)."""

from __future__ import annotations

from litestar import get

from shared.orders.statuses import STATUSES, TERMINAL_ORDER
from shared.schemas import StatusList


@get("/api/statuses", summary="The order statuses, in lifecycle order, and the terminal ones")
async def list_statuses() -> StatusList:
    return StatusList(statuses=list(STATUSES), terminal=list(TERMINAL_ORDER))
