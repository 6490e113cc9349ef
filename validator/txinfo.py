"""What the scheduler and the ledger need to know about a transaction before running it.

`Incoming` is a decoded, signature-checked transaction waiting for its slot: its priority (the
compute-unit price), the compute units it asks for (what the slot budget counts), its accounts
and which are writable (what a landed transaction may have changed, so what is persisted).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from solders.hash import Hash
from solders.message import Message, MessageV0
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

COMPUTE_BUDGET_ID = Pubkey.from_string("ComputeBudget111111111111111111111111111111")
ADDRESS_LOOKUP_TABLE_ID = Pubkey.from_string("AddressLookupTab1e1111111111111111111111111")
DEFAULT_INSTRUCTION_CU = 200_000  # the runtime's default limit per instruction without a request
MAX_TRANSACTION_CU = 1_400_000
LOOKUP_TABLE_META_SIZE = 56


@dataclass(slots=True)
class Incoming:
    tx: VersionedTransaction
    raw: bytes
    sig: str
    blockhash: Hash
    keys: list[Pubkey]  # static account keys, in message order
    writable: list[bool]  # per static key
    cu_price: int  # micro-lamports per compute unit: the priority
    cu_limit: int
    seq: int = 0  # arrival order: ties in price keep it
    ready_at: float = 0.0  # monotonic time before which it may not land (execution latency)
    internal: bool = False  # the faucet's own: never dropped, no latency
    lookups: list[Any] = field(default_factory=list)  # a v0 message's address table lookups
    # Run right after the transaction lands, inside its slot (the faucet's delegate record);
    # returns the accounts it wrote, which are persisted with the slot.
    on_landed: Callable[[], list[Pubkey]] | None = None


def compute_budget(keys: list[Pubkey], message: Message | MessageV0) -> tuple[int, int]:
    """(compute-unit price, compute-unit limit) as the runtime reads ComputeBudget instructions."""
    price, limit, others = 0, None, 0
    for ix in message.instructions:
        if keys[ix.program_id_index] != COMPUTE_BUDGET_ID:
            others += 1
            continue
        data = ix.data
        if data[:1] == b"\x02" and len(data) >= 5:
            (limit,) = struct.unpack_from("<I", data, 1)
        elif data[:1] == b"\x03" and len(data) >= 9:
            (price,) = struct.unpack_from("<Q", data, 1)
    if limit is None:
        limit = DEFAULT_INSTRUCTION_CU * others
    return price, min(limit, MAX_TRANSACTION_CU)


def writable_flags(keys: list[Pubkey], message: Message | MessageV0) -> list[bool]:
    """Writability from the header, with invoked programs demoted as the runtime does."""
    header = message.header
    signers = header.num_required_signatures
    signed_writable = signers - header.num_readonly_signed_accounts
    unsigned_writable = len(keys) - header.num_readonly_unsigned_accounts
    flags = [i < signed_writable or signers <= i < unsigned_writable for i in range(len(keys))]
    for ix in message.instructions:
        flags[ix.program_id_index] = False
    return flags


def inspect(tx: VersionedTransaction, raw: bytes) -> Incoming:
    message = tx.message
    keys = list(message.account_keys)
    price, limit = compute_budget(keys, message)
    lookups = list(message.address_table_lookups) if isinstance(message, MessageV0) else []
    return Incoming(
        tx=tx,
        raw=raw,
        sig=str(tx.signatures[0]),
        blockhash=message.recent_blockhash,
        keys=keys,
        writable=writable_flags(keys, message),
        cu_price=price,
        cu_limit=limit,
        lookups=lookups,
    )


def lookup_table_addresses(data: bytes) -> list[Pubkey]:
    body = data[LOOKUP_TABLE_META_SIZE:]
    return [Pubkey(body[i : i + 32]) for i in range(0, len(body) - 31, 32)]


def resolve_lookups(
    lookups: list[Any], get_data: Callable[[Pubkey], bytes | None]
) -> tuple[list[Pubkey], list[Pubkey]]:
    """(loaded writable, loaded readonly) addresses of a v0 message; LookupError if a table is
    missing or an index is out of range (the transaction then cannot load)."""
    writable: list[Pubkey] = []
    readonly: list[Pubkey] = []
    for lookup in lookups:
        data = get_data(lookup.account_key)
        if data is None:
            raise LookupError("AddressLookupTableNotFound")
        table = lookup_table_addresses(data)
        try:
            writable.extend(table[i] for i in bytes(lookup.writable_indexes))
            readonly.extend(table[i] for i in bytes(lookup.readonly_indexes))
        except IndexError:
            raise LookupError("InvalidAddressLookupTableIndex") from None
    return writable, readonly
