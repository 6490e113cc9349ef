"""GET /api/chain/transactions?orderId=: the simulated chain's ledger for one order, read-only.

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
from typing import Annotated

from litestar import get
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter

from shared.dex.chain import TxStatus, order_transactions
from shared.schemas import ErrorBody, Wire
from shared.web.state import ApiState


class ChainTransaction(Wire):
    signature: str
    status: TxStatus
    amount_out: str | None
    slot: int


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
