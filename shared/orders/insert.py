"""Storing a new order: the order, its first event(s) and its Idempotency-Key in one statement,
shared by the orders submitted at the same moment."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_CEILING, Decimal
from typing import Any

import asyncpg
import msgspec

from shared.batching import in_rounds
from shared.db import pool
from shared.order_events import (
    OrderEvent,
    PendingData,
    PendingEvent,
    WaitingData,
    WaitingEvent,
)
from shared.orders.statuses import format_timestamp
from shared.orders.submission import NewOrder
from shared.tokens import EXACT_CONTEXT, Token

# A market order is stored `pending` with event 1. A limit or sniper order is stored
# `waiting` with events 1 (pending) and 2 (waiting): both steps in one statement, so no
# reader ever sees an order that is neither.
# With an Idempotency-Key ($13, $14), the key's row is inserted first, and the order only if
# that insert happened: two identical submits at the same instant create one order (the second
# waits on the key's unique index, then inserts nothing).
_INSERT_SQL = """
WITH new AS (
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[],
                         $6::numeric[], $7::int[], $8::numeric[], $9::int[], $10::float8[],
                         $11::jsonb[], $12::jsonb[], $13::text[], $14::text[], $15::text[])
        AS n(id, order_type, wallet_address, token_in, token_out, amount_in, slippage_bps,
             limit_price, max_price_impact_bps, expires_in_s, waiting, pending, key,
             request_hash, priority_fee)
), guard AS (
    INSERT INTO idempotency_keys (key, request_hash, order_id, created_at)
    SELECT key, request_hash, id, clock_timestamp() FROM new WHERE key IS NOT NULL
    ON CONFLICT (key) DO NOTHING
    RETURNING order_id
), created AS (
    INSERT INTO orders (id, order_type, status, wallet_address, token_in, token_out, amount_in,
                        slippage_bps, limit_price, max_price_impact_bps, expires_at,
                        priority_fee, attempt, last_seq, created_at, updated_at)
    SELECT id, order_type, CASE WHEN waiting IS NULL THEN 'pending' ELSE 'waiting' END,
           wallet_address, token_in, token_out, amount_in, slippage_bps, limit_price,
           max_price_impact_bps, clock_timestamp() + make_interval(secs => expires_in_s),
           priority_fee, 0, CASE WHEN waiting IS NULL THEN 1 ELSE 2 END, clock_timestamp(),
           clock_timestamp()
    FROM new WHERE key IS NULL OR id IN (SELECT order_id FROM guard)
    RETURNING id, created_at, expires_at
), events AS (
    INSERT INTO order_events (order_id, seq, status, attempt, data, created_at)
    SELECT id, 1, 'pending', 0, new.pending, created.created_at FROM created JOIN new USING (id)
    UNION ALL
    SELECT id, 2, 'waiting', 0, new.waiting, created.created_at FROM created JOIN new USING (id)
    WHERE new.waiting IS NOT NULL
)
SELECT id, created_at, expires_at FROM created
"""

_encode = msgspec.json.Encoder(decimal_format="string").encode


@dataclass(frozen=True, slots=True)
class CreatedOrder:
    order_id: str
    events: list[OrderEvent]
    created_at: datetime
    expires_at: datetime | None


def waiting_data(order: NewOrder) -> WaitingData:
    """What the `waiting` event says the order waits for."""
    if order.order_type == "limit":
        assert order.limit_price is not None and order.token_out is not None
        return WaitingData(
            waiting_for="price",
            limit_price=f"{order.limit_price.normalize():f}",
            min_amount_out=order.token_out.format(limit_floor(order)),
        )
    return WaitingData(
        waiting_for="launch", target=order.target, max_price_impact_bps=order.max_price_impact_bps
    )


def limit_floor(order: NewOrder) -> int:
    """amountIn x limitPrice in tokenOut base units, rounded up: the least a limit order takes."""
    assert order.limit_price is not None and order.token_out is not None
    return limit_floor_base_units(
        order.amount_in, order.token_in, order.token_out, order.limit_price
    )


def limit_floor_base_units(
    amount_in: int, token_in: Token, token_out: Token, price: Decimal
) -> int:
    exact = (Decimal(amount_in) * price).scaleb(
        token_out.decimals - token_in.decimals, EXACT_CONTEXT
    )
    return int(exact.to_integral_value(rounding=ROUND_CEILING))


@dataclass(frozen=True, slots=True)
class OrderInsert:
    order_id: uuid.UUID
    order: NewOrder
    idempotency: tuple[str, str] | None
    pending: PendingData
    waiting: WaitingData | None


def new_insert(order: NewOrder, idempotency: tuple[str, str] | None = None) -> OrderInsert:
    """What storing `order` writes: its id, and its first event(s). With `idempotency` (key,
    request hash) the order is stored only if the key is new."""
    pending = PendingData(
        order_type=order.order_type,
        token_in=order.token_in.symbol,
        token_out=order.token_out.symbol if order.token_out else order.target,
        amount_in=order.token_in.format(order.amount_in),
        slippage_bps=order.slippage_bps,
    )
    waiting = None if order.order_type == "market" else waiting_data(order)
    return OrderInsert(uuid.uuid4(), order, idempotency, pending, waiting)


def created_order(insert: OrderInsert, row: asyncpg.Record) -> CreatedOrder:
    order_id = str(insert.order_id)
    stamp = format_timestamp(row["created_at"])
    events: list[OrderEvent] = [PendingEvent(order_id, 1, 0, stamp, insert.pending)]
    if insert.waiting is not None:
        events.append(WaitingEvent(order_id, 2, 0, stamp, insert.waiting))
    return CreatedOrder(order_id, events, row["created_at"], row["expires_at"])


def _idempotency_key(insert: OrderInsert) -> str | None:
    return insert.idempotency[0] if insert.idempotency else None


async def insert_orders(inserts: list[OrderInsert]) -> list[asyncpg.Record | BaseException | None]:
    """The inserts, in one statement per round of distinct Idempotency-Keys (normally one),
    keys in one order: per insert its row, None (its key was used before), or the error that
    refused it (one bad order fails only its own submit)."""
    return await in_rounds(
        inserts,
        _insert_round,
        key=_idempotency_key,
        lock_order=lambda insert: _idempotency_key(insert) or "",
        isolate=(asyncpg.DataError,),
    )


async def _insert_round(inserts: list[OrderInsert]) -> dict[int, asyncpg.Record | None]:
    columns: list[list[Any]] = [[] for _ in range(15)]
    for insert in inserts:
        order = insert.order
        for column, value in zip(
            columns,
            (
                insert.order_id,
                order.order_type,
                order.wallet_address,
                order.token_in.mint,
                order.token_out_key,
                order.amount_in,
                order.slippage_bps,
                order.limit_price,
                order.max_price_impact_bps,
                None if order.expires_in_s is None else float(order.expires_in_s),
                None if insert.waiting is None else _encode(insert.waiting).decode(),
                _encode(insert.pending).decode(),
                *(insert.idempotency or (None, None)),
                order.priority_fee,
            ),
            strict=True,
        ):
            column.append(value)
    rows = {row["id"]: row for row in await pool().fetch(_INSERT_SQL, *columns)}
    return {index: rows.get(insert.order_id) for index, insert in enumerate(inserts)}


async def idempotent_answer(key: str) -> tuple[str, str] | None:
    """(request hash, order id) recorded for an Idempotency-Key, if it was used."""
    row = await pool().fetchrow(
        "SELECT request_hash, order_id FROM idempotency_keys WHERE key = $1", key
    )
    return None if row is None else (row["request_hash"], str(row["order_id"]))
