"""JSON-RPC 2.0 dispatch (single requests and batches) and the chain and transaction methods.

Every answer has Solana's shape; methods returning chain state wrap it in
`{"context": {"slot", "apiVersion"}, "value": ...}`. Everything reported has been committed to
the ledger, so every `confirmationStatus` is "finalized" and `confirmations` is null: there are
no forks here, and a slot becomes visible only once it is on disk.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from solders.hash import Hash
from solders.message import from_bytes_versioned
from solders.pubkey import Pubkey

from validator import ingest
from validator.errors import (
    INTERNAL_ERROR,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    MIN_CONTEXT_SLOT_NOT_REACHED,
    RpcError,
    invalid_params,
)
from validator.faucet import Faucet
from validator.ledger import Ledger
from validator.runtime import Chain
from validator.txinfo import compute_budget

log = structlog.get_logger("validator.rpc")
SOLANA_CORE_VERSION = "2.2.0"
FEATURE_SET = 3_294_202_862
LAMPORTS_PER_SIGNATURE = 5_000

Handler = Callable[["Node", list[Any]], Any]
METHODS: dict[str, Handler] = {}


@dataclass
class Node:
    """What methods work on: the chain, its ledger and its faucet."""

    chain: Chain
    ledger: Ledger
    faucet: Faucet


def method(name: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        METHODS[name] = fn
        return fn

    return register


def config(params: list[Any], index: int) -> dict[str, Any]:
    """The optional config object at `index`; clients send absent options as null."""
    if len(params) > index and isinstance(params[index], dict):
        return {k: v for k, v in params[index].items() if v is not None}
    return {}


def pubkey(value: Any) -> Pubkey:
    try:
        return Pubkey.from_string(value)
    except (ValueError, TypeError):
        raise invalid_params("Invalid param: Invalid") from None


def context(node: Node, cfg: dict[str, Any] | None = None) -> dict[str, Any]:
    slot = node.chain.slot
    if cfg and (wanted := cfg.get("minContextSlot")) is not None and wanted > slot:
        raise RpcError(
            MIN_CONTEXT_SLOT_NOT_REACHED,
            "Minimum context slot has not been reached",
            {"contextSlot": slot},
        )
    return {"slot": slot, "apiVersion": SOLANA_CORE_VERSION}


def handle(node: Node, request: Any) -> dict[str, Any] | None:
    """One request object → its response (None for a notification, which has no id)."""
    if not isinstance(request, dict) or not isinstance(request.get("method"), str):
        return {
            "jsonrpc": "2.0",
            "error": {"code": INVALID_REQUEST, "message": "Invalid request"},
            "id": None,
        }
    request_id = request.get("id")
    handler = METHODS.get(request["method"])
    params = request.get("params")
    try:
        if handler is None:
            raise RpcError(METHOD_NOT_FOUND, "Method not found")
        if params is None:
            params = []
        elif not isinstance(params, list):
            raise invalid_params("Invalid params: expected an array of parameters")
        result = handler(node, params)
    except RpcError as exc:
        return {"jsonrpc": "2.0", "error": exc.to_json(), "id": request_id}
    except (IndexError, KeyError, TypeError, ValueError, OverflowError) as exc:
        error = {"code": -32602, "message": f"Invalid params: {exc}"}
        return {"jsonrpc": "2.0", "error": error, "id": request_id}
    except Exception:
        log.exception("method failed", method=request["method"])
        error = {"code": INTERNAL_ERROR, "message": "Internal error"}
        return {"jsonrpc": "2.0", "error": error, "id": request_id}
    if "id" not in request:
        return None
    return {"jsonrpc": "2.0", "result": result, "id": request_id}


# -- the cluster ------------------------------------------------------------------------------


@method("getHealth")
def get_health(node: Node, params: list[Any]) -> str:
    return "ok"


@method("getVersion")
def get_version(node: Node, params: list[Any]) -> dict[str, Any]:
    return {"solana-core": SOLANA_CORE_VERSION, "feature-set": FEATURE_SET}


@method("getGenesisHash")
def get_genesis_hash(node: Node, params: list[Any]) -> str:
    return str(node.chain.genesis_hash)


@method("getIdentity")
def get_identity(node: Node, params: list[Any]) -> dict[str, str]:
    return {"identity": str(node.faucet.pubkey)}


@method("getSlot")
@method("getBlockHeight")
def get_slot(node: Node, params: list[Any]) -> int:
    context(node, config(params, 0))
    return node.chain.slot


@method("getTransactionCount")
def get_transaction_count(node: Node, params: list[Any]) -> int:
    return node.chain.transaction_count


@method("getEpochInfo")
def get_epoch_info(node: Node, params: list[Any]) -> dict[str, int]:
    slot = node.chain.slot
    schedule = node.chain.svm.get_epoch_schedule()
    epoch, index = schedule.get_epoch_and_slot_index(slot)
    return {
        "absoluteSlot": slot,
        "blockHeight": slot,
        "epoch": epoch,
        "slotIndex": index,
        "slotsInEpoch": schedule.get_slots_in_epoch(epoch),
        "transactionCount": node.chain.transaction_count,
    }


@method("getEpochSchedule")
def get_epoch_schedule(node: Node, params: list[Any]) -> dict[str, Any]:
    schedule = node.chain.svm.get_epoch_schedule()
    return {
        "slotsPerEpoch": schedule.slots_per_epoch,
        "leaderScheduleSlotOffset": schedule.leader_schedule_slot_offset,
        "warmup": schedule.warmup,
        "firstNormalEpoch": schedule.first_normal_epoch,
        "firstNormalSlot": schedule.first_normal_slot,
    }


@method("getLatestBlockhash")
def get_latest_blockhash(node: Node, params: list[Any]) -> dict[str, Any]:
    ctx = context(node, config(params, 0))
    slot, blockhash = node.chain.window.latest
    return {
        "context": ctx,
        "value": {"blockhash": str(blockhash), "lastValidBlockHeight": slot + 150},
    }


@method("isBlockhashValid")
def is_blockhash_valid(node: Node, params: list[Any]) -> dict[str, Any]:
    ctx = context(node, config(params, 1))
    try:
        blockhash = Hash.from_string(params[0])
    except (ValueError, TypeError):
        raise invalid_params("Invalid param: blockhash") from None
    return {"context": ctx, "value": node.chain.window.valid_at(blockhash, node.chain.slot)}


@method("getFeeForMessage")
def get_fee_for_message(node: Node, params: list[Any]) -> dict[str, Any]:
    ctx = context(node, config(params, 1))
    message = from_bytes_versioned(ingest.decode_wire(params[0], "base64"))
    if not node.chain.window.valid_at(message.recent_blockhash, node.chain.slot):
        return {"context": ctx, "value": None}
    price, limit = compute_budget(list(message.account_keys), message)
    fee = LAMPORTS_PER_SIGNATURE * message.header.num_required_signatures
    return {"context": ctx, "value": fee + math.ceil(price * limit / 1_000_000)}


@method("getMinimumBalanceForRentExemption")
def get_minimum_balance(node: Node, params: list[Any]) -> int:
    return node.chain.svm.minimum_balance_for_rent_exemption(int(params[0]))


@method("getRecentPrioritizationFees")
def get_recent_prioritization_fees(node: Node, params: list[Any]) -> list[dict[str, int]]:
    accounts = params[0] if params and isinstance(params[0], list) else []
    if len(accounts) > 128:
        raise invalid_params("Too many inputs provided; max 128")
    return node.chain.recent_priority_fees([pubkey(a) for a in accounts])
