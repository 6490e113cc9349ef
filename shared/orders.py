"""Orders: validation of a submit, the insert of a new order, and the read models.

A new order and its first event (`pending`, seq 1) are written by one statement.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_CEILING, Decimal, InvalidOperation
from typing import Any

import asyncpg
import base58
import msgspec

from shared.batching import Batcher, distinct_rounds
from shared.db import pool
from shared.decoding import convert_fields, decode_json_object
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
from shared.tokens import EXACT_CONTEXT, Token, find_token, format_price

DEFAULT_SLIPPAGE_BPS = 50
DEFAULT_EXPIRY_S = 86_400  # waiting orders live a day unless told otherwise
LIMIT_PRICE_DECIMALS = 18  # the column is NUMERIC(38, 18)


@dataclass(frozen=True, slots=True)
class NewOrder:
    """A validated submit, in base units. A sniper's `token_out` is None until its token
    launches: `target` is what it waits for (a symbol, upper-cased, or a mint)."""

    order_type: str
    token_in: Token
    token_out: Token | None
    amount_in: int
    slippage_bps: int
    wallet_address: str
    target: str = ""
    limit_price: Decimal | None = None
    max_price_impact_bps: int | None = None
    expires_in_s: int | None = None

    @property
    def token_out_key(self) -> str:
        """What the orders row stores as token_out: the mint, or a sniper's target."""
        return self.token_out.mint if self.token_out is not None else self.target


def is_wallet_address(text: str) -> bool:
    """A Solana address: base58 that decodes to exactly 32 bytes (an ed25519 public key)."""
    try:
        return len(base58.b58decode(text)) == 32
    except ValueError:
        return False


def is_launch_target(text: str) -> bool:
    """What a sniper may wait for: a mint address, or a symbol of 1-10 letters and digits."""
    return is_wallet_address(text) or (text.isascii() and text.isalnum() and len(text) <= 10)


_TYPE_FIELDS = {
    "market": (),
    "limit": ("limitPrice", "expiresInSeconds"),
    "sniper": ("maxPriceImpactBps", "expiresInSeconds"),
}


def validate_submit(req: SubmitOrderRequest, known: Sequence[FieldError] = ()) -> NewOrder:
    """Check everything the types alone cannot; raise InvalidRequest naming every bad field.

    `known` are the fields that already failed to convert (`shared.decoding.convert_fields`):
    they are reported with the rest, and no check here reads them."""
    problems: list[FieldError] = list(known)
    failed = {p.field for p in known}

    def bad(field: str, message: str) -> None:
        problems.append(FieldError(field=field, message=message))

    token_in = find_token(req.token_in) if "tokenIn" not in failed else None
    token_out = find_token(req.token_out) if "tokenOut" not in failed else None
    target = ""
    if token_in is None and "tokenIn" not in failed:
        bad("tokenIn", f"unknown token {req.token_in!r}; see GET /api/tokens")
    if "tokenOut" in failed or "orderType" in failed:
        pass
    elif req.order_type == "sniper":
        if token_out is not None:
            bad("tokenOut", f"{token_out.symbol} already trades; snipers wait for a launch")
        elif not is_launch_target(req.token_out):
            bad("tokenOut", "must be the symbol (letters and digits) or mint of a coming token")
        else:
            target = req.token_out if is_wallet_address(req.token_out) else req.token_out.upper()
    elif token_out is None:
        bad("tokenOut", f"unknown token {req.token_out!r}; see GET /api/tokens")
    if token_in is not None and token_in == token_out:
        bad("tokenOut", "tokenOut must differ from tokenIn")

    amount_in = 0
    if "amountIn" in failed:
        pass
    elif not req.amount_in.is_finite() or req.amount_in <= 0:
        bad("amountIn", "must be a positive amount")
    elif token_in is not None:
        try:
            amount_in = token_in.to_base_units(req.amount_in)
        except (ValueError, InvalidOperation):
            bad("amountIn", f"{token_in.symbol} has {token_in.decimals} decimals at most")
        if amount_in >= 10**38:
            bad("amountIn", "is too large")

    slippage_bps = _slippage_bps(req, bad) if not {"slippage", "slippageBps"} & failed else 0

    if "walletAddress" not in failed and not is_wallet_address(req.wallet_address):
        bad("walletAddress", "must be a base58 Solana address of 32 bytes")
    if "orderType" not in failed:
        _check_type_fields(req, failed, bad)

    if problems:
        raise InvalidRequest(problems)
    assert token_in is not None
    waits = req.order_type != "market"
    return NewOrder(
        order_type=req.order_type,
        token_in=token_in,
        token_out=token_out,
        amount_in=amount_in,
        slippage_bps=slippage_bps,
        wallet_address=req.wallet_address,
        target=target,
        limit_price=req.limit_price,
        max_price_impact_bps=req.max_price_impact_bps,
        expires_in_s=(req.expires_in_seconds or DEFAULT_EXPIRY_S) if waits else None,
    )


