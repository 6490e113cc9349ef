"""One attempt at executing an order on a Solana chain: route, build, submit, land, confirm.

Every step is a conditional transition (see lifecycle); when one returns None another actor
owns the order and the attempt stops quietly.

- routing: the best route on this process's pool cache (shared/chain/pools.py), falling back
  to the next best when a route does not fit one transaction;
- building: the route as one v0 transaction signed by the executor (shared/chain/
  transactions.py); its compute-unit limit from a simulation plus a margin, its price from the
  order's priorityFee ("auto": the recent prioritization fees of the pools it writes), its
  blockhash the latest this process has read (shared/chain/blockhash.py); a
  simulation that fails says why at once (INSUFFICIENT_FUNDS, NOT_APPROVED, SLIPPAGE_EXCEEDED)
  and nothing is sent;
- submitted: the signature is first claimed for the order (shared/orders/signatures.py): two
  identical orders built on one blockhash would otherwise sign the same bytes, and both take
  the one landing of that transaction as their own; each order's compute-unit limit carries
  an offset of its own (claim_limits), and a claim refused builds again with its next one.
  Then the signature, the signed bytes and their
  lastValidBlockHeight are stored in the same step, before the bytes are sent, and resent
  until they land or expire (shared/chain/landing.py);
- confirmed: read back with getTransaction: the fee, the compute units, and the wallet's
  token balance changes, which give amountOut to the base unit.

A swap settles at most once, and the chain enforces it: an attempt that finds its order
`submitted` watches the stored transaction (resending the same bytes) until it lands — then
it is confirmed from the chain — or until the block height passes its lastValidBlockHeight
with the signature still unknown: only then can the order be routed again.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

import structlog
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from shared.chain.blockhash import RecentBlockhash
from shared.chain.cluster import Cluster
from shared.chain.landing import Expired, Landed, Landings
from shared.chain.pools import ChainPools
from shared.chain.priority_fees import AutoFees
from shared.chain.rpc import TransactionInfo, token_balance_changes
from shared.chain.transactions import (
    MAX_CU_LIMIT,
    SIMULATION_CU_LIMIT,
    RouteTooLarge,
    cu_limit_from_simulation,
    route_builder,
)
from shared.db import pool
from shared.dex.pool_maths import SwapResult
from shared.dex.routing import NoRoute, Route, direct_quotes
from shared.errors import PermanentFailure, TransientFailure
from shared.faults import crash_point
from shared.order_events import (
    BalanceChange,
    BuildingData,
    ConfirmedData,
    EventData,
    FailedData,
    FailureReason,
    OrderEvent,
    PreviousError,
    RoutingData,
    SubmittedData,
    Trigger,
)
from shared.orders.insert import limit_floor_base_units
from shared.orders.records import OrderRecords, OrderSteps
from shared.orders.signatures import SignatureClaims
from shared.orders.statuses import TERMINAL
from shared.orders.steps import OrderFields
from shared.quotes import min_amount_out, route_label, route_view, venue_quote_view
from shared.schemas import OrderStatus
from shared.tokens import Token, find_token, format_price
from shared.venues import meteora_dlmm, raydium_cpmm
from shared.venues.spl import TOKEN_PROGRAM_ID
from shared.wallets import StarterFunding

log = structlog.get_logger(__name__)

COMPUTE_BUDGET_PROGRAM = Pubkey.from_string("ComputeBudget111111111111111111111111111111")
TOKEN_INSUFFICIENT_FUNDS = 1  # SPL Token's TokenError::InsufficientFunds
TOKEN_OWNER_MISMATCH = 4  # the signer is neither the owner nor the approved delegate
SLIPPAGE_ERRORS = {
    raydium_cpmm.PROGRAM_ID: raydium_cpmm.ERROR_EXCEEDED_SLIPPAGE,
    meteora_dlmm.PROGRAM_ID: meteora_dlmm.ERROR_EXCEEDED_AMOUNT_SLIPPAGE,
}
FEE_PAYER_ERRORS = ("AccountNotFound", "InsufficientFundsForFee", "InsufficientFundsForRent")
# Builds of one transaction with other limits, for a signature no other order holds.
SIGNATURE_CLAIM_ATTEMPTS = 64
# Identical orders (one wallet, the same amounts) built on one blockhash would sign identical
# bytes: each order adds an offset of its own (from its id) in 0..CLAIM_SPREAD-1 to the least
# limit its simulation allows, so that their first builds differ (but for ~n^2/2/CLAIM_SPREAD
# pairs of n, which try the next offsets). A clash costs a build and a claim's round trip; one
# limit after another, the last of n identical orders took n of them. The offset takes the
# place of rounding the limit up to a thousand: on average it costs the same fee.
CLAIM_SPREAD = 1000


def claim_limits(limit: int, order_id: uuid.UUID) -> list[int]:
    """The compute-unit limits an order tries, in turn, for a signature of its own: `limit`
    plus SIGNATURE_CLAIM_ATTEMPTS distinct offsets in 0..CLAIM_SPREAD-1, from a point of the
    order's own (minus them where plus would pass the maximum)."""
    start = order_id.int % CLAIM_SPREAD
    offsets = ((start + k) % CLAIM_SPREAD for k in range(SIGNATURE_CLAIM_ATTEMPTS))
    above = limit + CLAIM_SPREAD <= MAX_CU_LIMIT
    return [limit + o if above else limit - o for o in offsets]


