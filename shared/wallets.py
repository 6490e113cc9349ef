"""Wallets on the chain: their balances as the engine shows them, and the local faucet.

The engine never holds a wallet's key: it spends from the wallet's token accounts as their
approved delegate (the executor). On the local chain the faucet stands in for the one
`Approve` a user signs: it mints the amounts into the wallet's associated token accounts and
records the executor as their delegate — or, told not to, leaves that to the wallet's own
Approve (the desk's "Approve the engine"). Every funding is recorded in `wallet_fundings`, so
that a wallet funded through the faucet never gets the starter balance of its first order.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal, InvalidOperation

from solders.pubkey import Pubkey

from shared.chain.rpc import COMMITMENT, RpcError, SolanaRpc, wait_landed
from shared.db import pool
from shared.errors import InvalidRequest
from shared.schemas import FieldError, TokenBalanceView, WalletBalances
from shared.tokens import Token, all_tokens, find_token

U64_MAX = 2**64 - 1
# The native SOL a funding tops the wallet up to: its own rent (890,880 lamports) and what it
# pays for the transactions it signs itself, such as its Approve (5,000 lamports a signature,
# 2,039,280 for each token account it creates). At exactly its rent a wallet can pay no fee:
# the chain refuses a fee that would leave a rent-exempt account below rent
# (InsufficientFundsForRent).
WALLET_LAMPORTS = 50_000_000  # 0.05 SOL
METHOD_NOT_FOUND = -32601  # JSON-RPC: the node has no such method


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


# What a wallet the faucet never funded gets with its first order on the local chain
# (SIM_AIRDROP_ON_FIRST_ORDER), in UI units.
STARTER = {
    "SOL": "1000",
    "USDC": "100000",
    "USDT": "100000",
    "BONK": "1000000000",
    "JUP": "100000",
    "RAY": "10000",
}


def starter_amounts() -> dict[Token, int]:
    return parse_amounts(STARTER)


class FaucetFailed(Exception):
    """A faucet transaction landed and failed (it moved nothing; earlier ones may have)."""


async def fund(
    rpc: SolanaRpc,
    owner: Pubkey,
    amounts: dict[Token, int],
    executor: Pubkey,
    source: str,
    *,
    chain: str,
    only_if_never_funded: bool = False,
    approve: bool = True,
) -> list[str] | None:
    """Fund through the local faucet and wait until it has landed; recorded in
    wallet_fundings (`source`: "faucet" or "starter"). Every registry token gets an account
    (those not in `amounts` at zero), so that the wallet can sell whatever it buys, with the
    executor approved as its delegate for the whole u64 — unless `approve` is false: then no
    approval is recorded (one recorded before stays) and the wallet must sign its own SPL
    Token Approve. The wallet's native SOL is topped up to WALLET_LAMPORTS. One funding of a
    wallet at a time (an advisory lock on it, held while the faucet works), so that a starter
    balance is given once, and never to a wallet the faucet funded: with
    `only_if_never_funded` nothing happens (None) when the wallet was funded before, or holds
    token accounts on the chain already. RpcError
    when the chain has no faucet (-32601), FaucetFailed when one of its transactions failed.
    `chain` is the chain's genesis hash: a funding counts on the chain it was made on only (a
    new local ledger starts unfunded)."""
    wallet = str(owner)
    async with pool().acquire() as conn, conn.transaction():
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext('wallet:' || $1 || ':' || $2))", chain, wallet
        )
        funded = await conn.fetchval(
            "SELECT source FROM wallet_fundings WHERE chain = $1 AND wallet_address = $2",
            chain,
            wallet,
        )
        if only_if_never_funded and (
            funded is not None or await rpc.token_accounts_by_owner(owner)
        ):
            # Funded before: recorded, or seen on chain. A wallet holding token accounts had
            # a funding, even one that landed while its recording was lost (the validator
            # killed between the two, say): a second starter balance would be minted from
            # nothing the order asked for.
            return None
        every = {token.mint: 0 for token in all_tokens()}
        every.update({token.mint: units for token, units in amounts.items()})
        signatures = await rpc.fund_wallet(
            owner, every, delegate=executor if approve else None, lamports=WALLET_LAMPORTS
        )
        statuses = await wait_landed(rpc, signatures)
        for signature, status in zip(signatures, statuses, strict=True):
            if status.err is not None:  # e.g. the balance would pass a u64
                raise FaucetFailed(f"the faucet's transaction {signature} failed: {status.err}")
        if funded is None:
            await conn.execute(
                "INSERT INTO wallet_fundings (chain, wallet_address, source) VALUES ($1, $2, $3)",
                chain,
                wallet,
                source,
            )
        return signatures


class StarterFunding:
    """The starter balance of a wallet's first order on the local chain, given at most once
    per wallet (see `fund`); this process remembers the wallets it has seen funded."""

    def __init__(self, rpc: SolanaRpc, executor: Pubkey, chain: str, *, enabled: bool) -> None:
        self.rpc = rpc
        self.executor = executor
        self.chain = chain  # its genesis hash
        self.enabled = enabled
        self._seen: set[str] = set()
        self._checking: dict[str, asyncio.Future[None]] = {}  # one check per wallet at a time

    async def ensure(self, wallet: str) -> None:
        if not self.enabled or wallet in self._seen:
            return
        checking = self._checking.get(wallet)
        if checking is None:
            checking = asyncio.ensure_future(self._ensure(wallet))
            self._checking[wallet] = checking
            checking.add_done_callback(lambda _: self._checking.pop(wallet, None))
        await asyncio.shield(checking)

    async def _ensure(self, wallet: str) -> None:
        try:
            await fund(
                self.rpc,
                Pubkey.from_string(wallet),
                starter_amounts(),
                self.executor,
                "starter",
                chain=self.chain,
                only_if_never_funded=True,
            )
        except RpcError as exc:
            if exc.code != METHOD_NOT_FOUND:
                raise
            self.enabled = False  # a chain without this faucet: nobody gets a starter balance
        self._seen.add(wallet)
