"""GET /api/chain/transactions?orderId=: the chain's ledger for one order, read-only: each
transaction the order sent, asked of the chain itself (shared/execution.order_chain_transactions).

Every transaction the order sent, oldest first: `settled` (it landed and paid `amountOut`),
`slippage` (it landed and the venue refused it below minAmountOut: nothing moved), `failed`
(landed with another error), `dead` (never landed and its blockhash expired: it can never
land) or `pending` (it can still land). A correct engine shows at most one `settled` entry per
order: an order is routed again only once its previous transaction is `dead`. The chain knows
signatures, not orders: an order that sent nothing (unknown, or not executed yet) has an empty
list, not a 404. `amountOut` is in base units of the order's output token (as in /api/quote),
null when nothing was paid.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from litestar import get
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter

from shared.execution import order_chain_transactions
from shared.schemas import ErrorBody, Wire
from shared.web.state import ApiState


class ChainTransaction(Wire):
    signature: str
    status: Literal["settled", "slippage", "failed", "dead", "pending"]
    amount_out: str | None
    slot: int | None  # None for a transaction that never landed


class ChainTransactions(Wire):
    order_id: str
    transactions: list[ChainTransaction]


@get(
    "/api/chain/transactions",
    summary="The chain's ledger for an order: every transaction it sent",
    description="`settled`, `slippage` (refused below minAmountOut, nothing moved), `failed`, "
    "`dead` (never landed, expired) or `pending`, oldest first; an order that sent nothing has "
    "an empty list. `amountOut` in base units of the output token.",
    responses={400: ResponseSpec(ErrorBody), 503: ResponseSpec(ErrorBody)},
)
async def chain_transactions(
    state_: ApiState,
    order_id: Annotated[uuid.UUID, Parameter(query="orderId", description="the order's id")],
) -> ChainTransactions:
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
