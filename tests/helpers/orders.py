"""Orders made directly in a test, without engine processes: a new order, and this process's
own road to the orders tables."""

from __future__ import annotations

from shared.orders.records import OrderRecords
from shared.orders.submission import NewOrder
from shared.tokens import token_by_symbol
from tests.helpers.engine import WALLET

RECORDS = OrderRecords()  # the test process's road to the orders tables


def new_order() -> NewOrder:
    return NewOrder(
        order_type="market",
        token_in=token_by_symbol("SOL"),
        token_out=token_by_symbol("USDC"),
        amount_in=1_500_000_000,
        slippage_bps=50,
        wallet_address=WALLET,
    )
