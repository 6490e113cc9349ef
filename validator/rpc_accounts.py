"""Account methods (state, SPL Token views) and the local-only `localnet_fundWallet`.

`localnet_fundWallet` exists on this chain only, no Solana cluster has it: the faucet's wallet
funding (see validator/faucet.py).
"""

from __future__ import annotations

from typing import Any

from solders.account import Account
from solders.pubkey import Pubkey

from shared.tokens import find_token
from validator.accounts import check_encoding, matches, parse_filters, ui_account
from validator.errors import invalid_params
from validator.rpc import Node, config, context, method, pubkey
from validator.spl import (
    TOKEN_PROGRAM_ID,
    U64_MAX,
    is_mint,
    is_token_account,
    ui_token_amount,
    unpack_mint,
)

MAX_MULTIPLE_ACCOUNTS = 100


def _encoding(cfg: dict[str, Any], default: str = "binary") -> str:
    return check_encoding(cfg.get("encoding", default))


def _ui(node: Node, account: Account | None, cfg: dict[str, Any]) -> dict[str, Any] | None:
    if account is None or account.lamports == 0:
        return None
    return ui_account(account, _encoding(cfg), node.chain.reader.decimals, cfg.get("dataSlice"))


@method("getBalance")
def get_balance(node: Node, params: list[Any]) -> dict[str, Any]:
    ctx = context(node, config(params, 1))
    return {"context": ctx, "value": node.chain.svm.get_balance(pubkey(params[0])) or 0}


@method("getAccountInfo")
def get_account_info(node: Node, params: list[Any]) -> dict[str, Any]:
    cfg = config(params, 1)
    ctx = context(node, cfg)
    return {"context": ctx, "value": _ui(node, node.chain.svm.get_account(pubkey(params[0])), cfg)}


@method("getMultipleAccounts")
def get_multiple_accounts(node: Node, params: list[Any]) -> dict[str, Any]:
    keys = params[0]
    if not isinstance(keys, list) or len(keys) > MAX_MULTIPLE_ACCOUNTS:
        raise invalid_params(f"Too many inputs provided; max {MAX_MULTIPLE_ACCOUNTS}")
    cfg = config(params, 1)
    ctx = context(node, cfg)
    svm = node.chain.svm
    return {"context": ctx, "value": [_ui(node, svm.get_account(pubkey(k)), cfg) for k in keys]}


@method("getProgramAccounts")
def get_program_accounts(node: Node, params: list[Any]) -> Any:
    cfg = config(params, 1)
    ctx = context(node, cfg)
    filters = parse_filters(cfg.get("filters"))
    encoding = _encoding(cfg)
    value = [
        {"pubkey": str(key), "account": _ui(node, account, {**cfg, "encoding": encoding})}
        for key, account in node.chain.svm.get_program_accounts(pubkey(params[0]))
        if account.lamports and matches(account.data, filters)
    ]
    value.sort(key=lambda item: item["pubkey"])
    return {"context": ctx, "value": value} if cfg.get("withContext") else value


@method("getTokenAccountsByOwner")
def get_token_accounts_by_owner(node: Node, params: list[Any]) -> dict[str, Any]:
    owner = pubkey(params[0])
    selector = config(params, 1)
    cfg = config(params, 2)
    ctx = context(node, cfg)
    mint: Pubkey | None = None
    if "mint" in selector:
        mint = pubkey(selector["mint"])
    elif "programId" in selector:
        if pubkey(selector["programId"]) != TOKEN_PROGRAM_ID:
            return {"context": ctx, "value": []}  # no Token-2022 on this chain
    else:
        raise invalid_params("Invalid params: a mint or programId filter is required")
    svm, value = node.chain.svm, []
    for key in node.chain.tokens.of_owner(owner):
        account = svm.get_account(key)
        if account is None or (mint is not None and account.data[0:32] != bytes(mint)):
            continue
        value.append({"pubkey": str(key), "account": _ui(node, account, cfg)})
    return {"context": ctx, "value": value}


@method("getTokenAccountBalance")
def get_token_account_balance(node: Node, params: list[Any]) -> dict[str, Any]:
    ctx = context(node, config(params, 1))
    account = node.chain.svm.get_account(pubkey(params[0]))
    if account is None or not is_token_account(account.owner, account.data):
        raise invalid_params("Invalid param: not a Token account")
    amount = int.from_bytes(account.data[64:72], "little")
    decimals = node.chain.reader.decimals(account.data[0:32])
    return {"context": ctx, "value": ui_token_amount(amount, decimals)}


@method("getTokenSupply")
def get_token_supply(node: Node, params: list[Any]) -> dict[str, Any]:
    ctx = context(node, config(params, 1))
    account = node.chain.svm.get_account(pubkey(params[0]))
    if account is None or not is_mint(account.owner, account.data):
        raise invalid_params("Invalid param: not a Token mint")
    state = unpack_mint(account.data)
    return {"context": ctx, "value": ui_token_amount(state.supply, state.decimals)}


# -- local-only -------------------------------------------------------------------------------


def _mint_of(name: str) -> Pubkey:
    token = find_token(name)
    return Pubkey.from_string(token.mint) if token is not None else pubkey(name)


@method("localnet_fundWallet")
def fund_wallet(node: Node, params: list[Any]) -> dict[str, Any]:
    """[owner, {mint or registry symbol: base units}, {lamports?, delegate?, delegatedAmount?}]
    → {"signatures": [...], "tokenAccounts": {mint: associated token account}}."""
    owner = pubkey(params[0])
    amounts_raw = params[1] if len(params) > 1 and isinstance(params[1], dict) else {}
    amounts = {_mint_of(name): int(amount) for name, amount in amounts_raw.items()}
    cfg = config(params, 2)
    delegate = pubkey(cfg["delegate"]) if cfg.get("delegate") else None
    delegated = int(cfg.get("delegatedAmount", U64_MAX))
    lamports = int(cfg["lamports"]) if cfg.get("lamports") is not None else None
    return node.faucet.fund_wallet(owner, amounts, lamports, delegate, delegated)


def simulated_accounts(node: Node, result: Any, cfg: dict[str, Any]) -> list[Any] | None:
    """simulateTransaction's `accounts`: the requested addresses as the simulation left them."""
    wanted = cfg.get("accounts")
    if not wanted:
        return None
    sub = {"encoding": check_encoding(wanted.get("encoding") or "base64")}
    post = dict(result.post_accounts()) if hasattr(result, "post_accounts") else {}
    out = []
    for address in wanted.get("addresses") or []:
        key = pubkey(address)
        out.append(_ui(node, post.get(key) or node.chain.svm.get_account(key), sub))
    return out
