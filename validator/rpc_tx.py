"""Transaction methods: send, simulate, statuses, getTransaction, and requestAirdrop.

Statuses come from the status cache (the last 300 slots) and, with
`searchTransactionHistory`, from the ledger; getTransaction reads the ledger. Both report only
committed slots, hence "finalized".
"""

from __future__ import annotations

from typing import Any

from solders.transaction import VersionedTransaction

from validator import ingest
from validator.errors import RpcError, invalid_params
from validator.meta import capture_inner, ui_inner, ui_meta
from validator.rpc import Node, config, context, method, pubkey
from validator.rpc_accounts import simulated_accounts
from validator.tx_encoding import encode_transaction, parsed_transaction


@method("sendTransaction")
def send_transaction(node: Node, params: list[Any]) -> str:
    cfg = config(params, 1)
    context(node, cfg)
    raw = ingest.decode_wire(params[0], cfg.get("encoding", "base58"))
    return ingest.send(node.chain, raw, preflight=not cfg.get("skipPreflight", False))


@method("simulateTransaction")
def simulate_transaction(node: Node, params: list[Any]) -> dict[str, Any]:
    cfg = config(params, 1)
    ctx = context(node, cfg)
    chain = node.chain
    tx = ingest.decode_transaction(ingest.decode_wire(params[0], cfg.get("encoding", "base58")))
    replace, sig_verify = cfg.get("replaceRecentBlockhash", False), cfg.get("sigVerify", False)
    if replace and sig_verify:
        raise invalid_params("sigVerify may not be used with replaceRecentBlockhash")
    if sig_verify and not all(tx.verify_with_results()):
        raise RpcError(-32003, "Transaction signature verification failure")
    message = tx.message
    if not replace:
        if not chain.window.valid_at(message.recent_blockhash, chain.slot + 1):
            return {"context": ctx, "value": ingest.simulation_value(None, "BlockhashNotFound")}
        if chain.statuses.get(str(tx.signatures[0])) is not None:
            return {"context": ctx, "value": ingest.simulation_value(None, "AlreadyProcessed")}
    result = chain.simulate(tx)  # LiteSVM checks no blockhash: replacing it changes nothing
    value = ingest.simulation_value(result, accounts=simulated_accounts(node, result, cfg))
    if replace:
        slot, blockhash = chain.window.latest
        value["replacementBlockhash"] = {
            "blockhash": str(blockhash),
            "lastValidBlockHeight": slot + 150,
        }
    if cfg.get("innerInstructions"):
        value["innerInstructions"] = ui_inner(capture_inner(result.meta()))
    return {"context": ctx, "value": value}


@method("getSignatureStatuses")
def get_signature_statuses(node: Node, params: list[Any]) -> dict[str, Any]:
    sigs = params[0]
    if not isinstance(sigs, list):
        raise invalid_params("Invalid params: expected an array of signatures")
    if len(sigs) > 256:
        raise invalid_params("Too many inputs provided; max 256")
    ctx = context(node)
    cache = node.chain.statuses
    found: dict[str, tuple[int, Any]] = {}
    for sig in sigs:
        status = cache.get(sig)
        if status is not None:
            found[sig] = status
    if config(params, 1).get("searchTransactionHistory") and len(found) < len(sigs):
        missing = [s for s in sigs if s not in found and isinstance(s, str)]
        found.update(node.ledger.statuses(missing))
    value = []
    for sig in sigs:
        status = found.get(sig)
        if status is None:
            value.append(None)
            continue
        slot, err = status
        value.append(
            {
                "slot": slot,
                "confirmations": None,
                "err": err,
                "status": {"Ok": None} if err is None else {"Err": err},
                "confirmationStatus": "finalized",
            }
        )
    return {"context": ctx, "value": value}


@method("getTransaction")
def get_transaction(node: Node, params: list[Any]) -> dict[str, Any] | None:
    cfg = (
        {"encoding": params[1]}
        if len(params) > 1 and isinstance(params[1], str)
        else config(params, 1)
    )
    encoding = cfg.get("encoding", "json")
    if encoding not in ("json", "base64", "base58", "jsonParsed"):
        raise invalid_params(f"Invalid param: unsupported encoding {encoding!r}")
    row = node.ledger.transaction(params[0])
    if row is None:
        return None
    slot, block_time, raw, meta = row
    max_version = cfg.get("maxSupportedTransactionVersion")
    versioned = raw[1 + 64 * raw[0]] & 0x80 if raw[0] < 0x80 else True
    if versioned and max_version is None:
        raise RpcError(
            -32015,
            "Transaction version (0) is not supported by the requesting client. Please try the "
            "request again with the following configuration parameter: "
            '"maxSupportedTransactionVersion": 0',
        )
    decimals = node.chain.reader.decimals
    if encoding == "jsonParsed":
        tx, ui = parsed_transaction(VersionedTransaction.from_bytes(raw), meta, decimals)
    else:
        tx, ui = encode_transaction(raw, encoding), ui_meta(meta, decimals)
    out: dict[str, Any] = {"slot": slot, "blockTime": block_time, "meta": ui, "transaction": tx}
    if max_version is not None:
        out["version"] = 0 if versioned else "legacy"
    return out


@method("requestAirdrop")
def request_airdrop(node: Node, params: list[Any]) -> str:
    context(node, config(params, 2))
    return node.faucet.airdrop(pubkey(params[0]), int(params[1]))