@dataclass(frozen=True, slots=True)
class OrderToExecute:
    id: uuid.UUID
    order_type: str
    status: OrderStatus
    attempt: int
    token_in: Token
    token_out: Token
    amount_in: int
    slippage_bps: int
    tx_signature: str | None
    min_amount_out: int | None
    created_at_epoch_s: float
    limit_price: Decimal | None = None
    wallet_address: str = ""
    priority_fee: str = "auto"  # "auto" or micro-lamports per compute unit
    tx_bytes: bytes | None = None  # the stored transaction of a `submitted` order (chain)
    tx_lvbh: int | None = None  # its lastValidBlockHeight

    def floor(self, quoted_out: int) -> int:
        """minAmountOut: the quote less the slippage, and for a limit order never below
        amountIn x limitPrice."""
        floor = min_amount_out(quoted_out, self.slippage_bps)
        if self.limit_price is not None:
            limit = limit_floor_base_units(
                self.amount_in, self.token_in, self.token_out, self.limit_price
            )
            floor = max(floor, limit)
        return floor

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


async def load_order(
    records: OrderRecords, order_id: uuid.UUID, resolve: Callable[[str], Awaitable[Token | None]]
) -> OrderToExecute | None:
    """The order as the job needs it; `resolve` finds tokens launched since this process
    started. None for an unknown order or one whose tokens are unknown."""
    row = await records.row(order_id)
    if row is None:
        return None
    token_in, token_out = await resolve(row["token_in"]), await resolve(row["token_out"])
    if token_in is None or token_out is None:
        return None
    return OrderToExecute(
        id=order_id,
        order_type=row["order_type"],
        limit_price=row["limit_price"],
        status=row["status"],
        attempt=row["attempt"],
        token_in=token_in,
        token_out=token_out,
        amount_in=int(row["amount_in"]),
        slippage_bps=row["slippage_bps"],
        tx_signature=row["tx_signature"],
        min_amount_out=None if row["min_amount_out"] is None else int(row["min_amount_out"]),
        created_at_epoch_s=float(row["created"]),
        wallet_address=row["wallet_address"],
        priority_fee=row["priority_fee"] or "auto",
        tx_bytes=None if row["tx_bytes"] is None else bytes(row["tx_bytes"]),
        tx_lvbh=row["tx_last_valid_block_height"],
    )


async def plan_route(pools: ChainPools, mint_in: str, mint_out: str, amount_in: int) -> Plan:
    """The best route against the pools as they are now, with every venue's direct quote
    from the same snapshot; PermanentFailure(NO_ROUTE) when nothing can fill the amount."""
    try:
        snapshot, routes = await pools.routes(mint_in, mint_out, amount_in)
    except NoRoute as exc:
        raise PermanentFailure("NO_ROUTE", str(exc)) from None
    return Plan(routes[0], direct_quotes(snapshot, mint_in, mint_out, amount_in))


