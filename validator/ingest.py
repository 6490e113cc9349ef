"""sendTransaction and simulateTransaction: decode, check, simulate, queue.

Order of checks on a send, as Solana's RPC does them: decode and sanitize (-32602), ed25519
signatures (-32003), then, unless `skipPreflight`, the preflight: a signature that already
landed is AlreadyProcessed, an unknown or expired blockhash BlockhashNotFound, and a failing
simulation returns its err and logs, all as -32002. With `skipPreflight` those transactions are
answered with their signature and never land, as a leader drops them. A resend of a signature
that is pending or landed is never queued (nor executed) again.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import base58
from solders.transaction import VersionedTransaction
from solders.transaction_metadata import FailedTransactionMetadata

from validator.errors import (
    PREFLIGHT_FAILURE,
    SIGNATURE_VERIFICATION_FAILURE,
    RpcError,
    error_message,
    invalid_params,
    tx_error_json,
)
from validator.runtime import Chain
from validator.txinfo import Incoming, inspect

MAX_BASE58_SIZE = 1683  # base58 of PACKET_DATA_SIZE bytes
MAX_BASE64_SIZE = 1644
PACKET_DATA_SIZE = 1232


def decode_wire(encoded: Any, encoding: str) -> bytes:
    if not isinstance(encoded, str):
        raise invalid_params("Invalid params: transaction must be a string")
    try:
        if encoding == "base64":
            if len(encoded) > MAX_BASE64_SIZE:
                raise invalid_params(
                    f"base64 encoded solana_transaction::versioned::VersionedTransaction too "
                    f"large: {len(encoded)} bytes (max: encoded/raw {MAX_BASE64_SIZE}/"
                    f"{PACKET_DATA_SIZE})"
                )
            return base64.b64decode(encoded, validate=True)
        if encoding in ("base58", "binary"):
            if len(encoded) > MAX_BASE58_SIZE:
                raise invalid_params("base58 encoded transaction too large")
            return base58.b58decode(encoded)
    except (binascii.Error, ValueError):
        raise invalid_params(f"invalid {encoding} encoding: transaction") from None
    raise invalid_params(f"Invalid params: unknown encoding {encoding!r}")


def decode_transaction(raw: bytes) -> VersionedTransaction:
    try:
        tx = VersionedTransaction.from_bytes(raw)
    except Exception as exc:  # solders raises its own error types for malformed bytes
        raise invalid_params(
            f"failed to deserialize solana_transaction::versioned::VersionedTransaction: {exc}"
        ) from None
    try:
        tx.sanitize()
    except Exception as exc:
        raise invalid_params(f"invalid transaction: {exc}") from None
    if not tx.signatures:
        raise invalid_params("invalid transaction: Transaction requires a fee payer signature")
    return tx


def simulation_value(
    result: Any, err: Any = None, units: int | None = None, accounts: Any = None
) -> dict[str, Any]:
    """RpcSimulateTransactionResult from LiteSVM's simulation (or a bare `err`)."""
    logs: list[str] = []
    fee = None
    if isinstance(result, FailedTransactionMetadata):
        err, meta = tx_error_json(result.err()), result.meta()
    elif result is not None:
        meta = result.meta()
    else:
        meta = None
    if meta is not None:
        logs, units, fee = meta.logs(), meta.compute_units_consumed(), meta.fee()
        return_data = meta.return_data()
    value: dict[str, Any] = {
        "err": err,
        "logs": logs,
        "accounts": accounts,
        "unitsConsumed": units if units is not None else 0,
        "returnData": None,
        "innerInstructions": None,
        "replacementBlockhash": None,
    }
    if fee is not None:
        value["fee"] = fee
    if meta is not None and return_data.data:
        value["returnData"] = {
            "programId": str(return_data.program_id),
            "data": [base64.b64encode(bytes(return_data.data)).decode(), "base64"],
        }
    return value


def preflight_failure(value: dict[str, Any]) -> RpcError:
    return RpcError(
        PREFLIGHT_FAILURE, f"Transaction simulation failed: {error_message(value['err'])}", value
    )


def send(chain: Chain, raw: bytes, *, preflight: bool) -> str:
    tx = decode_transaction(raw)
    item: Incoming = inspect(tx, raw)
    sig = item.sig
    if chain.statuses.get(sig) is not None:
        if preflight:
            raise preflight_failure(simulation_value(None, "AlreadyProcessed"))
        return sig
    if sig in chain.statuses.in_flight:
        return sig  # pending: accepted again, queued once
    if not all(tx.verify_with_results()):
        raise RpcError(SIGNATURE_VERIFICATION_FAILURE, "Transaction signature verification failure")
    if not chain.window.valid_at(item.blockhash, chain.slot + 1):
        if preflight:
            raise preflight_failure(simulation_value(None, "BlockhashNotFound"))
        return sig
    if preflight:
        result = chain.simulate(tx)
        if isinstance(result, FailedTransactionMetadata):
            raise preflight_failure(simulation_value(result))
    chain.accept(item)
    return sig
