"""Order statuses, the transitions allowed between them, and the one write that makes a step.

Every step is a conditional UPDATE of the order and the INSERT of its event in one statement
(one round trip, one transaction); the event is published only after it has committed. Zero
rows back means another actor moved the order first, and the caller must stop.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec

from shared.db import pool
from shared.schemas import OrderEvent, OrderStatus

TERMINAL: frozenset[OrderStatus] = frozenset({"confirmed", "failed", "cancelled", "expired"})

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

_json = msgspec.json.Encoder(decimal_format="string")

_TRANSITION_SQL = """
WITH moved AS (
    UPDATE orders SET
        status = $2,
        attempt = GREATEST(attempt, COALESCE($4::int, attempt)),
        last_seq = last_seq + 1,
        updated_at = clock_timestamp(),
        venue = COALESCE($6, venue),
        min_amount_out = COALESCE($7, min_amount_out),
        tx_signature = COALESCE($8, tx_signature),
        amount_out = COALESCE($9, amount_out),
        failure_code = COALESCE($10, failure_code),
        failure_reason = COALESCE($11, failure_reason)
    WHERE id = $1 AND status = ANY($3::text[])
      -- Each attempt enters routing once; a runner of an older attempt can move nothing.
      AND (CASE WHEN $2 = 'routing' THEN attempt < $4::int
                ELSE attempt <= COALESCE($4::int, attempt) END)
    RETURNING id, last_seq, attempt, updated_at
)
INSERT INTO order_events (order_id, seq, status, attempt, data, created_at)
SELECT id, last_seq, $2, attempt, $5::jsonb, updated_at FROM moved
RETURNING seq, attempt, created_at
"""


def format_timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and a Z, as every event carries it."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class OrderFields(msgspec.Struct, kw_only=True):
    """Columns a step may set on the order besides its status (None leaves a column as is)."""

    venue: str | None = None
    min_amount_out: int | None = None
    tx_signature: str | None = None
    amount_out: int | None = None
    failure_code: str | None = None
    failure_reason: str | None = None


async def transition(
    order_id: uuid.UUID,
    to: OrderStatus,
    *,
    attempt: int | None,
    data: dict[str, Any] | None = None,
    fields: OrderFields | None = None,
) -> OrderEvent | None:
    """Move the order to `to` if its status and attempt allow it; return the stored event, or
    None when another actor (a newer attempt, a cancel) moved the order first. `attempt`
    None: whatever attempt the order is at (a cancel or an expiry)."""
    fields = fields or OrderFields()
    row = await pool().fetchrow(
        _TRANSITION_SQL,
        order_id,
        to,
        list(ALLOWED_FROM[to]),
        attempt,
        _json.encode(data or {}).decode(),
        fields.venue,
        fields.min_amount_out,
        fields.tx_signature,
        fields.amount_out,
        fields.failure_code,
        fields.failure_reason,
    )
    if row is None:
        return None
    return OrderEvent(
        order_id=str(order_id),
        seq=row["seq"],
        status=to,
        attempt=row["attempt"],
        timestamp=format_timestamp(row["created_at"]),
        data=data or {},
    )


# Several steps in a row, taken at once when nothing happens between them (routing, building
# and submitted are all decided before the transaction is sent): one statement moves the order
# to the last status and inserts one event per step, each with its own seq and timestamp.
_STEPS_SQL = """
WITH moved AS (
    UPDATE orders SET
        status = $2,
        attempt = GREATEST(attempt, $4::int),
        last_seq = last_seq + cardinality($5::text[]),
        updated_at = clock_timestamp(),
        venue = COALESCE($7, venue),
        min_amount_out = COALESCE($8, min_amount_out),
        tx_signature = COALESCE($9, tx_signature)
    WHERE id = $1 AND status = ANY($3::text[])
      AND (CASE WHEN ($5::text[])[1] = 'routing' THEN attempt < $4::int
                ELSE attempt <= $4::int END)
    RETURNING id, last_seq, attempt
)
INSERT INTO order_events (order_id, seq, status, attempt, data, created_at)
SELECT moved.id, moved.last_seq - cardinality($5::text[]) + step.ord, step.status,
       moved.attempt, step.data, clock_timestamp()
FROM moved, unnest($5::text[], $6::jsonb[]) WITH ORDINALITY AS step(status, data, ord)
RETURNING seq, status, attempt, created_at
"""


async def transition_steps(
    order_id: uuid.UUID,
    steps: list[tuple[OrderStatus, dict[str, Any]]],
    *,
    attempt: int,
    fields: OrderFields | None = None,
) -> list[OrderEvent]:
    """Take `steps` (status, data) in order, as one write: all of them or, when the first is
    not allowed (another actor moved the order), none — then the list is empty."""
    fields = fields or OrderFields()
    rows = await pool().fetch(
        _STEPS_SQL,
        order_id,
        steps[-1][0],
        list(ALLOWED_FROM[steps[0][0]]),
        attempt,
        [status for status, _ in steps],
        [_json.encode(data).decode() for _, data in steps],
        fields.venue,
        fields.min_amount_out,
        fields.tx_signature,
    )
    data_by_status = dict(steps)
    return [
        OrderEvent(
            order_id=str(order_id),
            seq=row["seq"],
            status=row["status"],
            attempt=row["attempt"],
            timestamp=format_timestamp(row["created_at"]),
            data=data_by_status[row["status"]],
        )
        for row in sorted(rows, key=lambda r: r["seq"])
    ]