@dataclass(frozen=True, slots=True)
class Plan:
    route: Route
    venue_quotes: list[SwapResult]


def routing_data(
    order: OrderToExecute,
    plan: Plan,
    previous_error: PreviousError | None,
    trigger: Trigger | None,
) -> RoutingData:
    """The routing event: every venue's quote, the route chosen, its gain over the best single
    venue, and why this attempt runs (a retry's previous error, a waiting order's trigger)."""
    route = plan.route
    data = RoutingData(
        quotes=[venue_quote_view(q) for q in plan.venue_quotes],
        chosen=route_label(route),
        route=route_view(route),
        best_single_venue_amount_out=order.token_out.format(route.best_single_amount_out),
        gain_bps=route.gain_bps,
        previous_error=previous_error,
        trigger=trigger,  # why a waiting order fired
    )
    log.info(
        "route chosen",
        route=data.chosen,
        amount_out=route.amount_out,
        best_single_venue_out=route.best_single_amount_out,
        gain_bps=route.gain_bps,
        quotes={q.pool_id: q.amount_out for q in plan.venue_quotes},
    )
    return data


@dataclass(frozen=True, slots=True)
class Submitted:
    """What is stored of a transaction before it is sent."""

    signature: str
    raw: bytes
    last_valid_block_height: int


