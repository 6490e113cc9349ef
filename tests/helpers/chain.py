"""The tests' other traders on the chain: a wallet of their own, funded by the local faucet,
sending real swap transactions (signed by itself) to an engine's local validator."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from solders.keypair import Keypair
from solders.pubkey import Pubkey

from shared.chain.market import trader_swap
from shared.chain.pools import ChainPools
from shared.chain.pubsub import ChainSubscriptions
from shared.chain.rpc import SolanaRpc, wait_landed
from shared.dex.activity import MarketSwap
from shared.dex.pools import holding, tokens
from shared.tokens import all_tokens, find_token, token_by_symbol
from shared.venues import spl


class ChainTrader:
    """Another trader with a wallet of its own (a new key), funded by the faucet; its pool
    cache is its own (ChainPools over its own subscriptions)."""

    def __init__(self, rpc: SolanaRpc, pools: ChainPools) -> None:
        self.rpc, self.pools, self.key = rpc, pools, Keypair()

    async def fund(self, pool_suffix: str, symbol_in: str, fraction: float) -> list[MarketSwap]:
        """Fund the swaps of `fraction` of each matching pool's holding of `symbol_in` (pools
        whose id ends with `pool_suffix`, e.g. "-SOL-USDC") and return them, unsent."""
        mint_in = token_by_symbol(symbol_in).mint
        chosen = [p for pool_id, p in self.pools.pools().items() if pool_id.endswith(pool_suffix)]
        swaps = [
            MarketSwap(p.pool_id, mint_in, int(holding(p, mint_in) * fraction)) for p in chosen
        ]
        # Accounts for both sides (the output's is created by the swap otherwise), the input
        # funded with what the swaps spend.
        funding = {mint: 0 for pool in chosen for mint in tokens(pool)}
        funding[mint_in] = sum(s.amount for s in swaps)
        await wait_landed(
            self.rpc, await self.rpc.fund_wallet(self.key.pubkey(), funding, lamports=10**9)
        )
        return swaps

    async def send(self, swaps: list[MarketSwap], compute_unit_price: int = 0) -> list[str]:
        """Send the swaps at once, a transaction each, priced as asked; their signatures."""
        blockhash = (await self.rpc.latest_blockhash()).blockhash
        return [
            await self.rpc.send_transaction(
                bytes(trader_swap(self.pools, s, self.key, blockhash, compute_unit_price))
            )
            for s in swaps
        ]


@contextlib.asynccontextmanager
async def chain_trader(rpc_url: str, ws_url: str) -> AsyncIterator[ChainTrader]:
    rpc = SolanaRpc(rpc_url)
    subscriptions = ChainSubscriptions(ws_url)
    await subscriptions.start()
    pools = await ChainPools.load(rpc, subscriptions)
    try:
        yield ChainTrader(rpc, pools)
    finally:
        await pools.close()
        await subscriptions.close()
        await rpc.close()


async def trade_on_chain(
    rpc_url: str, ws_url: str, pool_suffix: str, symbol_in: str, fraction: float
) -> list[str]:
    """Another trader swaps `fraction` of each matching pool's holding of `symbol_in`, one
    transaction per pool; returns the signatures once all have landed successfully."""
    async with chain_trader(rpc_url, ws_url) as trader:
        signatures = await trader.send(await trader.fund(pool_suffix, symbol_in, fraction))
        for status in await wait_landed(trader.rpc, signatures):
            assert status.err is None, status.err
        return signatures


@dataclass
class Conservation:
    """What the conservation check read: per mint, its supply and the token accounts' sum."""

    supply: dict[str, int] = field(default_factory=dict)
    accounts: dict[str, int] = field(default_factory=dict)  # how many token accounts

    def summary(self) -> str:
        return ", ".join(
            f"{token_symbol(m)} {self.accounts[m]} accounts = supply {s}"
            for m, s in sorted(self.supply.items(), key=lambda kv: token_symbol(kv[0]))
        )


def token_symbol(mint: str) -> str:
    token = find_token(mint)
    return token.symbol if token else mint


async def check_conservation(rpc_url: str) -> Conservation:
    """For every registry mint but wrapped SOL, the token accounts add up to the mint's supply
    (tokens come only from mints: the faucet's); every wrapped-SOL account holds exactly its
    lamports above rent (wrapped SOL comes only from lamports). Read at one node, in one go."""
    rpc = SolanaRpc(rpc_url)
    found = Conservation()
    try:
        for token in all_tokens():
            mint = Pubkey.from_string(token.mint)
            holders = await rpc.program_accounts(
                spl.TOKEN_PROGRAM_ID, data_size=spl.TOKEN_ACCOUNT_LEN, memcmp=[(0, bytes(mint))]
            )
            states = [(account, spl.decode_token_account(account.data)) for _, account in holders]
            total = sum(state.amount for _, state in states)
            found.accounts[token.mint] = len(states)
            if mint == spl.NATIVE_MINT:
                rent = spl.rent_exempt_lamports(spl.TOKEN_ACCOUNT_LEN)
                for account, state in states:
                    assert state.amount == account.lamports - rent, (account, state)
                found.supply[token.mint] = total
                continue
            supply = int((await rpc.call("getTokenSupply", [token.mint]))["value"]["amount"])
            assert total == supply, (token.symbol, total, supply)
            found.supply[token.mint] = supply
    finally:
        await rpc.close()
    return found
