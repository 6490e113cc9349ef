"""An order's events as they go on the wire: one Struct per status, told apart by `status`.

`OrderEvent` is the tagged union a client decodes (every kind is described in the OpenAPI
document); each kind's `data` is a Struct of its own. The same bytes are stored (the data in
`order_events.data`), published, streamed and listed under an order's `events`.

Events cross the two containers: they evolve the msgspec way, new fields with defaults, no
field changing type. Amounts are UI decimal strings, as everywhere outside.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import msgspec


class Data(msgspec.Struct, rename="camel", omit_defaults=True):
    """Base of every event's data."""


# --- pending, waiting ---------------------------------------------------------------------


class PendingData(Data):
    """What was accepted, normalised."""

    order_type: Literal["market", "limit", "sniper"]
    token_in: str
    token_out: str  # a symbol, or a sniper's target (symbol or mint)
    amount_in: str
    slippage_bps: int


class WaitingData(Data):
    """What a limit (`waitingFor: price`) or sniper (`waitingFor: launch`) order waits for."""

    waiting_for: Literal["price", "launch"]
    limit_price: str | None = None
    min_amount_out: str | None = None
    target: str | None = None
    max_price_impact_bps: int | None = None


# --- routing ------------------------------------------------------------------------------


class VenueQuote(Data):
    """One venue's quote for the whole amount on the direct pair."""

    venue: str
    pool_id: str
    amount_out: str
    fee_amount: str
    fee_bps: float
    price_impact_bps: float


class RouteLeg(Data):
    hop: int
    venue: str
    pool_id: str
    token_in: str
    token_out: str
    percent: int
    amount_in: str
    amount_out: str
    fee_amount: str
    price_impact_bps: float


class RouteView(Data):
    """The chosen route: legs with venue, pool, share, amounts, fee and impact; `via` the
    middle token of a two-hop route."""

    amount_in: str
    amount_out: str
    via: str | None
    price_impact_bps: float
    legs: list[RouteLeg]


class PreviousError(Data):
    code: str
    message: str
    attempt: int | None = None


class PriceTrigger(Data, tag="price", tag_field="trigger"):
    """A limit order fired: the price for its whole size reached its limit."""

    limit_price: str
    executable_price: str
    quoted_amount_out: str


class LaunchTrigger(Data, tag="launch", tag_field="trigger"):
    """A sniper fired on its token's launch; `position` among the snipers that fired."""

    token: str
    mint: str
    pool_id: str
    position: int
    price_impact_bps: float
    max_price_impact_bps: int


Trigger = PriceTrigger | LaunchTrigger


class RoutingData(Data):
    quotes: list[VenueQuote]
    chosen: str
    route: RouteView
    best_single_venue_amount_out: str
    gain_bps: float
    previous_error: PreviousError | None = None
    trigger: Trigger | None = None


# --- building, submitted, confirmed, failed, cancelled, expired ----------------------------


class BuildingData(Data):
    venue: str
    expected_amount_out: str
    min_amount_out: str
    slippage_bps: int
    # On the chain: the transaction's compute-unit limit (from its simulation) and price, and
    # the last block height at which it can land.
    compute_unit_limit: int | None = None
    priority_fee_micro_lamports: int | None = None
    last_valid_block_height: int | None = None


class SubmittedData(Data):
    tx_signature: str


class BalanceChange(Data):
    """How much of a token the wallet gained (positive) or spent (negative) in the
    transaction, in UI units, read from its token balance changes."""

    symbol: str
    mint: str
    amount: str


class ConfirmedData(Data):
    tx_hash: str
    amount_out: str
    executed_price: str
    slot: int
    execution_time_ms: int  # transaction sent -> landed
    total_time_ms: int  # accepted -> confirmed
    # What the executor paid (absent on orders confirmed before the chain was real), the
    # compute units the transaction used and the price it offered per unit, and the wallet's
    # changes.
    fee_lamports: int | None = None
    compute_units: int | None = None
    priority_fee_micro_lamports: int | None = None
    balance_changes: list[BalanceChange] | None = None


class FailureReason(Data):
    code: str
    message: str


class FailedData(Data):
    error: FailureReason


class EndedData(Data):
    """Why a cancelled or expired order ended."""

    reason: str


EventData = (
    PendingData
    | WaitingData
    | RoutingData
    | BuildingData
    | SubmittedData
    | ConfirmedData
    | FailedData
    | EndedData
)


# --- the events -----------------------------------------------------------------------------


class _Event(msgspec.Struct, rename="camel", tag_field="status"):
    order_id: str
    seq: int
    attempt: int
    timestamp: str  # ISO 8601, UTC, milliseconds: when the step was written

    @property
    def status(self) -> str:
        """The kind: `status` on the wire (msgspec's tag)."""
        return str(self.__struct_config__.tag)


class PendingEvent(_Event, tag="pending"):
    data: PendingData


class WaitingEvent(_Event, tag="waiting"):
    data: WaitingData


class RoutingEvent(_Event, tag="routing"):
    data: RoutingData


class BuildingEvent(_Event, tag="building"):
    data: BuildingData


class SubmittedEvent(_Event, tag="submitted"):
    data: SubmittedData


class ConfirmedEvent(_Event, tag="confirmed"):
    data: ConfirmedData


class FailedEvent(_Event, tag="failed"):
    data: FailedData


class CancelledEvent(_Event, tag="cancelled"):
    data: EndedData


class ExpiredEvent(_Event, tag="expired"):
    data: EndedData


OrderEvent = (
    PendingEvent
    | WaitingEvent
    | RoutingEvent
    | BuildingEvent
    | SubmittedEvent
    | ConfirmedEvent
    | FailedEvent
    | CancelledEvent
    | ExpiredEvent
)

EVENT_KINDS: dict[str, Callable[..., OrderEvent]] = {
    "pending": PendingEvent,
    "waiting": WaitingEvent,
    "routing": RoutingEvent,
    "building": BuildingEvent,
    "submitted": SubmittedEvent,
    "confirmed": ConfirmedEvent,
    "failed": FailedEvent,
    "cancelled": CancelledEvent,
    "expired": ExpiredEvent,
}


def make_event(
    status: str, order_id: str, seq: int, attempt: int, timestamp: str, data: EventData
) -> OrderEvent:
    """The event of kind `status` (its data is not checked here: the steps that write an
    event give it the data of its kind)."""
    return EVENT_KINDS[status](
        order_id=order_id, seq=seq, attempt=attempt, timestamp=timestamp, data=data
    )


encode_event = msgspec.json.Encoder(decimal_format="string").encode
decode_event = msgspec.json.Decoder(OrderEvent).decode