@dataclass
class Executor:
    """What an attempt needs; one per worker process (create_worker). A worker runs many
    attempts at once: their reads, writes and publishes ride together (OrderSteps)."""

    steps: OrderSteps
    pools: ChainPools
    cluster: Cluster
    landings: Landings
    blockhashes: RecentBlockhash
    starter: StarterFunding
    quote_latency_ms: int = 0
    claims: SignatureClaims = field(default_factory=SignatureClaims)
    auto_fees: AutoFees = field(init=False)

    def __post_init__(self) -> None:
        self.auto_fees = AutoFees(self.cluster.rpc.recent_prioritization_fees)

    async def step(
        self,
        order: OrderToExecute,
        to: OrderStatus,
        attempt: int,
        data: EventData,
        fields: OrderFields | None = None,
    ) -> OrderEvent | None:
        events = await self.steps.take(order, order.id, [(to, data)], attempt, fields)
        return events[0] if events else None

    async def fail(
        self, order: OrderToExecute, attempt: int, code: str, message: str
    ) -> OrderEvent | None:
        """Fail the order, unless a transaction it sent lands: a `submitted` order's stored
        transaction is watched until it lands (then it is confirmed) or expires."""
        row = await self.steps.records.row(order.id)
        if row is not None and row["status"] == "submitted" and row["tx_bytes"]:
            sent = _submitted(row)
            outcome = await self.landings.land(
                sent.signature, sent.raw, sent.last_valid_block_height, send=False
            )
            if isinstance(outcome, Landed) and outcome.status.err is None:
                log.warning("not failing: its transaction landed", code=code)
                await self._finish(order, attempt, sent, outcome, sent_at=None)
                return None
        log.warning("order failed", code=code, reason=message)
        return await self.step(
            order,
            "failed",
            attempt,
            FailedData(error=FailureReason(code=code, message=message)),
            OrderFields(failure_code=code, failure_reason=message),
        )

    async def run_attempt(
        self,
        order: OrderToExecute,
        attempt: int,
        previous_error: PreviousError | None,
        trigger: Trigger | None = None,
    ) -> None:
        """Run attempt number `attempt`. Raises OrderFailure; transient ones may be retried."""
        if order.status == "submitted" and order.tx_bytes:
            sent = Submitted(order.tx_signature or "", order.tx_bytes, order.tx_lvbh or 0)
            outcome = await self.landings.land(
                sent.signature, sent.raw, sent.last_valid_block_height
            )
            if isinstance(outcome, Landed):
                await self._finish(order, attempt, sent, outcome, sent_at=None)
                return
            log.info("earlier transaction expired unlanded; routing again")
        await self.starter.ensure(order.wallet_address)
        if self.quote_latency_ms:  # every pool is quoted at once: one round of latency
            await asyncio.sleep(self.quote_latency_ms / 1000)
        mint_in, mint_out = order.token_in.mint, order.token_out.mint
        try:
            pools, routes = await self.pools.routes(mint_in, mint_out, order.amount_in)
        except NoRoute as exc:
            raise PermanentFailure("NO_ROUTE", str(exc)) from None
        price = await self._compute_unit_price(order, routes[0])
        blockhash = await self.blockhashes.get()
        wallet = Pubkey.from_string(order.wallet_address)
        executor = self.cluster.executor.keypair

        for route in routes:  # the best route that fits one transaction
            try:
                builder = route_builder(
                    route,
                    wallet,
                    executor,
                    self.pools.addresses,
                    pools,
                    order.floor(route.amount_out),
                    int(time.time()),
                    blockhash.blockhash,
                    compute_unit_limit=SIMULATION_CU_LIMIT,
                    compute_unit_price=price,
                )
            except RouteTooLarge:
                continue
            break
        else:
            raise PermanentFailure("NO_ROUTE", "no route fits one transaction")
        trial = builder.first
        simulation = await self.cluster.rpc.simulate(bytes(trial))
        if simulation.err is not None:
            raise order_failure(simulation.err, trial, order, order.floor(route.amount_out))
        tx, limit = await self._own_transaction(
            order, builder.at, cu_limit_from_simulation(simulation.units_consumed or 0)
        )
        floor = order.floor(route.amount_out)
        sent = Submitted(str(tx.signatures[0]), bytes(tx), blockhash.last_valid_block_height)
        plan = Plan(route, direct_quotes(pools, mint_in, mint_out, order.amount_in))
        decided: list[tuple[OrderStatus, EventData]] = [
            ("routing", routing_data(order, plan, previous_error, trigger)),
            (
                "building",
                BuildingData(
                    venue=route_label(route),
                    expected_amount_out=order.token_out.format(route.amount_out),
                    min_amount_out=order.token_out.format(floor),
                    slippage_bps=order.slippage_bps,
                    compute_unit_limit=limit,
                    priority_fee_micro_lamports=price,
                    last_valid_block_height=sent.last_valid_block_height,
                ),
            ),
            ("submitted", SubmittedData(tx_signature=sent.signature)),
        ]
        # The signature and the signed bytes are stored before they are sent, so that a retry
        # can always resend them, or learn from the chain that they can never land.
        fields = OrderFields(
            venue=route_label(route),
            min_amount_out=floor,
            tx_signature=sent.signature,
            tx_bytes=sent.raw,
            tx_last_valid_block_height=sent.last_valid_block_height,
        )
        if not await self.steps.take(order, order.id, decided, attempt, fields):
            return
        sent_at = time.monotonic()
        outcome = await self.landings.land(sent.signature, sent.raw, sent.last_valid_block_height)
        crash_point("landed")  # fault tests only
        await self._finish(order, attempt, sent, outcome, sent_at=sent_at, floor=floor)

    async def _own_transaction(
        self, order: OrderToExecute, build: Callable[[int], VersionedTransaction], limit: int
    ) -> tuple[VersionedTransaction, int]:
        """The transaction built with the first of `claim_limits(limit, ...)` whose signature
        this order could claim (another order holding the same bytes refuses it), and that
        limit."""
        for tried in claim_limits(limit, order.id):
            tx = build(tried)
            if await self.claims.claim(str(tx.signatures[0]), order.id):
                return tx, tried
            log.info("signature held by another order; building again", compute_unit_limit=tried)
        raise TransientFailure(
            "TX_NOT_UNIQUE",
            f"{SIGNATURE_CLAIM_ATTEMPTS} builds of the transaction all matched other orders'",
        )

    async def _compute_unit_price(self, order: OrderToExecute, route: Route) -> int:
        """The order's priorityFee; "auto": what recent transactions on the route's pools
        paid (shared.chain.priority_fees)."""
        if order.priority_fee != "auto":
            return int(order.priority_fee)
        return await self.auto_fees.fee(
            frozenset(self.pools.address_of(leg.pool_id) for leg in route.legs)
        )

    async def _finish(
        self,
        order: OrderToExecute,
        attempt: int,
        sent: Submitted,
        outcome: Landed | Expired,
        *,
        sent_at: float | None,
        floor: int | None = None,
    ) -> None:
        if isinstance(outcome, Expired):
            raise TransientFailure(
                "TX_EXPIRED",
                f"the transaction did not land before its blockhash expired "
                f"(block height {outcome.block_height} > {sent.last_valid_block_height})",
            )
        tx = VersionedTransaction.from_bytes(sent.raw)
        if outcome.status.err is not None:
            raise order_failure(outcome.status.err, tx, order, floor or order.min_amount_out or 0)
        info = await self._transaction(sent.signature)
        changes = _wallet_changes(info, order.wallet_address)
        amount_out = changes.get(order.token_out.mint, 0)
        _, price = compute_budget(tx)
        confirmed = ConfirmedData(
            tx_hash=sent.signature,
            amount_out=order.token_out.format(amount_out),
            executed_price=format_price(
                order.token_in, order.token_out, order.amount_in, amount_out
            ),
            slot=info.slot,
            execution_time_ms=0 if sent_at is None else round((time.monotonic() - sent_at) * 1000),
            total_time_ms=round((time.time() - order.created_at_epoch_s) * 1000),
            fee_lamports=info.fee,
            compute_units=info.compute_units_consumed,
            priority_fee_micro_lamports=price,
            balance_changes=[_balance_change(mint, delta) for mint, delta in changes.items()],
        )
        fields = OrderFields(
            amount_out=amount_out,
            fee_lamports=info.fee,
            compute_units=info.compute_units_consumed,
        )
        await self.step(order, "confirmed", attempt, confirmed, fields)

    async def _transaction(self, signature: str) -> TransactionInfo:
        """getTransaction of a landed signature (a node may answer it a moment later)."""
        for _ in range(50):
            info = await self.cluster.rpc.transaction(signature)
            if info is not None:
                return info
            await asyncio.sleep(0.05)  # the status is in; its transaction follows
        raise TransientFailure("TX_UNREADABLE", f"the node has no record of {signature} yet")


