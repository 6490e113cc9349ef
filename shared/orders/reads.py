"""Reading orders back: an order's events for a replay, the order view, a wallet's history."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING

import asyncpg
import base58
import msgspec

from shared.db import pool
from shared.order_events import decode_event
from shared.orders.statuses import format_timestamp
from shared.schemas import (
    OrderHistoryPage,
    OrderStatus,
    OrderView,
)
from shared.tokens import find_token, format_price

if TYPE_CHECKING:  # records.py reads through this module
    from shared.orders.records import OrderRecords


class ReplayedEvent(msgspec.Struct, rename="camel"):
    """An event as read back for a replay: `data` stays the raw JSON PostgreSQL returned, so
    that a stream sends it without decoding it."""

    order_id: str
    seq: int
    status: str
    attempt: int
    timestamp: str
    data: msgspec.Raw


_EVENTS_SQL = """
SELECT wanted.ord, e.seq, e.status, e.attempt, e.data::text AS data, e.created_at
FROM unnest($1::uuid[], $2::int[]) WITH ORDINALITY AS wanted(order_id, after_seq, ord)
JOIN order_events e ON e.order_id = wanted.order_id AND e.seq > wanted.after_seq
ORDER BY wanted.ord, e.seq
"""


_encode_replayed = msgspec.json.encode


async def load_events(wanted: list[tuple[uuid.UUID, int]]) -> list[list[ReplayedEvent]]:
    order_ids, after = zip(*wanted, strict=True)
    rows = await pool().fetch(_EVENTS_SQL, list(order_ids), list(after))
    found: list[list[ReplayedEvent]] = [[] for _ in wanted]
    for row in rows:
        index = row["ord"] - 1
        found[index].append(
            ReplayedEvent(
                order_id=str(order_ids[index]),
                seq=row["seq"],
                status=row["status"],
                attempt=row["attempt"],
                timestamp=format_timestamp(row["created_at"]),
                data=msgspec.Raw(row["data"].encode()),
            )
        )
    return found


async def order_progress(order_id: uuid.UUID) -> tuple[str, int] | None:
    """(status, seq of the newest event), or None for an unknown order."""
    row = await pool().fetchrow("SELECT status, last_seq FROM orders WHERE id = $1", order_id)
    return None if row is None else (row["status"], row["last_seq"])


_ORDER_COLUMNS = """id, order_type, status, token_in, token_out, amount_in, slippage_bps,
    wallet_address, attempt, created_at, updated_at, amount_out, min_amount_out, venue,
    tx_signature, failure_code, failure_reason, limit_price, max_price_impact_bps, expires_at"""


def _order_view(row: asyncpg.Record) -> OrderView:
    get = row.__getitem__
    token_in = find_token(get("token_in"))
    token_out = find_token(get("token_out"))  # None: a sniper's token, not launched yet
    assert token_in is not None
    amount_in, amount_out = int(get("amount_in")), get("amount_out")
    min_out = get("min_amount_out")
    executed_price = None
    if amount_out is not None and amount_in and token_out is not None:
        executed_price = format_price(token_in, token_out, amount_in, int(amount_out))
    reason = get("failure_reason")
    limit_price, expires_at = get("limit_price"), get("expires_at")
    return OrderView(
        order_id=str(get("id")),
        order_type=get("order_type"),
        status=get("status"),
        token_in=token_in.symbol,
        token_out=token_out.symbol if token_out else get("token_out"),
        amount_in=token_in.format(amount_in),
        slippage_bps=get("slippage_bps"),
        wallet_address=get("wallet_address"),
        attempt=get("attempt"),
        created_at=format_timestamp(get("created_at")),
        updated_at=format_timestamp(get("updated_at")),
        amount_out=None
        if amount_out is None or not token_out
        else token_out.format(int(amount_out)),
        min_amount_out=None if min_out is None or not token_out else token_out.format(int(min_out)),
        executed_price=executed_price,
        venue=get("venue"),
        tx_signature=get("tx_signature"),
        failure_reason=None if reason is None else f"{get('failure_code')}: {reason}",
        limit_price=None if limit_price is None else f"{limit_price.normalize():f}",
        max_price_impact_bps=get("max_price_impact_bps"),
        expires_at=None if expires_at is None else format_timestamp(expires_at),
    )


async def get_order(
    records: OrderRecords, order_id: uuid.UUID
) -> tuple[OrderView, list[ReplayedEvent]] | None:
    row = await pool().fetchrow(f"SELECT {_ORDER_COLUMNS} FROM orders WHERE id = $1", order_id)
    if row is None:
        return None
    return _order_view(row), await records.events_after(order_id)


def encode_cursor(created_at: datetime, order_id: uuid.UUID) -> str:
    raw = f"{created_at.isoformat()}|{order_id}".encode()
    return base58.b58encode(raw).decode()


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """Raise ValueError on anything that is not a cursor this engine made."""
    try:
        created, _, order_id = base58.b58decode(cursor).decode().partition("|")
        return datetime.fromisoformat(created), uuid.UUID(order_id)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError("malformed cursor") from exc


async def order_history(
    wallet: str, *, limit: int, cursor: str | None, status: OrderStatus | None
) -> OrderHistoryPage:
    """Newest first, keyset-paginated on (created_at, id) so pages never skip or repeat."""
    conditions = ["wallet_address = $1"]
    args: list[object] = [wallet]
    if status is not None:
        args.append(status)
        conditions.append(f"status = ${len(args)}")
    if cursor is not None:
        created_at, order_id = decode_cursor(cursor)
        args.extend([created_at, order_id])
        conditions.append(f"(created_at, id) < (${len(args) - 1}, ${len(args)})")
    args.append(limit + 1)
    rows = await pool().fetch(
        f"SELECT {_ORDER_COLUMNS} FROM orders WHERE {' AND '.join(conditions)}"
        f" ORDER BY created_at DESC, id DESC LIMIT ${len(args)}",
        *args,
    )
    page = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        last = page[-1]
        next_cursor = encode_cursor(last["created_at"], last["id"])
    return OrderHistoryPage(orders=[_order_view(r) for r in page], next_cursor=next_cursor)


async def order_with_timeline(records: OrderRecords, order_id: uuid.UUID) -> OrderView | None:
    """The order view with its whole timeline under `events`; None for an unknown order."""
    found = await get_order(records, order_id)
    if found is None:
        return None
    view, events = found
    timeline = [decode_event(_encode_replayed(e)) for e in events]
    return msgspec.structs.replace(view, events=timeline)
