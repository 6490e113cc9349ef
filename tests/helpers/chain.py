"""The tests' view of an engine's local validator: other traders on it (a wallet of their own,
funded by the local faucet, sending real transactions signed by itself: swaps, or a `Flood` of
transfers outbidding the engine), and the invariants the chain must keep (conservation of
every token, pools that never go negative)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction

from shared.chain.market import trader_swap
from shared.chain.pools import ChainPools
from shared.chain.pubsub import ChainSubscriptions
from shared.chain.rpc import SolanaRpc, wait_landed
from shared.dex.activity import MarketSwap
from shared.dex.dlmm import DlmmPool
from shared.dex.pools import holding, tokens
from shared.tokens import all_tokens, find_token, token_by_symbol
from shared.venues import meteora_dlmm as M
from shared.venues import raydium_cpmm as R
from shared.venues import spl

if TYPE_CHECKING:
    from tests.helpers.engine import Engine

LAMPORTS_PER_SOL = 10**9


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


SUPPLY_READS = 10  # a faucet mint between reading a mint's supply and its accounts: read again


async def check_conservation(
    rpc_url: str,
    *,
    since: Conservation | None = None,
    minted: Mapping[str, int] | None = None,
    mint_authority: Pubkey | None = None,
) -> Conservation:
    """For every registry mint but wrapped SOL, the token accounts add up to the mint's supply
    (tokens come only from mints: the faucet's); every wrapped-SOL account holds exactly its
    lamports above rent (wrapped SOL comes only from lamports). Each mint's accounts are read
    in one call, between two reads of its supply that agree (else read again: a faucet mint
    landed in between).

    `since`: an earlier check; then every supply (wrapped SOL: its total) has grown by
    exactly `minted` (base units by mint; none by default) since. `mint_authority`: every
    mint's authority must be this key (the faucet's), with no freeze authority: nobody else
    can change a supply."""
    rpc = SolanaRpc(rpc_url)
    found = Conservation()
    try:
        for token in all_tokens():
            mint = Pubkey.from_string(token.mint)
            for _ in range(SUPPLY_READS):
                supply = await _supply(rpc, token.mint, mint)
                holders = await rpc.program_accounts(
                    spl.TOKEN_PROGRAM_ID,
                    data_size=spl.TOKEN_ACCOUNT_LEN,
                    memcmp=[(0, bytes(mint))],
                )
                if await _supply(rpc, token.mint, mint) == supply:
                    break
            else:
                raise AssertionError(f"{token.symbol}'s supply kept changing")
            states = [(account, spl.decode_token_account(account.data)) for _, account in holders]
            total = sum(state.amount for _, state in states)
            found.accounts[token.mint] = len(states)
            if mint == spl.NATIVE_MINT:
                rent = spl.rent_exempt_lamports(spl.TOKEN_ACCOUNT_LEN)
                for account, state in states:
                    assert state.amount == account.lamports - rent, (account, state)
                found.supply[token.mint] = total
                continue
            assert total == supply, (token.symbol, total, supply)
            found.supply[token.mint] = supply
            if mint_authority is not None:
                info = await rpc.call("getAccountInfo", [token.mint, {"encoding": "jsonParsed"}])
                parsed = info["value"]["data"]["parsed"]["info"]
                assert parsed["mintAuthority"] == str(mint_authority), (token.symbol, parsed)
                assert parsed["freezeAuthority"] is None, (token.symbol, parsed)
    finally:
        await rpc.close()
    if since is not None:
        grown = {m: found.supply[m] - since.supply.get(m, 0) for m in found.supply}
        expected = {m: (minted or {}).get(m, 0) for m in found.supply}
        assert grown == expected, {
            token_symbol(m): (grown[m], expected[m]) for m in grown if grown[m] != expected[m]
        }
    return found


async def _supply(rpc: SolanaRpc, mint_text: str, mint: Pubkey) -> int | None:
    if mint == spl.NATIVE_MINT:  # wrapped SOL has no supply of its own: its accounts' lamports
        return None
    return int((await rpc.call("getTokenSupply", [mint_text]))["value"]["amount"])


def faucet_key(chain_data_dir: Path) -> Pubkey:
    """The local validator's faucet (the mint authority of every mint it created), from the
    keypair it keeps in `DATA_DIR/chain/faucet.json`."""
    secret = json.loads((chain_data_dir / "chain" / "faucet.json").read_text())
    return Keypair.from_bytes(bytes(secret)).pubkey()


async def check_pools(rpc_url: str, ws_url: str) -> int:
    """No pool has gone negative: every Raydium PoolState and Meteora LbPair on the chain
    decodes as the engine decodes it (which refuses a vault holding less than the fees the
    pool owes, or reserves holding less than the bins), each with some of both its tokens and
    no bin below zero. Returns how many pools there are."""
    rpc = SolanaRpc(rpc_url)
    subscriptions = ChainSubscriptions(ws_url)
    await subscriptions.start()
    try:
        pools = await ChainPools.load(rpc, subscriptions)
        try:
            cpmm = await rpc.program_accounts(
                R.PROGRAM_ID, data_size=R.POOL_STATE_LEN, memcmp=[(0, R.POOL_STATE_DISCRIMINATOR)]
            )
            dlmm = await rpc.program_accounts(
                M.PROGRAM_ID, data_size=M.LB_PAIR_LEN, memcmp=[(0, M.LB_PAIR_DISCRIMINATOR)]
            )
            snapshot = pools.pools()
            assert len(snapshot) == len(cpmm) + len(dlmm), (sorted(snapshot), len(cpmm), len(dlmm))
            for pool_id, pool in snapshot.items():
                for mint in tokens(pool):
                    assert holding(pool, mint) > 0, (pool_id, token_symbol(mint))
                if isinstance(pool, DlmmPool):
                    assert all(x >= 0 and y >= 0 for x, y in pool.bins), pool_id
            return len(snapshot)
        finally:
            await pools.close()
    finally:
        await subscriptions.close()
        await rpc.close()


async def check_engines_conserve(engines: Iterable[Engine]) -> None:
    """The conservation check on the chain of each engine whose validator is still running:
    the fault suite's teardown, after whatever the test did to the engine (a swap or a faucet
    funding still in flight does not upset it)."""
    for engine in engines:
        chain = engine.processes.chain
        if chain is not None and chain.proc.poll() is None:
            await check_conservation(engine.settings.solana_rpc_url)


class Flood:
    """Other users' traffic outbidding an order: System transfers paying `cu_price`
    micro-lamports per compute unit, each requesting `cu_limit` units (what a slot's budget
    counts), from a wallet of their own (airdropped SOL; no tokens). `run()` keeps about
    `ahead` of them waiting beyond the slots already produced, each wave on a fresh blockhash,
    until `stop()` or `max_sent`; `sent` are their signatures."""

    def __init__(
        self, rpc_url: str, *, cu_price: int, cu_limit: int, ahead: int = 30, max_sent: int = 3000
    ) -> None:
        self.rpc = SolanaRpc(rpc_url)
        self.cu_price = cu_price
        self.cu_limit = cu_limit
        self.ahead = ahead
        self.max_sent = max_sent
        self.payer = Keypair()
        self.payee = Keypair().pubkey()
        self.sent: list[str] = []
        self.first_slot = 0
        self.waiting = asyncio.Event()  # set once the first wave is sent
        self._stop = asyncio.Event()

    async def fund(self) -> None:
        await wait_landed(
            self.rpc,
            [
                await self.rpc.request_airdrop(self.payer.pubkey(), 10 * LAMPORTS_PER_SOL),
                await self.rpc.request_airdrop(self.payee, LAMPORTS_PER_SOL),
            ],
        )

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        self.first_slot = await self.rpc.slot()
        while not self._stop.is_set() and len(self.sent) < self.max_sent:
            produced = await self.rpc.slot() - self.first_slot
            missing = min(produced + self.ahead - len(self.sent), self.max_sent - len(self.sent))
            if missing > 0:
                blockhash = (await self.rpc.latest_blockhash()).blockhash
                wave = [self._transfer(len(self.sent) + i + 1, blockhash) for i in range(missing)]
                self.sent += await asyncio.gather(*(self.rpc.send_transaction(tx) for tx in wave))
                self.waiting.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), 0.05)  # a pacing interval

    def _transfer(self, lamports: int, blockhash: Hash) -> bytes:
        """A distinct transaction per amount: its own signature."""
        instructions = [
            set_compute_unit_limit(self.cu_limit),
            set_compute_unit_price(self.cu_price),
            transfer(
                TransferParams(
                    from_pubkey=self.payer.pubkey(), to_pubkey=self.payee, lamports=lamports
                )
            ),
        ]
        message = MessageV0.try_compile(self.payer.pubkey(), instructions, [], blockhash)
        return bytes(VersionedTransaction(message, [self.payer]))

    async def landed_slots(self) -> list[int]:
        """The slots the flood's transactions landed in (the rest expired unlanded)."""
        statuses = await self.rpc.signature_statuses(self.sent)
        return [status.slot for status in statuses if status is not None]

    async def close(self) -> None:
        await self.rpc.close()