def _submitted(row: Any) -> Submitted:
    return Submitted(
        row["tx_signature"], bytes(row["tx_bytes"]), int(row["tx_last_valid_block_height"])
    )


def compute_budget(tx: VersionedTransaction) -> tuple[int | None, int]:
    """The transaction's SetComputeUnitLimit and SetComputeUnitPrice (0 when absent)."""
    message = tx.message
    keys = message.account_keys
    limit, price = None, 0
    for ix in message.instructions:
        if keys[ix.program_id_index] != COMPUTE_BUDGET_PROGRAM or not ix.data:
            continue
        if ix.data[0] == 2:
            limit = int.from_bytes(bytes(ix.data[1:5]), "little")
        elif ix.data[0] == 3:
            price = int.from_bytes(bytes(ix.data[1:9]), "little")
    return limit, price


def _wallet_changes(info: TransactionInfo, wallet: str) -> dict[str, int]:
    """The wallet's token balance changes by mint (base units)."""
    return {
        mint: delta
        for (owner, mint), delta in token_balance_changes(info).items()
        if owner == wallet
    }


def _balance_change(mint: str, delta: int) -> BalanceChange:
    token = find_token(mint)
    if token is None:
        return BalanceChange(symbol=mint, mint=mint, amount=str(delta))
    sign = "-" if delta < 0 else ""
    return BalanceChange(symbol=token.symbol, mint=mint, amount=sign + token.format(abs(delta)))


def order_failure(
    err: Any, tx: VersionedTransaction, order: OrderToExecute, floor: int
) -> PermanentFailure | TransientFailure:
    """The order's failure for a transaction error, as a simulation or the chain reports it."""
    log.info("transaction error", err=err)
    if err in FEE_PAYER_ERRORS:  # the executor cannot pay: an operator's problem, not the order's
        return TransientFailure(
            "EXECUTOR_UNFUNDED", f"the executor cannot pay the network fee ({err}); fund it"
        )
    program, code = _custom_error(err, tx)
    if program is not None and SLIPPAGE_ERRORS.get(program) == code:
        return PermanentFailure(
            "SLIPPAGE_EXCEEDED",
            f"the swap would pay less than minAmountOut "
            f"{order.token_out.format(floor)} {order.token_out.symbol}",
        )
    if program == TOKEN_PROGRAM_ID or code in (TOKEN_INSUFFICIENT_FUNDS, TOKEN_OWNER_MISMATCH):
        if code == TOKEN_OWNER_MISMATCH:
            return PermanentFailure(
                "NOT_APPROVED",
                f"the wallet has not approved the executor on its {order.token_in.symbol} "
                f"account (SPL Token Approve; GET /api/chain names the executor)",
            )
        if code == TOKEN_INSUFFICIENT_FUNDS:
            return _insufficient(order)
    if _missing_account(err):
        return _insufficient(order)
    return PermanentFailure("TX_FAILED", f"the transaction failed: {err}")


