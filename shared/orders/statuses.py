"""Order statuses: which are terminal, which may precede which, and how an event's time is
written. TERMINAL is the engine's one list of terminal statuses: SQL takes it as TERMINAL_SQL,
the desk reads it from GET /api/statuses."""

from __future__ import annotations

from datetime import datetime
from typing import get_args

from shared.schemas import OrderStatus

STATUSES: tuple[OrderStatus, ...] = get_args(OrderStatus)
TERMINAL_ORDER: tuple[OrderStatus, ...] = ("confirmed", "failed", "cancelled", "expired")
TERMINAL: frozenset[OrderStatus] = frozenset(TERMINAL_ORDER)
# For SQL text, e.g. `status NOT IN {TERMINAL_SQL}`: the partial index of open orders is
# defined with this same list, and a query uses it only when its predicate matches.
TERMINAL_SQL = "(" + ", ".join(f"'{status}'" for status in TERMINAL_ORDER) + ")"

# The statuses an order may be in just before entering each status.
ALLOWED_FROM: dict[OrderStatus, tuple[OrderStatus, ...]] = {
    "waiting": ("pending",),
    # A retry restarts at routing from wherever the previous attempt stopped before settling.
    "routing": ("pending", "waiting", "routing", "building", "submitted"),
    "building": ("routing",),
    "submitted": ("building",),
    "confirmed": ("submitted",),
    "failed": ("pending", "waiting", "routing", "building", "submitted"),
    "cancelled": ("pending", "waiting"),
    "expired": ("pending", "waiting"),
}


def format_timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and a Z, as every event carries it."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
