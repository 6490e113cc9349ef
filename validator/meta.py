"""Run one transaction in LiteSVM and describe it as Solana's transaction status meta.

LiteSVM returns logs, compute units, inner instructions and the fee; balances before and after
are read around the call, as a bank records them: `preBalances`/`postBalances` for every
account of the message (static keys, then loaded writable, then loaded readonly), and
`preTokenBalances`/`postTokenBalances` for those that are SPL token accounts.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import base58
from solders.litesvm import LiteSVM
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction
from solders.transaction_metadata import TransactionMetadata

from validator.errors import tx_error_json
from validator.spl import TOKEN_PROGRAM_ID, ui_token_amount
from validator.txinfo import Incoming, resolve_lookups

TOKEN_PROGRAM_STR = str(TOKEN_PROGRAM_ID)


@dataclass(slots=True)
class Landed:
    """A transaction that made it into a slot (successful, or failed with its fee charged)."""

    sig: str
    slot: int
    index: int
    err: Any
    raw: bytes
    meta: dict[str, Any]
    writable: list[Pubkey]
    cu_price: int


class Reader:
    """Balances and token balances of accounts, with what never changes cached."""

    def __init__(self, svm: LiteSVM) -> None:
        self.svm = svm
        self.executables: set[Pubkey] = set()  # programs: their lamports are all we read
        self._decimals: dict[bytes, int] = {}

    def decimals(self, mint: bytes) -> int:
        cached = self._decimals.get(mint)
        if cached is None:
            account = self.svm.get_account(Pubkey(mint))
            cached = account.data[44] if account is not None and len(account.data) >= 45 else 0
            self._decimals[mint] = cached
        return cached

    def read(self, index: int, key: Pubkey, tokens: list[dict[str, Any]]) -> int:
        """The account's lamports; appends its token balance to `tokens` if it has one."""
        if key in self.executables:
            return self.svm.get_balance(key) or 0
        account = self.svm.get_account(key)
        if account is None:
            return 0
        if account.executable:
            self.executables.add(key)
        elif account.owner == TOKEN_PROGRAM_ID:
            data = account.data
            if len(data) == 165 and data[108]:
                amount = int.from_bytes(data[64:72], "little")
                tokens.append(
                    {
                        "accountIndex": index,
                        "mint": str(Pubkey(data[0:32])),
                        "uiTokenAmount": ui_token_amount(amount, self.decimals(data[0:32])),
                        "owner": str(Pubkey(data[32:64])),
                        "programId": TOKEN_PROGRAM_STR,
                    }
                )
        return account.lamports


def run(reader: Reader, item: Incoming) -> tuple[Any, dict[str, Any], list[Pubkey]] | None:
    """Execute `item`; (err, meta, writable keys) if it landed, None if it never could (fee
    unpaid, a missing account or lookup table: the runtime drops it, it has no status)."""
    svm = reader.svm
    keys, writable = item.keys, item.writable
    loaded_w: list[Pubkey] = []
    loaded_r: list[Pubkey] = []
    if item.lookups:
        try:
            loaded_w, loaded_r = resolve_lookups(item.lookups, _data_getter(svm))
        except LookupError:
            return None
        keys = keys + loaded_w + loaded_r
        writable = writable + [True] * len(loaded_w) + [False] * len(loaded_r)
    pre_tokens: list[dict[str, Any]] = []
    pre = [reader.read(i, key, pre_tokens) for i, key in enumerate(keys)]
    result = svm.send_transaction(item.tx)
    if isinstance(result, TransactionMetadata):
        err, meta = None, result
    else:
        if (svm.get_balance(keys[0]) or 0) >= pre[0]:
            return None  # no fee was charged: it was never processed
        err, meta = tx_error_json(result.err()), result.meta()
    post_tokens: list[dict[str, Any]] = []
    post = list(pre)
    readonly_tokens = {t["accountIndex"]: t for t in pre_tokens if not writable[t["accountIndex"]]}
    for i, key in enumerate(keys):
        if writable[i]:
            post[i] = reader.read(i, key, post_tokens)
        elif i in readonly_tokens:
            post_tokens.append(readonly_tokens[i])
    out: dict[str, Any] = {
        "err": err,
        "status": {"Ok": None} if err is None else {"Err": err},
        "fee": meta.fee(),
        "preBalances": pre,
        "postBalances": post,
        "innerInstructions": inner_instructions(meta),
        "logMessages": meta.logs(),
        "preTokenBalances": pre_tokens,
        "postTokenBalances": post_tokens,
        "rewards": [],
        "loadedAddresses": {
            "writable": [str(k) for k in loaded_w],
            "readonly": [str(k) for k in loaded_r],
        },
        "computeUnitsConsumed": meta.compute_units_consumed(),
    }
    return_data = meta.return_data()
    if return_data.data:
        out["returnData"] = {
            "programId": str(return_data.program_id),
            "data": [base64.b64encode(bytes(return_data.data)).decode(), "base64"],
        }
    return err, out, [k for k, w in zip(keys, writable, strict=True) if w]


def _data_getter(svm: LiteSVM) -> Callable[[Pubkey], bytes | None]:
    def get(key: Pubkey) -> bytes | None:
        account = svm.get_account(key)
        return None if account is None else account.data

    return get


def inner_instructions(meta: TransactionMetadata) -> list[dict[str, Any]]:
    out = []
    for index, inner in enumerate(meta.inner_instructions()):
        if inner:
            out.append(
                {
                    "index": index,
                    "instructions": [
                        {
                            "programIdIndex": ix.instruction().program_id_index,
                            "accounts": list(ix.instruction().accounts),
                            "data": base58.b58encode(ix.instruction().data).decode(),
                            "stackHeight": ix.stack_height(),
                        }
                        for ix in inner
                    ],
                }
            )
    return out


def ui_transaction(tx: VersionedTransaction) -> dict[str, Any]:
    """The `json` encoding of a transaction (UiTransaction with a raw message)."""
    message = tx.message
    header = message.header
    ui: dict[str, Any] = {
        "header": {
            "numRequiredSignatures": header.num_required_signatures,
            "numReadonlySignedAccounts": header.num_readonly_signed_accounts,
            "numReadonlyUnsignedAccounts": header.num_readonly_unsigned_accounts,
        },
        "accountKeys": [str(k) for k in message.account_keys],
        "recentBlockhash": str(message.recent_blockhash),
        "instructions": [
            {
                "programIdIndex": ix.program_id_index,
                "accounts": list(ix.accounts),
                "data": base58.b58encode(ix.data).decode(),
                "stackHeight": None,
            }
            for ix in message.instructions
        ],
    }
    if isinstance(message, MessageV0):
        ui["addressTableLookups"] = [
            {
                "accountKey": str(lookup.account_key),
                "writableIndexes": list(bytes(lookup.writable_indexes)),
                "readonlyIndexes": list(bytes(lookup.readonly_indexes)),
            }
            for lookup in message.address_table_lookups
        ]
    return {"signatures": [str(s) for s in tx.signatures], "message": ui}


def encode_transaction(raw: bytes, encoding: str) -> Any:
    if encoding == "base64":
        return [base64.b64encode(raw).decode(), "base64"]
    if encoding == "base58":
        return [base58.b58encode(raw).decode(), "base58"]
    return ui_transaction(VersionedTransaction.from_bytes(raw))
