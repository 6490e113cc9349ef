"""Orders: validation of a submit, the insert of a new order, and the read models.

A new order and its first event (`pending`, seq 1) are written by one statement.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

import base58
import msgspec

from shared.db import pool
from shared.errors import InvalidRequest
from shared.lifecycle import format_timestamp
from shared.schemas import (
    FieldError,
    OrderEvent,
    OrderHistoryPage,
    OrderStatus,
    OrderView,
    SubmitOrderRequest,
)
from shared.tokens import Token, find_token, format_price

DEFAULT_SLIPPAGE_BPS = 50
SUPPORTED_ORDER_TYPES = ("market",)


@dataclass(frozen=True, slots=True)
class NewOrder:
    """A validated submit, in base units."""

    order_type: str
    token_in: Token
    token_out: Token
    amount_in: int
    slippage_bps: int
    wallet_address: str


def is_wallet_address(text: str) -> bool:
    """A Solana address: base58 that decodes to exactly 32 bytes (an ed25519 public key)."""
    try:
        return len(base58.b58decode(text)) == 32
    except ValueError:
        return False


def validate_submit(req: SubmitOrderRequest) -> NewOrder:
    """Check everything the types alone cannot; raise InvalidRequest naming every bad field."""
    problems: list[FieldError] = []

    def bad(field: str, message: str) -> None:
        problems.append(FieldError(field=field, message=message))

    token_in = find_token(req.token_in)
    token_out = find_token(req.token_out)
    if token_in is None:
        bad("tokenIn", f"unknown token {req.token_in!r}; see GET /api/tokens")
    if token_out is None:
        bad("tokenOut", f"unknown token {req.token_out!r}; see GET /api/tokens")
    if token_in is not None and token_in == token_out:
        bad("tokenOut", "tokenOut must differ from tokenIn")

    amount_in = 0
    if not req.amount_in.is_finite() or req.amount_in <= 0:
        bad("amountIn", "must be a positive amount")
    elif token_in is not None:
        try:
            amount_in = token_in.to_base_units(req.amount_in)
        except (ValueError, InvalidOperation):
            bad("amountIn", f"{token_in.symbol} has {token_in.decimals} decimals at most")
        if amount_in >= 10**38:
            bad("amountIn", "is too large")

    slippage_bps = _slippage_bps(req, bad)

    if not is_wallet_address(req.wallet_address):
        bad("walletAddress", "must be a base58 Solana address of 32 bytes")
    if req.order_type not in SUPPORTED_ORDER_TYPES:
        bad("orderType", f"{req.order_type!r} orders are not supported yet; use 'market'")
    for field, value in (
        ("limitPrice", req.limit_price),
        ("expiresInSeconds", req.expires_in_seconds),
        ("maxPriceImpactBps", req.max_price_impact_bps),
    ):
        if value is not None and req.order_type == "market":
            bad(field, "is not allowed on a market order")

    if problems:
        raise InvalidRequest(problems)
    assert token_in is not None and token_out is not None
    return NewOrder(
        order_type=req.order_type,
        token_in=token_in,
        token_out=token_out,
        amount_in=amount_in,
        slippage_bps=slippage_bps,
        wallet_address=req.wallet_address,
    )


def _slippage_bps(req: SubmitOrderRequest, bad: object) -> int:
    assert callable(bad)
    if req.slippage_bps is not None and req.slippage is not None:
        bad("slippage", "give slippageBps or slippage, not both")
        return 0
    if req.slippage is None:
        return req.slippage_bps if req.slippage_bps is not None else DEFAULT_SLIPPAGE_BPS
    if not req.slippage.is_finite() or not 0 < req.slippage <= Decimal("0.5"):
        bad("slippage", "must be a fraction with 0 < slippage <= 0.5 (0.01 is 1%)")
        return 0
    bps = req.slippage * 10_000
    if bps != bps.to_integral_value():
        bad("slippage", "must be a whole number of basis points (0.0001 steps)")
        return 0
    return int(bps)


_INSERT_SQL = """
WITH created AS (
    INSERT INTO orders (id, order_type, status, wallet_address, token_in, token_out, amount_in,
                        slippage_bps, attempt, last_seq, created_at, updated_at)
    VALUES ($1, $2, 'pending', $3, $4, $5, $6, $7, 0, 1, clock_timestamp(), clock_timestamp())
    RETURNING id, created_at
)
INSERT INTO order_events (order_id, seq, status, attempt, data, created_at)
SELECT id, 1, 'pending', 0, $8::jsonb, created_at FROM created
RETURNING created_at
"""

_encode = msgspec.json.Encoder(decimal_format="string").encode


async def create_order(order: NewOrder) -> OrderEvent:
    """Store a new order with its `pending` event; return that event."""
    order_id = uuid.uuid4()
    data = {
        "orderType": order.order_type,
        "tokenIn": order.token_in.symbol,
        "tokenOut": order.token_out.symbol,
        "amountIn": order.token_in.format(order.amount_in),
        "slippageBps": order.slippage_bps,
    }
    created_at: datetime = await pool().fetchval(
        _INSERT_SQL,
        order_id,
        order.order_type,
        order.wallet_address,
        order.token_in.mint,
        order.token_out.mint,
        order.amount_in,
        order.slippage_bps,
        _encode(data).decode(),
    )
    return OrderEvent(
        order_id=str(order_id),
        seq=1,
        status="pending",
        attempt=0,
        timestamp=format_timestamp(created_at),
        data=data,
    )


class StoredEvent(msgspec.Struct, rename="camel"):
    """An OrderEvent as read back: `data` stays the raw JSON PostgreSQL returned."""

    order_id: str
    seq: int
    status: str
    attempt: int
    timestamp: str
    data: msgspec.Raw


_EVENTS_SQL = """
SELECT seq, status, attempt, data::text AS data, created_at
FROM order_events WHERE order_id = $1 AND seq > $2 ORDER BY seq
"""


async def load_events(order_id: uuid.UUID, after_seq: int = 0) -> list[StoredEvent]:
    rows = await pool().fetch(_EVENTS_SQL, order_id, after_seq)
    text_id = str(order_id)
    return [
        StoredEvent(
            order_id=text_id,
            seq=row["seq"],
            status=row["status"],
            attempt=row["attempt"],
            timestamp=format_timestamp(row["created_at"]),
            data=msgspec.Raw(row["data"].encode()),
        )
        for row in rows
    ]


async def order_progress(order_id: uuid.UUID) -> tuple[str, int] | None:
    """(status, seq of the newest event), or None for an unknown order."""
    row = await pool().fetchrow("SELECT status, last_seq FROM orders WHERE id = $1", order_id)
    return None if row is None else (row["status"], row["last_seq"])


_ORDER_COLUMNS = """id, order_type, status, token_in, token_out, amount_in, slippage_bps,
    wallet_address, attempt, created_at, updated_at, amount_out, min_amount_out, venue,
    tx_signature, failure_code, failure_reason"""


def _order_view(row: object) -> OrderView:
    get = row.__getitem__  # type: ignore[attr-defined]
    token_in = find_token(get("token_in"))
    token_out = find_token(get("token_out"))
    assert token_in is not None and token_out is not None
    amount_in, amount_out = int(get("amount_in")), get("amount_out")
    executed_price = None
    if amount_out is not None and amount_in:
        executed_price = format_price(token_in, token_out, amount_in, int(amount_out))
    reason = get("failure_reason")
    return OrderView(
        order_id=str(get("id")),
        order_type=get("order_type"),
        status=get("status"),
        token_in=token_in.symbol,
        token_out=token_out.symbol,
        amount_in=token_in.format(amount_in),
        slippage_bps=get("slippage_bps"),
        wallet_address=get("wallet_address"),
        attempt=get("attempt"),
        created_at=format_timestamp(get("created_at")),
        updated_at=format_timestamp(get("updated_at")),
        amount_out=None if amount_out is None else token_out.format(int(amount_out)),
        min_amount_out=(
            None if get("min_amount_out") is None else token_out.format(int(get("min_amount_out")))
        ),
        executed_price=executed_price,
        venue=get("venue"),
        tx_signature=get("tx_signature"),
        failure_reason=None if reason is None else f"{get('failure_code')}: {reason}",
    )


async def get_order(order_id: uuid.UUID) -> tuple[OrderView, list[StoredEvent]] | None:
    row = await pool().fetchrow(f"SELECT {_ORDER_COLUMNS} FROM orders WHERE id = $1", order_id)
    if row is None:
        return None
    return _order_view(row), await load_events(order_id)


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
