"""The living market on the chain: other traders' swaps and the arbitrageurs, as real
transactions from their own funded wallets, on the local chain.

The market's plans (shared/dex/activity.py: random swaps of log-uniform size, arbitrage when
two venues of a pair drift apart by more than 150 bps), read from this process's pool cache
and sent as one signed transaction per swap, each trader signing for
itself (owner, not delegate) and paying its own fee. They are sent, not awaited: the next
tick reads the pools as the notifications have left them. The traders' keys follow from
SIM_SEED, so the same wallets trade run after run; the local faucet funds them when short.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import time

import aiohttp
import structlog
from solders.hash import Hash
from solders.keypair import Keypair
from solders.transaction import VersionedTransaction

from shared.chain.pools import ChainPools
from shared.chain.rpc import RpcError, SolanaRpc, wait_landed
from shared.chain.transactions import RouteTooLarge, route_builder
from shared.dex.activity import MarketSwap, plan_arbitrage, plan_random_swap
from shared.dex.pools import other_mint
from shared.dex.routing import NoRoute, best_route
from shared.tokens import all_tokens

log = structlog.get_logger(__name__)

TRADERS = 4
TRADER_FLOAT = 10**15  # base units of every token a trader is topped up to (the faucet's)
TRADER_LAMPORTS = 100 * 10**9
MARKET_CU_LIMIT = 400_000  # enough for a DLMM swap across ~500 bins; no simulation first
_RPC_ERRORS = (aiohttp.ClientError, RpcError, OSError, asyncio.TimeoutError)


def trader_keys(seed: int, count: int = TRADERS) -> list[Keypair]:
    return [
        Keypair.from_seed(hashlib.sha256(f"market-trader:{seed}:{i}".encode()).digest())
        for i in range(count)
    ]


class ChainMarket:
    def __init__(self, rpc: SolanaRpc, pools: ChainPools, seed: int) -> None:
        self.rpc = rpc
        self.pools = pools
        self.traders = trader_keys(seed)
        self._funded = False

    async def fund_traders(self) -> None:
        """Top every trader up from the local faucet (once per process)."""
        amounts = {token.mint: TRADER_FLOAT for token in all_tokens()}
        signatures: list[str] = []
        for trader in self.traders:
            accounts = await self.rpc.token_accounts_by_owner(trader.pubkey())
            held = {str(a.mint): a.amount for a in accounts}
            short = {
                mint: TRADER_FLOAT - held.get(mint, 0)
                for mint in amounts
                if held.get(mint, 0) < TRADER_FLOAT // 2
            }
            if short or not accounts:
                signatures += await self.rpc.fund_wallet(
                    trader.pubkey(), short, lamports=TRADER_LAMPORTS
                )
        if signatures:
            await wait_landed(self.rpc, signatures)
        self._funded = True

    async def tick(self, rng: random.Random, trades_per_second: float) -> int:
        """One second of market life; returns how many swaps were sent."""
        try:
            if not self._funded:
                await self.fund_traders()
            sent = 0
            count = int(trades_per_second) + (rng.random() < trades_per_second % 1)
            for _ in range(count):
                await asyncio.sleep(rng.random() / max(count, 1))
                planned = plan_random_swap(self.pools.pools(), rng)
                if planned is not None:
                    sent += await self._send(planned, rng.choice(self.traders))
            for planned in plan_arbitrage(self.pools.pools()):
                sent += await self._send(planned, self.traders[0])
            return sent
        except _RPC_ERRORS as exc:  # the node away for a moment: the market pauses
            log.warning("market tick failed", error=str(exc))
            return 0

    async def _send(self, planned: MarketSwap, trader: Keypair) -> int:
        blockhash = (await self.rpc.latest_blockhash()).blockhash
        try:
            tx = trader_swap(self.pools, planned, trader, blockhash)
        except (KeyError, NoRoute, RouteTooLarge, ValueError):
            return 0  # the pool went away, or cannot take this swap
        await self.rpc.send_transaction(bytes(tx))
        return 1


def trader_swap(
    pools: ChainPools,
    planned: MarketSwap,
    trader: Keypair,
    blockhash: Hash,
    compute_unit_price: int = 0,
) -> VersionedTransaction:
    """Another trader's swap on one pool, as the cache has it now: signed by the trader as the
    owner of its accounts (not a delegate), taking whatever the pool pays."""
    snapshot = pools.pools()
    pool = snapshot[planned.pool_id]
    mint_out = other_mint(pool, planned.mint_in)
    route = best_route({pool.pool_id: pool}, planned.mint_in, mint_out, planned.amount)
    return route_builder(
        route,
        trader.pubkey(),
        trader,
        pools.addresses,
        snapshot,
        0,
        int(time.time()),
        blockhash,
        compute_unit_limit=MARKET_CU_LIMIT,
        compute_unit_price=compute_unit_price,
    ).first