def parse_submit(raw: bytes | str) -> SubmitOrderRequest:
    """A submit body (HTTP or the WebSocket's first message) as a request; InvalidRequest names
    every field that is bad by type, and with them every other field `validate_submit` finds
    wrong, so one answer lists them all."""
    request, problems = convert_fields(decode_json_object(raw), SubmitOrderRequest)
    if problems:
        validate_submit(request, problems)  # raises, with the problems it adds
    return request


def _check_type_fields(
    req: SubmitOrderRequest, failed: set[str], bad: Callable[[str, str], None]
) -> None:
    """The fields that belong to some order types only: allowed, and required, by type."""
    given = {
        "limitPrice": req.limit_price,
        "expiresInSeconds": req.expires_in_seconds,
        "maxPriceImpactBps": req.max_price_impact_bps,
    }
    allowed = _TYPE_FIELDS[req.order_type]
    for field, value in given.items():
        if value is not None and field not in allowed:
            bad(field, f"is not allowed on a {req.order_type} order")
    if req.order_type == "limit" and "limitPrice" not in failed:
        _check_limit_price(req.limit_price, bad)
    if (
        req.order_type == "sniper"
        and req.max_price_impact_bps is None
        and ("maxPriceImpactBps" not in failed)
    ):
        bad("maxPriceImpactBps", "is required on a sniper order")


def _check_limit_price(price: Decimal | None, bad: Callable[[str, str], None]) -> None:
    if price is None:
        bad("limitPrice", "is required on a limit order (tokenOut per tokenIn)")
    elif not price.is_finite() or price <= 0:
        bad("limitPrice", "must be a positive price")
    elif price >= 10**20:
        bad("limitPrice", "is too large")
    elif price != price.quantize(Decimal(1).scaleb(-LIMIT_PRICE_DECIMALS), context=EXACT_CONTEXT):
        bad("limitPrice", f"has more than {LIMIT_PRICE_DECIMALS} decimals")


def _slippage_bps(req: SubmitOrderRequest, bad: Callable[[str, str], None]) -> int:
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
                         $11::jsonb[], $12::jsonb[], $13::text[], $14::text[])
        AS n(id, order_type, wallet_address, token_in, token_out, amount_in, slippage_bps,
             limit_price, max_price_impact_bps, expires_in_s, waiting, pending, key,
             request_hash)
), guard AS (
    INSERT INTO idempotency_keys (key, request_hash, order_id, created_at)
    SELECT key, request_hash, id, clock_timestamp() FROM new WHERE key IS NOT NULL
    ON CONFLICT (key) DO NOTHING
    RETURNING order_id
), created AS (
    INSERT INTO orders (id, order_type, status, wallet_address, token_in, token_out, amount_in,
                        slippage_bps, limit_price, max_price_impact_bps, expires_at,
                        attempt, last_seq, created_at, updated_at)
    SELECT id, order_type, CASE WHEN waiting IS NULL THEN 'pending' ELSE 'waiting' END,
           wallet_address, token_in, token_out, amount_in, slippage_bps, limit_price,
           max_price_impact_bps, clock_timestamp() + make_interval(secs => expires_in_s),
           0, CASE WHEN waiting IS NULL THEN 1 ELSE 2 END, clock_timestamp(), clock_timestamp()
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


def waiting_data(order: NewOrder) -> dict[str, Any]:
    """What the `waiting` event says the order waits for."""
    if order.order_type == "limit":
        assert order.limit_price is not None and order.token_out is not None
        return {
            "waitingFor": "price",
            "limitPrice": f"{order.limit_price.normalize():f}",
            "minAmountOut": order.token_out.format(limit_floor(order)),
        }
    return {
        "waitingFor": "launch",
        "target": order.target,
        "maxPriceImpactBps": order.max_price_impact_bps,
    }


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
class _Insert:
    order_id: uuid.UUID
    order: NewOrder
    idempotency: tuple[str, str] | None
    pending: dict[str, Any]
    waiting: dict[str, Any] | None


async def create_order(
    order: NewOrder, idempotency: tuple[str, str] | None = None
) -> CreatedOrder | None:
    """Store a new order with its first event(s), in one statement shared with the orders
    submitted at the same moment. With `idempotency` (key, request hash): None when that key
    was used before (nothing is stored)."""
    pending: dict[str, Any] = {
        "orderType": order.order_type,
        "tokenIn": order.token_in.symbol,
        "tokenOut": order.token_out.symbol if order.token_out else order.target,
        "amountIn": order.token_in.format(order.amount_in),
        "slippageBps": order.slippage_bps,
    }
    waiting = None if order.order_type == "market" else waiting_data(order)
    insert = _Insert(uuid.uuid4(), order, idempotency, pending, waiting)
    row = await _insert_orders(insert)
    if isinstance(row, Exception):
        raise row
    if row is None:
        return None
    order_id = str(insert.order_id)
    stamp = format_timestamp(row["created_at"])
    events = [OrderEvent(order_id, 1, "pending", 0, stamp, pending)]
    if waiting is not None:
        events.append(OrderEvent(order_id, 2, "waiting", 0, stamp, waiting))
    return CreatedOrder(order_id, events, row["created_at"], row["expires_at"])


def _idempotency_key(insert: _Insert) -> str | None:
    return insert.idempotency[0] if insert.idempotency else None


async def _insert_batch(inserts: list[_Insert]) -> list[asyncpg.Record | Exception | None]:
    """The inserts, in one statement per round of distinct Idempotency-Keys (normally one):
    per insert its row, None (its key was used before), or the error that refused it. Should
    a statement fail on one order's data, each order is retried alone, so that one bad order
    fails only its own submit."""
    rows: dict[uuid.UUID, asyncpg.Record | Exception] = {}
    for this_round in distinct_rounds(inserts, key=_idempotency_key):
        # Keys in one order, so that two processes' batches cannot wait on each other.
        this_round.sort(key=lambda insert: _idempotency_key(insert) or "")
        try:
            found = await _insert_round(this_round)
        except asyncpg.DataError as error:
            found = []
            if len(this_round) == 1:
                rows[this_round[0].order_id] = error
            else:
                for insert in this_round:
                    try:
                        found += await _insert_round([insert])
                    except asyncpg.DataError as own_error:
                        rows[insert.order_id] = own_error
        rows.update((row["id"], row) for row in found)
    return [rows.get(insert.order_id) for insert in inserts]


async def _insert_round(inserts: list[_Insert]) -> list[asyncpg.Record]:
    columns: list[list[Any]] = [[] for _ in range(14)]
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
            ),
            strict=True,
        ):
            column.append(value)
    return await pool().fetch(_INSERT_SQL, *columns)


