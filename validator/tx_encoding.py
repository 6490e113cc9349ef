"""Transactions as getTransaction encodes them: base64, base58, `json` (a raw message, account
indexes) and `jsonParsed` (account keys with their roles; instructions of any program shown
partially decoded, with account addresses, which is a valid form of Solana's parsed output)."""

from __future__ import annotations

import base64
from typing import Any

import base58
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from validator.meta import RawMeta, ui_meta
from validator.txinfo import writable_flags


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


def _partially_decoded(program: str, accounts: list[str], data: bytes, height: Any) -> Any:
    return {
        "programId": program,
        "accounts": accounts,
        "data": base58.b58encode(data).decode(),
        "stackHeight": height,
    }


def parsed_transaction(
    tx: VersionedTransaction, meta: RawMeta, decimals: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(jsonParsed transaction, meta with jsonParsed inner instructions)."""
    message = tx.message
    static = list(message.account_keys)
    signers = message.header.num_required_signatures
    flags = writable_flags(static, message)
    keys = [
        {"pubkey": str(k), "writable": flags[i], "signer": i < signers, "source": "transaction"}
        for i, k in enumerate(static)
    ]
    for loaded, writable in ((meta.loaded_writable, True), (meta.loaded_readonly, False)):
        keys += [
            {
                "pubkey": str(Pubkey(k)),
                "writable": writable,
                "signer": False,
                "source": "lookupTable",
            }
            for k in loaded
        ]
    names = [k["pubkey"] for k in keys]
    ui: dict[str, Any] = {
        "accountKeys": keys,
        "recentBlockhash": str(message.recent_blockhash),
        "instructions": [
            _partially_decoded(
                names[ix.program_id_index], [names[a] for a in ix.accounts], ix.data, None
            )
            for ix in message.instructions
        ],
    }
    if isinstance(message, MessageV0):
        ui["addressTableLookups"] = ui_transaction(tx)["message"]["addressTableLookups"]
    ui_meta_ = ui_meta(meta, decimals)
    ui_meta_["innerInstructions"] = [
        {
            "index": index,
            "instructions": [
                _partially_decoded(names[p], [names[a] for a in accounts], data, height)
                for p, accounts, data, height in instructions
            ],
        }
        for index, instructions in meta.inner
    ]
    return {"signatures": [str(s) for s in tx.signatures], "message": ui}, ui_meta_
