"""Wallets on the chain: their balances as the engine shows them, and the local faucet.

The engine never holds a wallet's key: it spends from the wallet's token accounts as their
approved delegate (the executor). On the local chain the faucet stands in for the one
`Approve` a user signs: it mints the amounts into the wallet's associated token accounts and
records the executor as their delegate. Every funding is recorded in `wallet_fundings`, so
that a wallet funded through the faucet never gets the starter balance of its first order.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from solders.pubkey import Pubkey

from shared.chain.rpc import COMMITMENT, SolanaRpc, wait_landed
from shared.db import pool
from shared.errors import InvalidRequest
from shared.schemas import FieldError, TokenBalanceView, WalletBalances
from shared.tokens import Token, find_token

U64_MAX = 2**64 - 1


def parse_wallet(address: str, field: str = "walletAddress") -> Pubkey:
    """The wallet's public key; InvalidRequest naming `field` when it is not one."""
    try:
        key = Pubkey.from_string(address)
    except ValueError:
        key = None
    if key is None or str(key) != address:
        raise InvalidRequest([FieldError(field=field, message="must be a base58 public key")])
    return key


def parse_amounts(amounts: dict[str, str], field: str = "amounts") -> dict[Token, int]:
    """UI amounts by symbol or mint → base units by token; every bad entry named
    (`amounts.XYZ`)."""
    out: dict[Token, int] = {}
    problems: list[FieldError] = []
    for key, text in amounts.items():
        name = f"{field}.{key}"
        token = find_token(key)
        if token is None:
            problems.append(FieldError(field=name, message="unknown token"))
            continue
        try:
            units = token.to_base_units(Decimal(text))
        except (ValueError, InvalidOperation, OverflowError):  # OverflowError: "Infinity"
            problems.append(FieldError(field=name, message=f"must be a {token.symbol} amount"))
            continue
        if not 0 < units <= U64_MAX:
            problems.append(FieldError(field=name, message="must be positive and fit a u64"))
        elif token in out:
            problems.append(FieldError(field=name, message=f"{token.symbol} given twice"))
        else:
            out[token] = units
    if problems:
        raise InvalidRequest(problems)
    return out


async def read_balances(rpc: SolanaRpc, owner: Pubkey, executor: Pubkey) -> WalletBalances:
    """Every SPL Token account of `owner`, and its native lamports, as the chain has them."""
    balance = await rpc.call("getBalance", [str(owner), {"commitment": COMMITMENT}])
    views = []
    for account in await rpc.token_accounts_by_owner(owner):
        mint = str(account.mint)
        token = find_token(mint)
        approved = account.delegated_amount if account.delegate == executor else 0
        views.append(
            TokenBalanceView(
                symbol=token.symbol if token else mint,
                mint=mint,
                amount=token.format(account.amount) if token else str(account.amount),
                account=str(account.address),
                approved_for_executor=token.format(approved) if token else str(approved),
            )
        )
    views.sort(key=lambda view: (view.symbol, view.account))
    return WalletBalances(
        wallet_address=str(owner),
        slot=int(balance["context"]["slot"]),
        lamports=int(balance["value"]),
        balances=views,
    )


async def fund(
    rpc: SolanaRpc, owner: Pubkey, amounts: dict[Token, int], executor: Pubkey, source: str
) -> list[str]:
    """Fund through the local faucet (the executor approved as delegate) and wait until it
    has landed. Recorded first (`source`: "faucet" or "starter"), so that an order racing a
    faucet funding never adds the starter balance to it. RpcError when the chain has no
    faucet (-32601: not the local validator)."""
    await pool().execute(
        "INSERT INTO wallet_fundings (wallet_address, source) VALUES ($1, $2)"
        " ON CONFLICT (wallet_address) DO NOTHING",
        str(owner),
        source,
    )
    signatures = await rpc.fund_wallet(
        owner, {token.mint: units for token, units in amounts.items()}, delegate=executor
    )
    for signature, status in zip(signatures, await wait_landed(rpc, signatures), strict=True):
        if status.err is not None:  # e.g. the balance would pass a u64
            raise FaucetFailed(f"the faucet's transaction {signature} failed: {status.err}")
    return signatures


class FaucetFailed(Exception):
    """A faucet transaction landed and failed (it moved nothing; earlier ones may have)."""
