"""GET /api/chain/transactions?orderId=: the chain's ledger for one order, read-only (with
EXECUTION_CHAIN=solana: each transaction the order sent, asked of the chain itself; see
shared/execution_chain.order_chain_transactions).

Every transaction the chain decided for the order, oldest first: `settled` (the swap moved the
pools and paid `amountOut`), `slippage` (it landed and reverted: nothing moved) or `dead`
(declared dropped before landing: it can never land). Each entry is written in the same atomic
step as the decision (shared/dex/chain.py), so a correct engine shows at most one `settled`
entry per order. The chain knows signatures, not orders: an order it never saw (unknown, or not
executed yet) has an empty list, not a 404. `amountOut` is in base units of the order's output
token (as in /api/quote), null when nothing was paid.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from litestar import get
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter

from shared.dex.chain import TxStatus, order_transactions
from shared.execution_chain import order_chain_transactions
from shared.schemas import ErrorBody, Wire
from shared.web.state import ApiState


class ChainTransaction(Wire):
    signature: str
    status: TxStatus | Literal["failed", "pending"]
    amount_out: str | None
    slot: int | None  # None for a transaction that never landed (on the chain)


class ChainTransactions(Wire):
    order_id: str
    transactions: list[ChainTransaction]


@get(
    "/api/chain/transactions",
    summary="The simulated chain's ledger for an order: every decided transaction",
    description="`settled`, `slippage` (reverted, nothing moved) or `dead` (dropped before "
    "landing), oldest first; an order the chain never saw has an empty list. `amountOut` in "
    "base units of the output token.",
    responses={400: ResponseSpec(ErrorBody), 503: ResponseSpec(ErrorBody)},
)
async def chain_transactions(
    state_: ApiState,
    order_id: Annotated[uuid.UUID, Parameter(query="orderId", description="the order's id")],
) -> ChainTransactions:
    if state_.settings.execution_chain == "solana":
        on_chain = await order_chain_transactions(state_.cluster, str(order_id))
        return ChainTransactions(
            order_id=str(order_id),
            transactions=[
                ChainTransaction(
                    signature=r.signature,
                    status=r.status,
                    amount_out=None if r.amount_out is None else str(r.amount_out),
                    slot=r.slot,
                )
                for r in on_chain
            ],
        )
    records = await order_transactions(state_.redis, state_.settings.redis_namespace, str(order_id))
    return ChainTransactions(
        order_id=str(order_id),
        transactions=[
            ChainTransaction(
                signature=signature,
                status=record.status,
                amount_out=str(record.amount_out) if record.status == "settled" else None,
                slot=record.slot,
            )
            for signature, record in records
        ],
    )
