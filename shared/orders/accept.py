"""Accepting an order: store it, then hand it on — a market order to the queue, a limit or
sniper order to the book of waiting orders. Cancelling one that has not started.

Storing comes first and alone decides acceptance: if Redis fails after it, the order is still
accepted (the sweep enqueues a pending order; the watcher's reconcile re-adds a waiting one).
"""

from __future__ import annotations

import hashlib
import uuid

import msgspec
import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared.config import Settings
from shared.db import pool
from shared.execution import outside_step
from shared.jobs.queue import enqueue_order
from shared.jobs.saq_fork import OrderQueue
from shared.orders.insert import CreatedOrder, create_order, idempotent_answer
from shared.orders.submission import NewOrder
from shared.schemas import SubmitOrderRequest
from shared.waiting.book import WaitingBook, waiting_order

log = structlog.get_logger(__name__)


class IdempotencyKeyReused(ValueError):
    """The same Idempotency-Key came with a different request: answered 422."""


def request_hash(body: SubmitOrderRequest) -> str:
    """The request's identity for Idempotency-Key: its decoded fields, so that whitespace or
    key order do not make two identical orders differ."""
    return hashlib.sha256(msgspec.json.encode(body)).hexdigest()


async def accept_order(
    order: NewOrder,
    settings: Settings,
    queue: OrderQueue,
    book: WaitingBook,
    idempotency: tuple[str, str] | None = None,
) -> tuple[str, bool]:
    """(order id, whether it is the replay of an earlier submit with the same key)."""
    created = await create_order(order, idempotency)
    if created is None:
        assert idempotency is not None
        key, digest = idempotency
        earlier = await idempotent_answer(key)
        if earlier is None or earlier[0] != digest:
            raise IdempotencyKeyReused("this Idempotency-Key was used with a different request")
        return earlier[1], True
    await hand_off(order, created, settings, queue, book)
    return created.order_id, False


async def hand_off(
    order: NewOrder, created: CreatedOrder, settings: Settings, queue: OrderQueue, book: WaitingBook
) -> None:
    try:
        if order.order_type == "market":
            await enqueue_order(queue, settings, created.order_id)
        else:
            assert created.expires_at is not None
            await book.add(
                waiting_order(
                    created.order_id,
                    order.order_type,
                    order.token_in,
                    order.token_out_key,
                    order.amount_in,
                    limit_price=order.limit_price,
                    max_price_impact_bps=order.max_price_impact_bps,
                    expires_at=created.expires_at.timestamp(),
                    arrival=created.created_at.timestamp(),
                )
            )
    except (RedisError, OSError) as exc:
        log.warning(
            "hand-off failed; the sweep or the watcher will pick the order up",
            order_id=created.order_id,
            attempt=0,
            error=str(exc),
        )
    log.info(
        "order accepted",
        order_id=created.order_id,
        attempt=0,
        order_type=order.order_type,
        token_in=order.token_in.symbol,
        token_out=order.token_out.symbol if order.token_out else order.target,
        amount_in=order.amount_in,
    )


class CancelOutcome:
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"
    NOT_OWNER = "not_owner"
    TOO_LATE = "too_late"


async def cancel_order(
    order_id: uuid.UUID, wallet: str, redis: Redis, namespace: str, book: WaitingBook
) -> tuple[str, str | None]:
    """(outcome, the order's status after). Only the owner may cancel, and only an order that
    has not started executing: the conditional transition races a trigger, and one wins."""
    row = await pool().fetchrow("SELECT wallet_address, status FROM orders WHERE id = $1", order_id)
    if row is None:
        return CancelOutcome.UNKNOWN, None
    if row["wallet_address"] != wallet:
        return CancelOutcome.NOT_OWNER, row["status"]
    data = {"reason": "cancelled by the owner"}
    event = await outside_step(redis, namespace, order_id, "cancelled", data)
    if event is None:
        status = await pool().fetchval("SELECT status FROM orders WHERE id = $1", order_id)
        return CancelOutcome.TOO_LATE, status
    # Off the book (a waiting order), so no trigger looks at it again.
    await book.claim_by_id(str(order_id))
    return CancelOutcome.CANCELLED, "cancelled"
