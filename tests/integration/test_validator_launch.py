"""`localnet_launchToken` against real validator processes: a new mint and its first pool,
found by the engine's pool cache, swapped against with real transactions, kept across a
SIGKILL, every mint's supply still held by its token accounts; bad params create nothing.

Nothing waits by sleeping: a test polls the RPC against a deadline or awaits a callback.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import msgspec
import pytest
from solders.compute_budget import set_compute_unit_limit
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from shared.chain.pools import ChainPools
from shared.chain.pubsub import ChainSubscriptions
from shared.chain.rpc import AccountData, LaunchedToken, RpcError, SolanaRpc
from shared.chain.rpc import token_balance_changes as balance_changes
from shared.dex.cpmm import CpmmPool
from shared.dex.dlmm import DlmmPool
from shared.dex.market_seed import seed_pools
from shared.dex.pools import Pool, swap
from shared.launch import launch_pool
from shared.tokens import Token, find_token, token_by_symbol
from shared.venues import meteora_dlmm as M
from shared.venues import raydium_cpmm as R
from shared.venues.spl import (
    MINT_LEN,
    NATIVE_MINT,
    TOKEN_ACCOUNT_LEN,
    TOKEN_PROGRAM_ID,
    associated_token_address,
    decode_mint,
    decode_token_account,
)
from tests.helpers.litesvm import PROGRAMS_DIR
from tests.helpers.validator import USDC, ChainFactory, ChainProcess, chains

__all__ = ["chains"]

SEED = 7
PROGRAMS = {"CHAIN_PROGRAMS_DIR": str(PROGRAMS_DIR), "CHAIN_GENESIS_HOOK": ""}
MARKET = {
    **PROGRAMS,
    "CHAIN_GENESIS_HOOK": "shared.chain.genesis:seeded_market",
    "MARKET_SEED": str(SEED),
    "SIM_SEED": "",
}
SOL = token_by_symbol("SOL")
USDC_TOKEN = token_by_symbol("USDC")


class Client:
    """A validator's RPC and PubSub as the engine's processes hold them, and a token lookup
    that learns the launched tokens (as a process learns them from the launch)."""

    def __init__(self, chain: ChainProcess) -> None:
        self.chain = chain
        self.rpc = SolanaRpc(chain.rpc_url)
        self.subscriptions = ChainSubscriptions(chain.ws_url, max_reconnect_delay_s=0.5)
        self.known: dict[str, Token] = {}

    def tokens(self, mint: str) -> Token | None:
        return self.known.get(mint) or find_token(mint)

    async def launch(
        self, symbol: str, decimals: int, venue: str, quote: Token, amount: int, quote_amount: int
    ) -> tuple[LaunchedToken, Token]:
        launched = await self.rpc.launch_token(
            symbol,
            decimals,
            venue,  # type: ignore[arg-type]
            quote.mint,
            amount,
            quote_amount,
        )
        name = symbol.upper()  # the validator upper-cases, as POST /api/sim/launch does
        token = Token(name, str(launched.mint), decimals, name)
        self.known[token.mint] = token
        await landed(self.rpc, launched.signatures)
        return launched, token


@pytest.fixture
async def client(chains: ChainFactory) -> AsyncIterator[Callable[..., Awaitable[Client]]]:
    opened: list[Client] = []

    async def open_client(chain: ChainProcess | None = None, **env: str) -> Client:
        c = Client(chain or await chains.start(**env))
        await c.subscriptions.start()
        opened.append(c)
        return c

    yield open_client
    for c in opened:
        await c.subscriptions.close()
        await c.rpc.close()


async def until(check: Callable[[], Awaitable[bool]], within: float = 20) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "condition not reached before the deadline"
        await asyncio.sleep(0.02)  # a poll interval against the deadline, not a wait


async def landed(rpc: SolanaRpc, sigs: list[str]) -> None:
    async def all_landed() -> bool:
        statuses = await rpc.signature_statuses(sigs)
        if any(s is not None and s.err is not None for s in statuses):
            raise AssertionError(f"failed: {statuses}")
        return all(s is not None for s in statuses)

    await until(all_landed)


async def funded(rpc: SolanaRpc, amounts: dict[str, int]) -> Keypair:
    wallet = Keypair()
    await landed(rpc, await rpc.fund_wallet(wallet.pubkey(), amounts, lamports=10**9))
    return wallet


async def send(rpc: SolanaRpc, payer: Keypair, ix: Instruction) -> str:
    blockhash = (await rpc.latest_blockhash()).blockhash
    ixs = [set_compute_unit_limit(400_000), ix]
    message = MessageV0.try_compile(payer.pubkey(), ixs, [], blockhash)
    sig = await rpc.send_transaction(bytes(VersionedTransaction(message, [payer])))
    await landed(rpc, [sig])
    return sig


async def supply(rpc: SolanaRpc, mint: Pubkey | str) -> int:
    result = await rpc.call("getTokenSupply", [str(mint)])
    return int(result["value"]["amount"])


async def token_state(rpc: SolanaRpc) -> tuple[dict[Pubkey, int], dict[Pubkey, int]]:
    """(supply per mint, the sum of its token accounts' amounts per mint), all on chain."""
    mints, accounts = await asyncio.gather(
        rpc.program_accounts(TOKEN_PROGRAM_ID, data_size=MINT_LEN),
        rpc.program_accounts(TOKEN_PROGRAM_ID, data_size=TOKEN_ACCOUNT_LEN),
    )
    supplies = {key: decode_mint(account.data).supply for key, account in mints}
    held: dict[Pubkey, int] = dict.fromkeys(supplies, 0)
    for _, account in accounts:
        state = decode_token_account(account.data)
        held[state.mint] = held.get(state.mint, 0) + state.amount
    return supplies, held


def expected_pool(
    pool_id: str, token: Token, quote: Token, venue: str, amount: int, quote_amount: int
) -> Pool:
    """The model shared/launch.py builds, named as the pool cache names it."""
    pool = launch_pool(token, quote, venue, amount, quote_amount)
    return msgspec.structs.replace(pool, pool_id=pool_id)


class Changes:
    """The cache's change callbacks as an event the test can await."""

    def __init__(self, pools: ChainPools) -> None:
        self.seen: set[str] = set()
        self._event = asyncio.Event()
        pools.on_change(self._on_change)

    def _on_change(self, pool_ids: set[str]) -> None:
        self.seen |= pool_ids
        self._event.set()

    async def wait_until(self, done: Callable[[], bool], within: float = 20) -> None:
        async with asyncio.timeout(within):
            while not done():
                self._event.clear()
                await self._event.wait()


# ---- a launch, found and traded --------------------------------------------------------------


async def test_a_raydium_launch_is_a_mint_and_a_pool_the_cache_finds_and_trades(
    client: Callable[..., Awaitable[Client]],
) -> None:
    c = await client(**MARKET)
    rpc = c.rpc
    pools = await ChainPools.load(rpc, c.subscriptions, c.tokens)
    try:
        usdc_before = await supply(rpc, USDC)
        notified: list[tuple[AccountData, int]] = []
        quote_notified = asyncio.Event()

        def on_usdc(key: Pubkey, account: AccountData, slot: int) -> None:
            notified.append((account, slot))
            quote_notified.set()

        await c.subscriptions.account_subscribe(USDC, on_usdc)
        amount, quote_amount = 10**15, 5 * 10**10  # 1,000,000 PEPE (9 decimals), 50,000 USDC
        launched, pepe = await c.launch("PEPE", 9, "raydium", USDC_TOKEN, amount, quote_amount)
        assert launched.pool_id == "raydium-PEPE-USDC"
        addresses = R.pool_addresses(launched.mint, USDC)
        assert launched.pool_address == addresses.pool_state
        assert await supply(rpc, launched.mint) == amount
        assert await supply(rpc, USDC) == usdc_before + quote_amount
        mint_info = await rpc.call(
            "getAccountInfo", [str(launched.mint), {"encoding": "jsonParsed"}]
        )
        info = mint_info["value"]["data"]["parsed"]["info"]
        faucet = (await rpc.call("getIdentity"))["identity"]
        assert (info["decimals"], info["mintAuthority"], info["freezeAuthority"]) == (
            9,
            faucet,
            None,
        )
        # The quote mint's new supply was notified, in the mint transaction's slot.
        await asyncio.wait_for(quote_notified.wait(), 20)
        [status] = await rpc.signature_statuses(launched.signatures)
        assert status is not None
        account, slot = notified[-1]
        assert decode_mint(account.data).supply == usdc_before + quote_amount
        assert slot == status.slot

        assert "raydium-PEPE-USDC" not in pools.pools()
        assert await pools.discover() == {"raydium-PEPE-USDC"}
        pool = pools.pools()["raydium-PEPE-USDC"]
        expected = expected_pool(
            "raydium-PEPE-USDC", pepe, USDC_TOKEN, "raydium", amount, quote_amount
        )
        assert pool == expected
        assert isinstance(pool, CpmmPool) and (pool.reserve_a, pool.reserve_b) == (
            amount,
            quote_amount,
        )
        assert pools.address_of("raydium-PEPE-USDC") == launched.pool_address
        assert set(pools.pools()) == {*seed_pools(SEED), "raydium-PEPE-USDC"}

        # A real swap, 100 USDC in: it lands and moves what the model predicts, to the unit.
        wallet = await funded(rpc, {"USDC": 10**9, pepe.mint: 0})
        owner = wallet.pubkey()
        result, after = swap(pool, str(USDC), 10**8)
        changes = Changes(pools)
        ix = R.swap_base_input(
            pools.addresses("raydium-PEPE-USDC"),  # type: ignore[arg-type]
            owner,
            USDC,
            associated_token_address(owner, USDC),
            associated_token_address(owner, launched.mint),
            10**8,
            result.amount_out,
        )
        sig = await send(rpc, wallet, ix)
        tx = await rpc.transaction(sig)
        assert tx is not None and tx.err is None
        mine = {k: v for k, v in balance_changes(tx).items() if k[0] == str(owner)}
        assert mine == {
            (str(owner), str(USDC)): -(10**8),
            (str(owner), pepe.mint): result.amount_out,
        }
        await changes.wait_until(lambda: pools.pools()["raydium-PEPE-USDC"] == after)
        assert changes.seen == {"raydium-PEPE-USDC"}  # by notification, nothing else moved
    finally:
        await pools.close()


async def test_a_meteora_launch_against_sol_is_found_and_traded(
    client: Callable[..., Awaitable[Client]],
) -> None:
    c = await client(**MARKET)
    rpc = c.rpc
    pools = await ChainPools.load(rpc, c.subscriptions, c.tokens)
    try:
        amount, quote_amount = 7 * 10**11, 3 * 10**11  # 7,000,000 WIF (5 decimals), 300 SOL
        launched, wif = await c.launch("wif", 5, "meteora", SOL, amount, quote_amount)
        assert launched.pool_id == "meteora-WIF-SOL"
        assert launched.pool_address == M.pair_addresses(launched.mint, NATIVE_MINT, 100).lb_pair
        assert await supply(rpc, launched.mint) == amount
        assert await pools.discover() == {"meteora-WIF-SOL"}
        pool = pools.pools()["meteora-WIF-SOL"]
        assert pool == expected_pool("meteora-WIF-SOL", wif, SOL, "meteora", amount, quote_amount)
        assert isinstance(pool, DlmmPool)
        assert (sum(b[0] for b in pool.bins), sum(b[1] for b in pool.bins)) == (
            amount,
            quote_amount,
        )
        [reserve_y] = await rpc.multiple_accounts([pool_reserve_y(pools, "meteora-WIF-SOL")])
        assert reserve_y is not None and decode_token_account(reserve_y.data).is_native

        # 2 SOL in through swap2: the first swap of a fresh pair, as the model quotes it.
        wallet = await funded(rpc, {"SOL": 5 * 10**9, wif.mint: 0})
        owner = wallet.pubkey()
        result, after = swap(pool, SOL.mint, 2 * 10**9)
        assert isinstance(after, DlmmPool)
        addresses = pools.addresses("meteora-WIF-SOL")
        assert isinstance(addresses, M.DlmmAddresses)
        arrays = M.bin_arrays_for_swap(addresses.lb_pair, pool, SOL.mint, 2 * 10**9, extra=1)
        ix = M.swap2(
            addresses,
            owner,
            associated_token_address(owner, NATIVE_MINT),
            associated_token_address(owner, launched.mint),
            2 * 10**9,
            result.amount_out,
            arrays,
        )
        sig = await send(rpc, wallet, ix)
        tx = await rpc.transaction(sig)
        assert tx is not None and tx.err is None
        mine = {k: v for k, v in balance_changes(tx).items() if k[0] == str(owner)}
        assert mine == {
            (str(owner), SOL.mint): -2 * 10**9,
            (str(owner), wif.mint): result.amount_out,
        }
        changes = Changes(pools)

        def swapped() -> bool:
            now = pools.pools()["meteora-WIF-SOL"]
            assert isinstance(now, DlmmPool)
            return (now.active_id, now.bins, now.fee_x, now.fee_y) == (
                after.active_id,
                after.bins,
                after.fee_x,
                after.fee_y,
            )

        await changes.wait_until(swapped)
    finally:
        await pools.close()


def pool_reserve_y(pools: ChainPools, pool_id: str) -> Pubkey:
    addresses = pools.addresses(pool_id)
    assert isinstance(addresses, M.DlmmAddresses)
    return addresses.reserve_y


# ---- conservation and persistence ------------------------------------------------------------


async def accounts_of(rpc: SolanaRpc) -> dict[Pubkey, AccountData]:
    """Every account the token program and the two venues own."""
    found = await asyncio.gather(
        *(rpc.program_accounts(p) for p in (TOKEN_PROGRAM_ID, R.PROGRAM_ID, M.PROGRAM_ID))
    )
    return {key: account for group in found for key, account in group}


async def test_launches_keep_every_supply_held_and_survive_a_sigkill(
    client: Callable[..., Awaitable[Client]], chains: ChainFactory
) -> None:
    """On a chain without the seeded market (whose LP mints genesis leaves unheld): every
    mint's supply is the sum of its token accounts after launches and a swap, and the
    faucet paid exactly the fees and the lamports of every account the launches created."""
    c = await client(**PROGRAMS)
    rpc = c.rpc
    faucet = Pubkey.from_string((await rpc.call("getIdentity"))["identity"])
    faucet_before = (await rpc.multiple_accounts([faucet]))[0]
    before = await accounts_of(rpc)
    cat, _ = await c.launch("CAT", 6, "raydium", USDC_TOKEN, 10**12, 2 * 10**10)
    dog, _ = await c.launch("DOG", 0, "meteora", SOL, 10**9, 10**12)
    after = await accounts_of(rpc)
    created = {k: a for k, a in after.items() if k not in before}
    assert cat.mint in created and dog.mint in created
    assert cat.pool_address in created and dog.pool_address in created
    assert R.amm_config_address(0)[0] in created  # no seeded market: written with the pool
    faucet_after = (await rpc.multiple_accounts([faucet]))[0]
    assert faucet_before is not None and faucet_after is not None
    fees = 2 * 2 * 5_000  # two transactions, each signed by the faucet and the new mint
    assert faucet_before.lamports - faucet_after.lamports == fees + sum(
        a.lamports for a in created.values()
    )
    supplies, held = await token_state(rpc)
    assert supplies == held
    assert (supplies[cat.mint], supplies[dog.mint]) == (10**12, 10**9)
    assert (supplies[USDC], supplies[NATIVE_MINT]) == (2 * 10**10, 10**12)

    pools = await ChainPools.load(rpc, c.subscriptions, c.tokens)
    wallet = await funded(rpc, {"USDC": 10**9, str(cat.mint): 0})
    owner = wallet.pubkey()
    ix = R.swap_base_input(
        pools.addresses("raydium-CAT-USDC"),  # type: ignore[arg-type]
        owner,
        USDC,
        associated_token_address(owner, USDC),
        associated_token_address(owner, cat.mint),
        5 * 10**8,
        1,
    )
    launched_pools = pools.pools()
    await send(rpc, wallet, ix)
    await pools.refresh()
    snapshot = pools.pools()
    assert snapshot["raydium-CAT-USDC"] != launched_pools["raydium-CAT-USDC"]
    await pools.close()
    supplies, held = await token_state(rpc)
    assert supplies == held
    state = await accounts_of(rpc)

    # SIGKILL, then the same DATA_DIR: the launched pools and every balance are still there.
    c.chain.kill()
    again = await client(await chains.start(c.chain.data_dir, **PROGRAMS))
    again.known = c.known
    assert await accounts_of(again.rpc) == state
    restored = await ChainPools.load(again.rpc, again.subscriptions, again.tokens)
    try:
        assert restored.pools() == snapshot
        assert set(snapshot) == {"raydium-CAT-USDC", "meteora-DOG-SOL"}
    finally:
        await restored.close()
    assert await supply(again.rpc, cat.mint) == 10**12
    supplies, held = await token_state(again.rpc)
    assert supplies == held


# ---- bad params ------------------------------------------------------------------------------


def launch_params(**changes: Any) -> dict[str, Any]:
    good: dict[str, Any] = {
        "symbol": "NEW",
        "decimals": 6,
        "venue": "raydium",
        "quoteMint": str(USDC),
        "tokenAmount": 10**12,
        "quoteAmount": 10**9,
    }
    return {**good, **changes}


async def test_bad_params_are_refused_naming_the_param_and_create_nothing(
    client: Callable[..., Awaitable[Client]],
) -> None:
    c = await client(**PROGRAMS)
    rpc = c.rpc
    before = await accounts_of(rpc)
    count_before = await rpc.call("getTransactionCount")
    cases: list[tuple[Any, str]] = [
        (launch_params(quoteMint=str(Pubkey.new_unique())), "quoteMint"),
        (launch_params(quoteMint="not a mint"), "quoteMint"),
        (launch_params(quoteMint=None), "quoteMint"),
        (launch_params(quoteMint=str(TOKEN_PROGRAM_ID)), "quoteMint"),  # not a mint
        (launch_params(decimals=13), "decimals"),
        (launch_params(decimals=-1), "decimals"),
        (launch_params(decimals="6"), "decimals"),
        (launch_params(tokenAmount=0), "tokenAmount"),
        (launch_params(tokenAmount=-5), "tokenAmount"),
        (launch_params(tokenAmount=1 << 64), "tokenAmount"),
        (launch_params(quoteAmount=0), "quoteAmount"),
        (launch_params(quoteAmount=1.5), "quoteAmount"),
        (launch_params(venue="orca"), "venue"),
        (launch_params(venue=None), "venue"),
        (launch_params(symbol=""), "symbol"),
        (launch_params(symbol="USDC"), "symbol"),  # a registry token's symbol
        (launch_params(symbol="TOO LONG NAME"), "symbol"),
        (launch_params(tokenAmount=100, quoteAmount=100), "tokenAmount"),  # LP <= 100 locked
        ("not an object", "launch object"),
    ]
    for params, named in cases:
        with pytest.raises(RpcError) as refused:
            await rpc.call("localnet_launchToken", [params])
        assert refused.value.code == -32602, params
        assert named in refused.value.message, (params, refused.value.message)
    with pytest.raises(RpcError) as empty:
        await rpc.call("localnet_launchToken", [])
    assert empty.value.code == -32602
    # Nothing was sent nor written: a later slot still has the same accounts and count.
    await c.chain.rpc.wait_slot(await rpc.slot() + 3)
    assert await rpc.call("getTransactionCount") == count_before
    assert await accounts_of(rpc) == before
