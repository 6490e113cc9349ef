"""What tests share beyond fixtures: sample data of each event kind, for tests that take steps
directly and care about the step, not what it carries."""

from __future__ import annotations

from shared.order_events import (
    BuildingData,
    ConfirmedData,
    EndedData,
    EventData,
    FailedData,
    FailureReason,
    RouteView,
    RoutingData,
    SubmittedData,
)

_SAMPLES: dict[str, EventData] = {
    "routing": RoutingData(
        quotes=[],
        chosen="raydium",
        route=RouteView(amount_in="1", amount_out="150", via=None, price_impact_bps=0, legs=[]),
        best_single_venue_amount_out="150",
        gain_bps=0,
    ),
    "building": BuildingData(
        venue="raydium", expected_amount_out="150", min_amount_out="149", slippage_bps=50
    ),
    "submitted": SubmittedData(tx_signature="sig"),
    "confirmed": ConfirmedData(
        tx_hash="sig",
        amount_out="150",
        executed_price="150",
        slot=1,
        execution_time_ms=0,
        total_time_ms=0,
    ),
    "failed": FailedData(error=FailureReason(code="TEST", message="failed by the test")),
    "cancelled": EndedData(reason="cancelled by the test"),
    "expired": EndedData(reason="expired by the test"),
}


def sample(status: str) -> EventData:
    """Valid data for an event of kind `status`."""
    return _SAMPLES[status]