def _insufficient(order: OrderToExecute) -> PermanentFailure:
    return PermanentFailure(
        "INSUFFICIENT_FUNDS",
        f"the wallet holds less than {order.token_in.format(order.amount_in)} "
        f"{order.token_in.symbol} that the executor may spend",
    )


def _custom_error(err: Any, tx: VersionedTransaction) -> tuple[Pubkey | None, int | None]:
    """(the failing instruction's program, its custom error code) from Solana's UI error
    JSON {"InstructionError": [index, {"Custom": code}]}; Nones when it is another error."""
    if not isinstance(err, dict) or "InstructionError" not in err:
        return None, None
    index, detail = err["InstructionError"]
    message = tx.message
    program = message.account_keys[message.instructions[index].program_id_index]
    if isinstance(detail, dict) and "Custom" in detail:
        return program, int(detail["Custom"])
    return program, None


def _missing_account(err: Any) -> bool:
    """An account an instruction spends from does not exist, or is no token account."""
    if not isinstance(err, dict) or "InstructionError" not in err:
        return False
    detail = err["InstructionError"][1]
    return detail in ("UninitializedAccount", "InvalidAccountData", "AccountNotInitialized")


@dataclass(frozen=True, slots=True)
class ChainRecord:
    """One transaction an order sent, as the chain knows it now."""

    signature: str
    status: Literal["settled", "slippage", "failed", "dead", "pending"]
    amount_out: int | None  # base units the wallet received, when settled
    slot: int | None  # where it landed


async def order_chain_transactions(cluster: Cluster, order_id: str) -> list[ChainRecord]:
    """Every transaction the order sent (each attempt's `submitted` signature, oldest first),
    asked of the chain: landed and paid (`settled`), landed and refused (`slippage`,
    `failed`), never landed and expired (`dead`: each earlier attempt's, since the order was
    routed again only after it expired), or still able to land (`pending`)."""
    async with pool().acquire() as conn:
        order = await conn.fetchrow(
            "SELECT wallet_address, token_out, tx_signature, tx_bytes, tx_last_valid_block_height"
            " FROM orders WHERE id = $1",
            uuid.UUID(order_id),
        )
        rows = await conn.fetch(
            "SELECT data->>'txSignature' AS signature FROM order_events"
            " WHERE order_id = $1 AND status = 'submitted' ORDER BY seq",
            uuid.UUID(order_id),
        )
    signatures = [row["signature"] for row in rows]
    if order is None or not signatures:
        return []
    rpc = cluster.rpc
    height = await rpc.block_height()  # before the statuses, as Landings reads them
    statuses = await rpc.signature_statuses(signatures)
    records = []
    for signature, status in zip(signatures, statuses, strict=True):
        if status is None:
            current = signature == order["tx_signature"]
            open_ = current and height <= (order["tx_last_valid_block_height"] or 0)
            records.append(ChainRecord(signature, "pending" if open_ else "dead", None, None))
            continue
        if status.err is not None:
            tx = VersionedTransaction.from_bytes(bytes(order["tx_bytes"]))
            program, code = _custom_error(status.err, tx)
            refused = program is not None and SLIPPAGE_ERRORS.get(program) == code
            records.append(
                ChainRecord(signature, "slippage" if refused else "failed", None, status.slot)
            )
            continue
        info = await rpc.transaction(signature)
        paid = (
            0
            if info is None
            else _wallet_changes(info, order["wallet_address"]).get(order["token_out"], 0)
        )
        records.append(ChainRecord(signature, "settled", paid, status.slot))
    return records
