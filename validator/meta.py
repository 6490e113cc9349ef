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
import msgspec
from solders.litesvm import LiteSVM
from solders.pubkey import Pubkey
from solders.transaction_metadata import TransactionMetadata

from validator.errors import tx_error_json
from validator.spl import TOKEN_PROGRAM_ID, ui_token_amount
from validator.txinfo import Incoming, resolve_lookups

TOKEN_PROGRAM_STR = str(TOKEN_PROGRAM_ID)


TokenBalance = tuple[int, bytes, bytes, int]  # (account index, mint, owner, amount)
InnerInstruction = tuple[int, bytes, bytes, "int | None"]  # (program index, accounts, data, h)


class RawMeta(msgspec.Struct, array_like=True):
    """What a bank records about a landed transaction, captured cheaply while it runs; the
    UI form (`ui_meta`) is built only when someone asks (getTransaction)."""

    err: Any
    fee: int
    units: int
    logs: list[str]
    pre: list[int]
    post: list[int]
    pre_tokens: list[TokenBalance]
    post_tokens: list[TokenBalance]
    inner: list[tuple[int, list[InnerInstruction]]]
    return_data: tuple[bytes, bytes] | None = None  # (program id, data)
    loaded_writable: list[bytes] = []
    loaded_readonly: list[bytes] = []


encode_meta = msgspec.msgpack.Encoder().encode
decode_meta = msgspec.msgpack.Decoder(RawMeta).decode


@dataclass(slots=True)
class Landed:
    """A transaction that made it into a slot (successful, or failed with its fee charged)."""

    sig: str
    slot: int
    index: int
    err: Any
    raw: bytes
    meta: RawMeta
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
            if account is None or len(account.data) < 45:
                return 0  # no mint (yet): not cached, a mint may be created there later
            cached = self._decimals[mint] = account.data[44]  # a mint's decimals never change
        return cached

    def read(self, index: int, key: Pubkey, tokens: list[TokenBalance]) -> int:
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
                tokens.append(
                    (index, data[0:32], data[32:64], int.from_bytes(data[64:72], "little"))
                )
        return account.lamports


def run(reader: Reader, item: Incoming) -> tuple[RawMeta, list[Pubkey]] | None:
    """Execute `item`; (meta, writable keys) if it landed, None if it never could (fee
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
    pre_tokens: list[TokenBalance] = []
    pre = [reader.read(i, key, pre_tokens) for i, key in enumerate(keys)]
    result = svm.send_transaction(item.tx)
    if isinstance(result, TransactionMetadata):
        err, meta = None, result
    else:
        if (svm.get_balance(keys[0]) or 0) >= pre[0]:
            return None  # no fee was charged: it was never processed
        err, meta = tx_error_json(result.err()), result.meta()
    post_tokens: list[TokenBalance] = []
    post = list(pre)
    readonly_tokens = {t[0]: t for t in pre_tokens if not writable[t[0]]}
    for i, key in enumerate(keys):
        if writable[i]:
            post[i] = reader.read(i, key, post_tokens)
        elif i in readonly_tokens:
            post_tokens.append(readonly_tokens[i])
    raw = RawMeta(
        err,
        meta.fee(),
        meta.compute_units_consumed(),
        meta.logs(),
        pre,
        post,
        pre_tokens,
        post_tokens,
        capture_inner(meta),
    )
    return_data = meta.return_data()
    if return_data.data:
        raw.return_data = (bytes(return_data.program_id), bytes(return_data.data))
    if loaded_w or loaded_r:
        raw.loaded_writable = [bytes(k) for k in loaded_w]
        raw.loaded_readonly = [bytes(k) for k in loaded_r]
    return raw, [k for k, w in zip(keys, writable, strict=True) if w]


def _data_getter(svm: LiteSVM) -> Callable[[Pubkey], bytes | None]:
    def get(key: Pubkey) -> bytes | None:
        account = svm.get_account(key)
        return None if account is None else account.data

    return get


def capture_inner(meta: TransactionMetadata) -> list[tuple[int, list[InnerInstruction]]]:
    out = []
    for index, inner in enumerate(meta.inner_instructions()):
        if inner:
            compiled = [(ix.instruction(), ix.stack_height()) for ix in inner]
            out.append(
                (index, [(c.program_id_index, bytes(c.accounts), c.data, h) for c, h in compiled])
            )
    return out


def ui_inner(inner: list[tuple[int, list[InnerInstruction]]]) -> list[dict[str, Any]]:
    return [
        {
            "index": index,
            "instructions": [
                {
                    "programIdIndex": program,
                    "accounts": list(accounts),
                    "data": base58.b58encode(data).decode(),
                    "stackHeight": height,
                }
                for program, accounts, data, height in instructions
            ],
        }
        for index, instructions in inner
    ]


def _ui_tokens(tokens: list[TokenBalance], decimals: Callable[[bytes], int]) -> list[Any]:
    return [
        {
            "accountIndex": index,
            "mint": str(Pubkey(mint)),
            "uiTokenAmount": ui_token_amount(amount, decimals(mint)),
            "owner": str(Pubkey(owner)),
            "programId": TOKEN_PROGRAM_STR,
        }
        for index, mint, owner, amount in tokens
    ]


def ui_meta(raw: RawMeta, decimals: Callable[[bytes], int]) -> dict[str, Any]:
    """Solana's UiTransactionStatusMeta."""
    out: dict[str, Any] = {
        "err": raw.err,
        "status": {"Ok": None} if raw.err is None else {"Err": raw.err},
        "fee": raw.fee,
        "preBalances": raw.pre,
        "postBalances": raw.post,
        "innerInstructions": ui_inner(raw.inner),
        "logMessages": raw.logs,
        "preTokenBalances": _ui_tokens(raw.pre_tokens, decimals),
        "postTokenBalances": _ui_tokens(raw.post_tokens, decimals),
        "rewards": [],
        "loadedAddresses": {
            "writable": [str(Pubkey(k)) for k in raw.loaded_writable],
            "readonly": [str(Pubkey(k)) for k in raw.loaded_readonly],
        },
        "computeUnitsConsumed": raw.units,
    }
    if raw.return_data is not None:
        program, data = raw.return_data
        out["returnData"] = {
            "programId": str(Pubkey(program)),
            "data": [base64.b64encode(data).decode(), "base64"],
        }
    return out
