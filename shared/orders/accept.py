"""Accepting an order: store it, then hand it on — a market order to the queue, a limit or
sniper order to the book of waiting orders. Cancelling one that has not started.

Storing comes first and alone decides acceptance: if Redis fails after it, the order is still
accepted (the sweep enqueues a pending order; the watcher's reconcile re-adds a waiting one).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

import msgspec
import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared.config import Settings
from shared.db import pool
from shared.jobs.queue import enqueue_order
from shared.jobs.saq_fork import OrderQueue
from shared.order_events import EndedData
from shared.orders.insert import CreatedOrder, idempotent_answer
from shared.orders.records import OrderRecords, OrderSteps
from shared.orders.submission import NewOrder, validate_submit
from shared.schemas import SubmitOrderRequest
from shared.telemetry.recording import order_accepted
from shared.tokens import load_launched_tokens
from shared.waiting.book import WaitingBook, waiting_order

log = structlog.get_logger(__name__)


class IdempotencyKeyReused(ValueError):
    """The same Idempotency-Key came with a different request: answered 422."""


def request_hash(body: SubmitOrderRequest) -> str:
    """The request's identity for Idempotency-Key: its decoded fields, so that whitespace or
    key order do not make two identical orders differ."""
    return hashlib.sha256(msgspec.json.encode(body)).hexdigest()


@dataclass(frozen=True)
class Intake:
    """What accepting and cancelling orders needs; one per API process (create_app)."""

    settings: Settings
    redis: Redis
    records: OrderRecords
    steps: OrderSteps
    queue: OrderQueue
    book: WaitingBook


async def accept_order(
    intake: Intake, request: SubmitOrderRequest, idempotency_key: str | None = None
) -> str:
    """Validate, store and hand on; return the order id (an earlier one for a replayed
    Idempotency-Key). Raises InvalidRequest, IdempotencyKeyReused."""
    if request.order_type == "sniper":  # a sniper may not target a token that already launched
        await load_launched_tokens(intake.redis, intake.settings.redis_namespace)
    order = validate_submit(request)
    idempotency = None if idempotency_key is None else (idempotency_key, request_hash(request))
    created = await intake.records.insert(order, idempotency)
    if created is None:
        assert idempotency is not None
        key, digest = idempotency
        earlier = await idempotent_answer(key)
        if earlier is None or earlier[0] != digest:
            raise IdempotencyKeyReused("this Idempotency-Key was used with a different request")
        return earlier[1]
    await hand_off(intake, order, created)
    order_accepted(order.order_type)
    return created.order_id


async def hand_off(intake: Intake, order: NewOrder, created: CreatedOrder) -> None:
    try:
        if order.order_type == "market":
            await enqueue_order(intake.queue, intake.settings, created.order_id)
        else:
            assert created.expires_at is not None
            await intake.book.add(
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


async def cancel_order(intake: Intake, order_id: uuid.UUID, wallet: str) -> tuple[str, str | None]:
    """(outcome, the order's status after). Only the owner may cancel, and only an order that
    has not started executing: the conditional transition races a trigger, and one wins."""
    row = await pool().fetchrow("SELECT wallet_address, status FROM orders WHERE id = $1", order_id)
    if row is None:
        return CancelOutcome.UNKNOWN, None
    if row["wallet_address"] != wallet:
        return CancelOutcome.NOT_OWNER, row["status"]
    data = EndedData(reason="cancelled by the owner")
    event = await intake.steps.outside(order_id, "cancelled", data)
    if event is None:
        status = await pool().fetchval("SELECT status FROM orders WHERE id = $1", order_id)
        return CancelOutcome.TOO_LATE, status
    # Off the book (a waiting order), so no trigger looks at it again.
    await intake.book.claim_by_id(str(order_id))
    return CancelOutcome.CANCELLED, "cancelled"
