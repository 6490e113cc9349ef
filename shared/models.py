"""Piccolo tables: the schema. Amounts are integer base units in NUMERIC columns, never floats.

The migrations in infra/migrations create these tables; change both together
(`piccolo migrations new orders --auto`, then review and commit). Classes are named `...Row`:
a row as stored, apart from what goes on the wire (shared/schemas.py). The counters of
finished orders (`order_totals`, `order_confirmations`) have composite keys, which Piccolo's
tables cannot express: their migration creates them in SQL. So does `wallet_fundings` (keyed by
chain and wallet: which wallets the local faucet funded, on which chain).
"""

from __future__ import annotations

from piccolo.columns import (
    JSONB,
    UUID,
    BigInt,
    BigSerial,
    Bytea,
    ForeignKey,
    Integer,
    Numeric,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.table import Table

from shared.db import DB

# 40 digits hold any u128 token amount: base units of every SPL token fit.
BASE_UNITS = (40, 0)


class OrderRow(Table, tablename="orders", db=DB):
    id = UUID(primary_key=True)
    order_type = Varchar(length=16)
    status = Varchar(length=16)
    wallet_address = Varchar(length=44)
    token_in = Varchar(length=44, help_text="mint address")
    token_out = Varchar(length=44, help_text="mint address")
    amount_in = Numeric(digits=BASE_UNITS, help_text="base units of token_in")
    slippage_bps = Integer()
    limit_price = Numeric(digits=(38, 18), null=True, default=None)
    max_price_impact_bps = Integer(null=True, default=None)
    expires_at = Timestamptz(null=True, default=None)
    attempt = Integer(default=0, help_text="attempts started so far")
    last_seq = Integer(default=0, help_text="seq of the newest event")
    venue = Varchar(length=64, null=True, default=None)
    min_amount_out = Numeric(digits=BASE_UNITS, null=True, default=None)
    amount_out = Numeric(digits=BASE_UNITS, null=True, default=None)
    tx_signature = Varchar(length=90, null=True, default=None)
    failure_code = Varchar(length=64, null=True, default=None)
    failure_reason = Text(null=True, default=None)
    priority_fee = Varchar(
        length=20, null=True, default=None, help_text='"auto" or micro-lamports per unit'
    )
    tx_bytes = Bytea(null=True, default=None, help_text="the signed transaction, as sent")
    tx_last_valid_block_height = BigInt(null=True, default=None)
    fee_lamports = BigInt(null=True, default=None, help_text="paid by the executor")
    compute_units = Integer(null=True, default=None, help_text="consumed by the transaction")
    created_at = Timestamptz()
    updated_at = Timestamptz()


class OrderEventRow(Table, tablename="order_events", db=DB):
    id = BigSerial(primary_key=True)
    order_id = ForeignKey(references=OrderRow, null=False)
    seq = Integer()
    status = Varchar(length=16)
    attempt = Integer()
    data = JSONB(default={})
    created_at = Timestamptz()


class IdempotencyKeyRow(Table, tablename="idempotency_keys", db=DB):
    """The first answer to a submit with an Idempotency-Key, kept 48 hours."""

    key = Varchar(length=255, primary_key=True)
    request_hash = Varchar(length=64, help_text="sha256 of the decoded request, hex")
    order_id = UUID()
    created_at = Timestamptz()


class OrderSignatureRow(Table, tablename="order_signatures", db=DB):
    """The order a transaction signature belongs to, claimed before the transaction is stored
    and sent (shared/orders/signatures.py): one order per signature. Created in SQL by its
    migration."""

    signature = Varchar(length=90, primary_key=True)
    order_id = UUID()
    created_at = Timestamptz()
