"""msgspec structs on the wire: requests, views, events, job payloads. camelCase outside.

Structs that cross the two containers (events, job payloads) evolve the msgspec way:
new fields get defaults, no field changes type.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from shared.order_events import OrderEvent

OrderType = Literal["market", "limit", "sniper"]
OrderStatus = Literal[
    "pending",
    "waiting",
    "routing",
    "building",
    "submitted",
    "confirmed",
    "failed",
    "cancelled",
    "expired",
]


MAX_PRIORITY_FEE = 10_000_000  # micro-lamports per compute unit: 14 SOL for a 1.4M-unit swap


class Wire(msgspec.Struct, rename="camel", omit_defaults=False):
    """Base of outbound structs."""


class SubmitOrderRequest(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    """POST /api/orders/execute. Amounts are UI units of the token (`"1.5"` SOL)."""

    token_in: Annotated[str, Meta(min_length=1, max_length=64, description="symbol or mint")]
    token_out: Annotated[str, Meta(min_length=1, max_length=64, description="symbol or mint")]
    amount_in: Annotated[Decimal, Meta(description='UI units, e.g. "1.5"')]
    wallet_address: Annotated[str, Meta(min_length=32, max_length=44)]
    order_type: OrderType = "market"
    slippage_bps: Annotated[int, Meta(ge=1, le=5000)] | None = None
    slippage: Annotated[
        Decimal | None,
        Meta(description="fraction, 0 < slippage <= 0.5; alternative to slippageBps"),
    ] = None
    limit_price: Decimal | None = None
    expires_in_seconds: Annotated[int, Meta(ge=1, le=30 * 86_400)] | None = None
    max_price_impact_bps: Annotated[int, Meta(ge=1, le=10_000)] | None = None
    priority_fee: Annotated[
        Literal["auto"] | Annotated[int, Meta(ge=0, le=MAX_PRIORITY_FEE)] | None,
        Meta(
            description='"auto" (from getRecentPrioritizationFees, the default) or the '
            "compute-unit price in micro-lamports"
        ),
    ] = None


class FieldError(Wire):
    field: str
    message: str


class ErrorBody(Wire, omit_defaults=True):
    error: str
    message: str
    details: list[FieldError] | None = None
    status: str | None = None  # a conflict's current order status


class SubmitOrderResponse(Wire, omit_defaults=True):
    order_id: str
    status: OrderStatus
    ws_url: str | None = None


class OrderView(Wire):
    order_id: str
    order_type: OrderType
    status: OrderStatus
    token_in: str
    token_out: str
    amount_in: str
    slippage_bps: int
    wallet_address: str
    attempt: int
    created_at: str
    updated_at: str
    amount_out: str | None = None
    min_amount_out: str | None = None
    executed_price: str | None = None
    venue: str | None = None
    tx_signature: str | None = None
    failure_reason: str | None = None
    limit_price: str | None = None
    max_price_impact_bps: int | None = None
    expires_at: str | None = None
    events: list[OrderEvent] | None = None  # the timeline, in seq order


class OrderHistoryPage(Wire):
    orders: list[OrderView]
    next_cursor: str | None


class QueueCounts(Wire):
    queued: int
    active: int
    scheduled: int
    complete: int
    failed: int


class QueueLimits(Wire):
    concurrency: int
    rate_per_minute: int
    max_attempts: int
    backoff_ms: int


class OrderTotals(Wire):
    by_status: dict[str, int]
    confirmed_last_minute: int
    confirmed_per_second: float


class LatencyFigures(Wire):
    """Submit-to-confirmed, in milliseconds, over the latest orders confirmed in the last 5
    minutes (at most 1,000 of them: `sample_size`)."""

    sample_size: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


class QueueMetrics(Wire):
    queue: QueueCounts
    workers: int
    limits: QueueLimits
    orders: OrderTotals
    latency: LatencyFigures


class HealthCheck(Wire):
    status: Literal["ok", "down"]
    postgres: str
    redis: str
    version: str


class StatusList(Wire):
    """GET /api/statuses: every order status in lifecycle order, and the terminal ones."""

    statuses: list[OrderStatus]
    terminal: list[OrderStatus]


class TokenView(Wire):
    symbol: str
    mint: str
    decimals: int
    name: str


class ChainPrograms(Wire):
    raydium: str  # Raydium CPMM's program id
    meteora: str  # Meteora DLMM's program id


class ChainInfo(Wire):
    """GET /api/chain: where the engine's transactions go, to check them with any Solana tool."""

    rpc_url: str
    ws_url: str
    cluster: str  # mainnet-beta, devnet or testnet by genesis hash; else localnet
    programs: ChainPrograms
    executor: str  # fee payer of every swap, and the delegate wallets approve


class TokenBalanceView(Wire):
    symbol: str  # the mint itself for a token the engine does not know
    mint: str
    amount: str  # UI units
    account: str  # the associated token account
    approved_for_executor: str  # what the executor may spend from it (UI units)


class WalletBalances(Wire):
    """GET /api/wallets/{walletAddress}/balances, read from the chain. SOL to trade is wrapped
    SOL in the wallet's token account (`balances`); `lamports` is its native SOL (rent)."""

    wallet_address: str
    slot: int
    lamports: int
    balances: list[TokenBalanceView]


class AirdropRequest(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    """POST /api/sim/airdrop: amounts in UI units by symbol or mint, e.g. {"SOL": "5"}.
    `approve` false funds without recording the executor as the accounts' delegate, so that
    the wallet signs its own Approve (and until then its orders fail NOT_APPROVED)."""

    wallet_address: Annotated[str, Meta(min_length=32, max_length=44)]
    amounts: Annotated[dict[str, str], Meta(min_length=1, max_length=16)]
    approve: bool = True


class AirdropResult(Wire):
    wallet_address: str
    signatures: list[str]  # the faucet's transactions, landed
    balances: WalletBalances


class ExecuteOrderJob(msgspec.Struct):
    """The SAQ job payload: ids, not objects."""

    order_id: str