_insert_orders = Batcher("order_inserts", _insert_batch)


async def idempotent_answer(key: str) -> tuple[str, str] | None:
    """(request hash, order id) recorded for an Idempotency-Key, if it was used."""
    row = await pool().fetchrow(
        "SELECT request_hash, order_id FROM idempotency_keys WHERE key = $1", key
    )
    return None if row is None else (row["request_hash"], str(row["order_id"]))


class StoredEvent(msgspec.Struct, rename="camel"):
    """An OrderEvent as read back: `data` stays the raw JSON PostgreSQL returned."""

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


async def load_events(order_id: uuid.UUID, after_seq: int = 0) -> list[StoredEvent]:
    """The order's events after `after_seq`, in seq order; read together with the other
    streams opening at the same moment."""
    return await _load_events((order_id, after_seq))


async def _load_events_batch(wanted: list[tuple[uuid.UUID, int]]) -> list[list[StoredEvent]]:
    order_ids, after = zip(*wanted, strict=True)
    rows = await pool().fetch(_EVENTS_SQL, list(order_ids), list(after))
    found: list[list[StoredEvent]] = [[] for _ in wanted]
    for row in rows:
        index = row["ord"] - 1
        found[index].append(
            StoredEvent(
                order_id=str(order_ids[index]),
                seq=row["seq"],
                status=row["status"],
                attempt=row["attempt"],
                timestamp=format_timestamp(row["created_at"]),
                data=msgspec.Raw(row["data"].encode()),
            )
        )
    return found


_load_events = Batcher("history_reads", _load_events_batch)


async def order_progress(order_id: uuid.UUID) -> tuple[str, int] | None:
    """(status, seq of the newest event), or None for an unknown order."""
    row = await pool().fetchrow("SELECT status, last_seq FROM orders WHERE id = $1", order_id)
    return None if row is None else (row["status"], row["last_seq"])


_ORDER_COLUMNS = """id, order_type, status, token_in, token_out, amount_in, slippage_bps,
    wallet_address, attempt, created_at, updated_at, amount_out, min_amount_out, venue,
    tx_signature, failure_code, failure_reason, limit_price, max_price_impact_bps, expires_at"""


def _order_view(row: object) -> OrderView:
    get = row.__getitem__  # type: ignore[attr-defined]
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
