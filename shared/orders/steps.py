"""The one write that makes a step of an order.

Every step is a conditional UPDATE of the order and the INSERT of its event in one statement
(one round trip, one transaction), for one order or for a batch of orders; the event is
published only after it has committed. No event back means another actor moved the order
first, and the caller must stop."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import msgspec

from shared.batching import in_rounds
from shared.db import pool
from shared.order_events import EventData, OrderEvent, make_event
from shared.orders.statuses import ALLOWED_FROM, TERMINAL_SQL, format_timestamp
from shared.schemas import OrderStatus

_json = msgspec.json.Encoder(decimal_format="string")


class OrderFields(msgspec.Struct, kw_only=True):
    """Columns a step may set on the order besides its status (None leaves a column as is)."""

    venue: str | None = None
    min_amount_out: int | None = None
    tx_signature: str | None = None
    amount_out: int | None = None
    failure_code: str | None = None
    failure_reason: str | None = None
    tx_bytes: bytes | None = None  # the signed transaction, stored before it is sent
    tx_last_valid_block_height: int | None = None
    fee_lamports: int | None = None
    compute_units: int | None = None


@dataclass(frozen=True, slots=True)
class StepRequest:
    """Take `steps` (status, data) in a row on one order, all or none: none when the first is
    not allowed from the order's status or `attempt` (another actor moved the order first).
    `attempt` None: whatever attempt the order is at (a cancel or an expiry)."""

    order_id: uuid.UUID
    steps: list[tuple[OrderStatus, EventData]]
    attempt: int | None
    fields: OrderFields = field(default_factory=OrderFields)


# Every step is this one statement, for one order or for many at once (a worker's concurrent
# orders ride together: see Batcher). Per order: a conditional UPDATE to the last status,
# whose status and attempt guards make it a no-op when another actor got there first, and one
# event INSERT per step with consecutive seqs, in the same transaction.
_STEPS_SQL = f"""
WITH step_order AS (
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::int[], $6::int[],
                         $7::text[], $8::numeric[], $9::text[], $10::numeric[], $11::text[],
                         $12::text[], $13::bytea[], $14::bigint[], $15::bigint[], $16::int[])
        AS t(id, first_status, last_status, allowed, attempt, steps, venue, min_amount_out,
             tx_signature, amount_out, failure_code, failure_reason, tx_bytes,
             tx_last_valid_block_height, fee_lamports, compute_units)
),
moved AS (
    UPDATE orders o SET
        status = s.last_status,
        attempt = GREATEST(o.attempt, COALESCE(s.attempt, o.attempt)),
        last_seq = o.last_seq + s.steps,
        updated_at = clock_timestamp(),
        venue = COALESCE(s.venue, o.venue),
        min_amount_out = COALESCE(s.min_amount_out, o.min_amount_out),
        tx_signature = COALESCE(s.tx_signature, o.tx_signature),
        amount_out = COALESCE(s.amount_out, o.amount_out),
        failure_code = COALESCE(s.failure_code, o.failure_code),
        failure_reason = COALESCE(s.failure_reason, o.failure_reason),
        tx_bytes = COALESCE(s.tx_bytes, o.tx_bytes),
        tx_last_valid_block_height =
            COALESCE(s.tx_last_valid_block_height, o.tx_last_valid_block_height),
        fee_lamports = COALESCE(s.fee_lamports, o.fee_lamports),
        compute_units = COALESCE(s.compute_units, o.compute_units)
    FROM step_order s
    WHERE o.id = s.id AND o.status = ANY(string_to_array(s.allowed, ','))
      -- Each attempt enters routing once; a runner of an older attempt can move nothing.
      AND (CASE WHEN s.first_status = 'routing' THEN o.attempt < s.attempt
                ELSE o.attempt <= COALESCE(s.attempt, o.attempt) END)
    RETURNING o.id, o.last_seq, o.attempt, s.steps, o.status
),
finished AS (  -- totals per terminal status, kept as orders finish (see the counters migration)
    INSERT INTO order_totals AS t (status, shard, n)
    SELECT status, pg_backend_pid() % 64, count(*) FROM moved
    WHERE status IN {TERMINAL_SQL}
    GROUP BY status ORDER BY status
    ON CONFLICT (status, shard) DO UPDATE SET n = t.n + EXCLUDED.n
),
confirmed AS (
    INSERT INTO order_confirmations AS c (second, shard, n)
    SELECT floor(extract(epoch FROM clock_timestamp())), pg_backend_pid() % 64, count(*)
    FROM moved WHERE status = 'confirmed' HAVING count(*) > 0
    ON CONFLICT (second, shard) DO UPDATE SET n = c.n + EXCLUDED.n
)
INSERT INTO order_events (order_id, seq, status, attempt, data, created_at)
SELECT moved.id, moved.last_seq - moved.steps + step.ord, step.status, moved.attempt,
       step.data, clock_timestamp()
FROM moved JOIN unnest($17::uuid[], $18::int[], $19::text[], $20::jsonb[])
    AS step(order_id, ord, status, data) ON step.order_id = moved.id
RETURNING order_id, seq, status, attempt, created_at
"""


async def take_steps(requests: list[StepRequest]) -> list[list[OrderEvent] | BaseException]:
    """Take every request's steps; per request, its stored events in seq order ([] when the
    order had moved on), or the error that refused its row. One statement per round of
    distinct orders (normally one): the same order twice in one UPDATE would move once."""
    return await in_rounds(
        requests,
        _take_steps_once,
        key=lambda request: request.order_id,
        lock_order=lambda request: request.order_id,
        isolate=(asyncpg.DataError,),
    )


async def _take_steps_once(requests: list[StepRequest]) -> dict[int, list[OrderEvent]]:
    orders: list[list[Any]] = [[] for _ in range(16)]
    steps: list[list[Any]] = [[] for _ in range(4)]
    value: Any
    for request in requests:
        fields = request.fields
        for column, value in zip(
            orders,
            (
                request.order_id,
                request.steps[0][0],
                request.steps[-1][0],
                ",".join(ALLOWED_FROM[request.steps[0][0]]),
                request.attempt,
                len(request.steps),
                fields.venue,
                fields.min_amount_out,
                fields.tx_signature,
                fields.amount_out,
                fields.failure_code,
                fields.failure_reason,
                fields.tx_bytes,
                fields.tx_last_valid_block_height,
                fields.fee_lamports,
                fields.compute_units,
            ),
            strict=True,
        ):
            column.append(value)
        for ordinal, (status, data) in enumerate(request.steps, start=1):
            for column, value in zip(
                steps, (request.order_id, ordinal, status, _json.encode(data).decode()), strict=True
            ):
                column.append(value)
    rows = await pool().fetch(_STEPS_SQL, *orders, *steps)
    by_order: dict[uuid.UUID, list[Any]] = {}
    for row in rows:
        by_order.setdefault(row["order_id"], []).append(row)
    out: dict[int, list[OrderEvent]] = {}
    for index, request in enumerate(requests):
        data_by_ordinal = [data for _, data in request.steps]
        first_seq = 0
        events = []
        for row in sorted(by_order.get(request.order_id, ()), key=lambda r: r["seq"]):
            first_seq = first_seq or row["seq"]
            events.append(
                make_event(
                    row["status"],
                    str(request.order_id),
                    row["seq"],
                    row["attempt"],
                    format_timestamp(row["created_at"]),
                    data_by_ordinal[row["seq"] - first_seq],
                )
            )
        out[index] = events
    return out
