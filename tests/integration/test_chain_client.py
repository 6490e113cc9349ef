"""The engine's chain client (shared/chain) against a real validator process: the batched RPC
client, PubSub with its reconnects, and the pool cache over the seeded market's accounts.

Nothing waits by sleeping: a test awaits a callback's event, or polls the RPC against a deadline
where the chain offers no event.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest
from solders.compute_budget import set_compute_unit_limit
from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction

from shared.chain.blockhash import RecentBlockhash
from shared.chain.pool_accounts import base_and_quote
from shared.chain.pools import ChainPools
from shared.chain.pubsub import ChainSubscriptions
from shared.chain.rpc import RpcError, SignatureStatus, SolanaRpc, token_balance_changes
from shared.dex.cpmm import CpmmPool
from shared.dex.market_seed import PAIRS, seed_pools
from shared.dex.pools import Pool, swap
from shared.tokens import token_by_symbol
from shared.venues import meteora_dlmm as M
from shared.venues import raydium_cpmm as R
from shared.venues.spl import NATIVE_MINT, associated_token_address
from tests.helpers.litesvm import PROGRAMS_DIR
from tests.helpers.validator import (
    REPO,
    USDC,
    ChainFactory,
    ChainProcess,
    chains,
    transfer_tx,
)

__all__ = ["chains"]

SEED = 7
MARKET = {
    "CHAIN_GENESIS_HOOK": "shared.chain.genesis:seeded_market",
    "CHAIN_PROGRAMS_DIR": str(PROGRAMS_DIR),
    "MARKET_SEED": str(SEED),
    "SIM_SEED": "",
}
U64_MAX = (1 << 64) - 1


@dataclass
class Client:
    chain: ChainProcess
    rpc: SolanaRpc
    subscriptions: ChainSubscriptions


@pytest.fixture
async def client(chains: ChainFactory) -> AsyncIterator[Callable[..., Awaitable[Client]]]:
    """A factory: a validator with the seeded market, and the client's RPC and PubSub."""
    opened: list[Client] = []

    async def open_client(through: Cuttable | None = None) -> Client:
        chain = await chains.start(**MARKET)
        rpc = SolanaRpc(chain.rpc_url)
        ws_url = chain.ws_url if through is None else await through.start(chain.ws_port)
        subscriptions = ChainSubscriptions(ws_url, max_reconnect_delay_s=0.5)
        await subscriptions.start()
        opened.append(Client(chain, rpc, subscriptions))
        return opened[-1]

    yield open_client
    for c in opened:
        await c.subscriptions.close()
        await c.rpc.close()


class Cuttable:
    """A TCP forwarder to the validator's PubSub port that the test can cut (every open
    connection closed, new ones refused until `restore()`): a socket drop on demand."""

    def __init__(self) -> None:
        self.open = True
        self._writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None

    async def start(self, upstream_port: int) -> str:
        self._upstream = upstream_port
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return f"ws://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.open:
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._upstream)
        self._writers += [writer, up_writer]
        await asyncio.gather(
            self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
        )

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()

    def cut(self) -> None:
        self.open = False
        for writer in self._writers:
            writer.close()
        self._writers.clear()

    def restore(self) -> None:
        self.open = True

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


async def until(check: Callable[[], Awaitable[bool]], within: float = 20) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "condition not reached before the deadline"
        await asyncio.sleep(0.02)  # a poll interval against the deadline, not a wait


async def landed(rpc: SolanaRpc, sigs: list[str]) -> list[SignatureStatus]:
    found: list[SignatureStatus | None] = []

    async def all_landed() -> bool:
        nonlocal found
        found = await rpc.signature_statuses(sigs)
        return all(s is not None for s in found)

    await until(all_landed)
    return [s for s in found if s is not None]


async def funded(rpc: SolanaRpc, amounts: dict[str, int], **options: object) -> Keypair:
    wallet = Keypair()
    sigs = await rpc.fund_wallet(wallet.pubkey(), amounts, **options)  # type: ignore[arg-type]
    assert all(s.err is None for s in await landed(rpc, sigs))
    return wallet


def signed(payer: Keypair, ixs: list, blockhash: Hash) -> bytes:  # type: ignore[type-arg]
    message = MessageV0.try_compile(payer.pubkey(), ixs, [], blockhash)
    return bytes(VersionedTransaction(message, [payer]))


# ---- the RPC client -------------------------------------------------------------------------


async def test_concurrent_sends_go_as_one_batch_and_fail_alone(
    client: Callable[..., Awaitable[Client]],
) -> None:
    c = await client()
    rpc = c.rpc
    alice = await funded(rpc, {"USDC": 10_000_000}, lamports=10**9)
    bob = await funded(rpc, {"USDC": 0})
    blockhash = (await rpc.latest_blockhash()).blockhash
    good = [bytes(transfer_tx(alice, bob.pubkey(), 1_000 + i, blockhash)) for i in range(20)]
    forged = bytearray(good[0])
    forged[1] ^= 0xFF  # the first signature's first byte: the signature no longer verifies
    before = rpc.http_requests
    results = await asyncio.gather(
        *(rpc.send_transaction(raw) for raw in good[:10]),
        rpc.send_transaction(bytes(forged)),
        *(rpc.send_transaction(raw) for raw in good[10:]),
        return_exceptions=True,
    )
    assert rpc.http_requests - before == 1  # 21 sends, one HTTP request
    error = results[10]
    assert isinstance(error, RpcError) and error.code == -32003
    sigs = [r for i, r in enumerate(results) if i != 10]
    assert sigs == [str(VersionedTransaction.from_bytes(raw).signatures[0]) for raw in good]
    statuses = await landed(rpc, sigs)  # type: ignore[arg-type]
    assert all(s.err is None for s in statuses)
    assert {s.confirmation_status for s in statuses} == {"finalized"}
    [bob_account] = await rpc.token_accounts_by_owner(bob.pubkey())
    assert bob_account.amount == sum(1_000 + i for i in range(20))

    # Preflight on: a transfer of more than alice holds fails its own caller only.
    too_much = bytes(transfer_tx(alice, bob.pubkey(), 10**12, blockhash))
    fine = bytes(transfer_tx(alice, bob.pubkey(), 7, blockhash))
    before = rpc.http_requests
    refused, sent = await asyncio.gather(
        rpc.send_transaction(too_much, skip_preflight=False),
        rpc.send_transaction(fine, skip_preflight=False),
        return_exceptions=True,
    )
    assert rpc.http_requests - before == 1
    assert isinstance(refused, RpcError) and refused.code == -32002
    assert sent == str(VersionedTransaction.from_bytes(fine).signatures[0])


async def test_statuses_and_blockhashes_are_coalesced(
    client: Callable[..., Awaitable[Client]],
) -> None:
    c = await client()
    rpc = c.rpc
    alice = await funded(rpc, {"USDC": 1_000_000}, lamports=10**9)
    bob = await funded(rpc, {"USDC": 0})
    blockhash = (await rpc.latest_blockhash()).blockhash
    real = [
        await rpc.send_transaction(bytes(transfer_tx(alice, bob.pubkey(), 1 + i, blockhash)))
        for i in range(3)
    ]
    await landed(rpc, real)
    unknown = [str(Signature.new_unique()) for _ in range(300)]
    before = rpc.http_requests
    small, big, again = await asyncio.gather(
        rpc.signature_statuses(real[:2]),
        rpc.signature_statuses([*unknown, real[2]]),  # 301 signatures: two calls of <= 256
        rpc.signature_statuses(real),
    )
    assert rpc.http_requests - before == 1
    assert [s is not None and s.err is None for s in small] == [True, True]
    assert big[:300] == [None] * 300 and big[300] is not None
    assert again == [*small, big[300]]

    before = rpc.http_requests
    hashes = await asyncio.gather(*(rpc.latest_blockhash() for _ in range(10)))
    assert rpc.http_requests - before == 1
    assert len(set(hashes)) == 1 and hashes[0].last_valid_block_height > await rpc.slot()


async def test_the_recent_blockhash_is_at_hand_and_follows_the_slots(
    client: Callable[..., Awaitable[Client]],
) -> None:
    c = await client()
    blockhashes = RecentBlockhash(c.rpc, c.subscriptions)
    await blockhashes.start()
    try:
        first = await blockhashes.get()  # nothing read yet: read now
        before = c.rpc.http_requests
        assert await blockhashes.get() == first  # at hand: no request
        assert c.rpc.http_requests == before
        seen = {first.blockhash}
        await until(lambda: _new_blockhash(blockhashes, seen))  # read again after slots
        assert (await blockhashes.get()).last_valid_block_height > first.last_valid_block_height
        # Notifications stopped (the socket closed): an old blockhash is read afresh.
        await c.subscriptions.close()
        stale = await blockhashes.get()
        blockhashes._current = (time.monotonic() - 60, stale)
        before = c.rpc.http_requests
        fresh = await blockhashes.get()
        assert c.rpc.http_requests == before + 1
        assert fresh.last_valid_block_height >= stale.last_valid_block_height
    finally:
        await blockhashes.close()


async def _new_blockhash(blockhashes: RecentBlockhash, seen: set[Hash]) -> bool:
    return (await blockhashes.get()).blockhash not in seen


async def test_transaction_and_token_balance_changes_of_a_transfer(
    client: Callable[..., Awaitable[Client]],
) -> None:
    c = await client()
    rpc = c.rpc
    alice = await funded(rpc, {"USDC": 1_000_000}, lamports=10**9)
    bob = await funded(rpc, {"USDC": 5})
    blockhash = (await rpc.latest_blockhash()).blockhash
    raw = bytes(transfer_tx(alice, bob.pubkey(), 250_000, blockhash))
    simulation = await rpc.simulate(raw)
    assert simulation.err is None and simulation.units_consumed and simulation.logs
    sig = await rpc.send_transaction(raw)
    [status] = await landed(rpc, [sig])
    info = await rpc.transaction(sig)
    assert info is not None
    assert (info.slot, info.err, info.fee) == (status.slot, None, 5_000)
    assert info.account_keys[0] == str(alice.pubkey())
    assert info.compute_units_consumed and info.log_messages
    assert token_balance_changes(info) == {
        (str(alice.pubkey()), str(USDC)): -250_000,
        (str(bob.pubkey()), str(USDC)): 250_000,
    }
    assert await rpc.transaction(str(Signature.new_unique())) is None
    fees = await rpc.recent_prioritization_fees([associated_token_address(alice.pubkey(), USDC)])
    assert fees and all(isinstance(f, int) for f in fees)


async def test_accounts_token_accounts_faucets_and_errors(
    client: Callable[..., Awaitable[Client]],
) -> None:
    c = await client()
    rpc = c.rpc
    delegate = Keypair().pubkey()
    alice = await funded(rpc, {"USDC": 123, "SOL": 10**9}, delegate=delegate)
    accounts = {a.mint: a for a in await rpc.token_accounts_by_owner(alice.pubkey())}
    assert set(accounts) == {USDC, NATIVE_MINT}
    usdc = accounts[USDC]
    assert usdc.address == associated_token_address(alice.pubkey(), USDC)
    assert (usdc.owner, usdc.amount) == (alice.pubkey(), 123)
    assert (usdc.delegate, usdc.delegated_amount) == (delegate, U64_MAX)
    assert accounts[NATIVE_MINT].amount == 10**9

    # 150 addresses: two getMultipleAccounts of <= 100, one HTTP request.
    addresses = [usdc.address, *(Pubkey.new_unique() for _ in range(148)), alice.pubkey()]
    before = rpc.http_requests
    found = await rpc.multiple_accounts(addresses)
    assert rpc.http_requests - before == 1
    assert len(found) == 150 and found[1:149] == [None] * 148
    assert found[0] is not None and found[0].data[64:72] == (123).to_bytes(8, "little")
    assert found[149] is not None and found[149].data == b""

    target = Keypair().pubkey()
    [status] = await landed(rpc, [await rpc.request_airdrop(target, 5 * 10**9)])
    assert status.err is None
    [account] = await rpc.multiple_accounts([target])
    assert account is not None and account.lamports == 5 * 10**9
    with pytest.raises(RpcError) as raised:
        await rpc.call("noSuchMethod", [])
    assert raised.value.code == -32601
    assert await rpc.block_height() >= status.slot


# ---- the pool cache -------------------------------------------------------------------------


def test_labels_reproduce_the_seeded_pairs() -> None:
    for spec in PAIRS:
        base, quote = token_by_symbol(spec.base), token_by_symbol(spec.quote)
        assert base_and_quote(quote, base) == (base, quote)


async def test_pools_load_exactly_the_seeded_market(
    client: Callable[..., Awaitable[Client]],
) -> None:
    c = await client()
    pools = await ChainPools.load(c.rpc, c.subscriptions)
    try:
        expected = seed_pools(SEED)
        assert pools.pools() == expected  # every field of every pool, ids included
        assert pools.pools() is pools.pools()  # nothing changed: the same snapshot
        for pool_id, pool in expected.items():
            if isinstance(pool, CpmmPool):
                a, b = Pubkey.from_string(pool.mint_a), Pubkey.from_string(pool.mint_b)
                assert pools.addresses(pool_id) == R.pool_addresses(a, b)
                assert pools.address_of(pool_id) == R.pool_addresses(a, b).pool_state
            else:
                x, y = Pubkey.from_string(pool.mint_x), Pubkey.from_string(pool.mint_y)
                assert pools.addresses(pool_id) == M.pair_addresses(x, y, pool.bin_step)
        assert await pools.discover() == set()  # nothing new
        assert await pools.refresh() == set()  # nothing changed
    finally:
        await pools.close()


async def sol_usdc_swap(rpc: SolanaRpc, pools: ChainPools, wallet: Keypair, amount: int) -> str:
    """A Raydium swap of `amount` lamports of wrapped SOL into USDC, sent by the wallet."""
    addresses = pools.addresses("raydium-SOL-USDC")
    assert isinstance(addresses, R.CpmmAddresses)
    owner = wallet.pubkey()
    ix = R.swap_base_input(
        addresses,
        owner,
        NATIVE_MINT,
        associated_token_address(owner, NATIVE_MINT),
        associated_token_address(owner, USDC),
        amount,
        0,
    )
    blockhash = (await rpc.latest_blockhash()).blockhash
    return await rpc.send_transaction(
        signed(wallet, [set_compute_unit_limit(400_000), ix], blockhash)
    )


class Changes:
    """The cache's change callbacks as events the test can await."""

    def __init__(self, pools: ChainPools) -> None:
        self.seen: list[set[str]] = []
        self._event = asyncio.Event()
        pools.on_change(self._on_change)

    def _on_change(self, pool_ids: set[str]) -> None:
        self.seen.append(pool_ids)
        self._event.set()

    async def wait_for(self, pool_id: str, within: float = 20) -> None:
        await self.wait_until(lambda: any(pool_id in ids for ids in self.seen), within)

    async def wait_until(self, done: Callable[[], bool], within: float = 20) -> None:
        """Until `done()` holds, checked after each change."""
        async with asyncio.timeout(within):
            while not done():
                self._event.clear()
                await self._event.wait()


def expected_after(pool: Pool, amount_sol: int) -> Pool:
    return swap(pool, str(NATIVE_MINT), amount_sol)[1]


async def test_a_swap_updates_the_cache_through_account_notifications(
    client: Callable[..., Awaitable[Client]],
) -> None:
    c = await client()
    pools = await ChainPools.load(c.rpc, c.subscriptions)
    try:
        wallet = await funded(c.rpc, {"SOL": 10**9, "USDC": 0}, lamports=10**9)
        before = pools.pools()
        frozen = dict(before)
        changes = Changes(pools)
        sig = await sol_usdc_swap(c.rpc, pools, wallet, 10**8)
        await changes.wait_for("raydium-SOL-USDC")
        [status] = await landed(c.rpc, [sig])
        assert status.err is None
        after = pools.pools()
        assert after is not before and before == frozen  # a new snapshot, the old untouched
        assert after["raydium-SOL-USDC"] == expected_after(before["raydium-SOL-USDC"], 10**8)
        assert {k: v for k, v in after.items() if k != "raydium-SOL-USDC"} == {
            k: v for k, v in before.items() if k != "raydium-SOL-USDC"
        }
        assert set().union(*changes.seen) == {"raydium-SOL-USDC"}
        assert pools.full_reads == 0  # the update came by notification, not by a re-read
    finally:
        await pools.close()


async def test_the_cache_never_publishes_a_pool_half_swapped(
    client: Callable[..., Awaitable[Client]],
) -> None:
    """A swap's accounts are notified one by one; every pool the cache hands out is one that
    was on chain (the state before or after some number of these swaps), never one vault
    after a swap and the other before it."""
    c = await client()
    pools = await ChainPools.load(c.rpc, c.subscriptions)
    try:
        wallet = await funded(c.rpc, {"SOL": 10**9, "USDC": 0}, lamports=10**9)
        states = [pools.pools()["raydium-SOL-USDC"]]
        for _ in range(8):
            states.append(expected_after(states[-1], 10**7))
        published: list[Pool] = []
        pools.on_change(lambda ids: published.append(pools.pools()["raydium-SOL-USDC"]))
        changes = Changes(pools)
        for _ in range(8):
            [status] = await landed(c.rpc, [await sol_usdc_swap(c.rpc, pools, wallet, 10**7)])
            assert status.err is None
        await changes.wait_until(lambda: pools.pools()["raydium-SOL-USDC"] == states[-1])
        assert published and all(pool in states for pool in published)
    finally:
        await pools.close()


async def test_changes_missed_while_the_socket_was_down_are_read_after_the_reconnect(
    client: Callable[..., Awaitable[Client]],
) -> None:
    proxy = Cuttable()
    c = await client(through=proxy)
    pools = await ChainPools.load(c.rpc, c.subscriptions)
    try:
        wallet = await funded(c.rpc, {"SOL": 10**9, "USDC": 0}, lamports=10**9)
        before = pools.pools()
        changes = Changes(pools)
        proxy.cut()
        [status] = await landed(c.rpc, [await sol_usdc_swap(c.rpc, pools, wallet, 10**8)])
        assert status.err is None
        assert pools.pools() is before and changes.seen == []  # the notification was lost
        proxy.restore()
        await changes.wait_for("raydium-SOL-USDC")
        assert (c.subscriptions.reconnects, pools.gaps, pools.full_reads) == (1, 1, 1)
        after = pools.pools()
        assert after["raydium-SOL-USDC"] == expected_after(before["raydium-SOL-USDC"], 10**8)
        assert changes.seen == [{"raydium-SOL-USDC"}]
    finally:
        await pools.close()
        await proxy.close()


def restart_on_the_same_ports(chains: ChainFactory, chain: ChainProcess) -> None:
    """The stopped validator again, same DATA_DIR and ports (ChainFactory.start would pick new
    ports); the factory kills it at the end of the test."""
    log_path = chain.log_path.with_suffix(".restarted.log")
    with log_path.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "validator"],
            cwd=REPO,
            env=chain.env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    chains.running.append(
        ChainProcess(proc, chain.data_dir, chain.port, chain.ws_port, chain.env, log_path)
    )


async def test_a_validator_restart_is_a_gap_then_notifications_resume(
    client: Callable[..., Awaitable[Client]], chains: ChainFactory
) -> None:
    c = await client()
    pools = await ChainPools.load(c.rpc, c.subscriptions)
    try:
        wallet = await funded(c.rpc, {"SOL": 10**9, "USDC": 0}, lamports=10**9)
        gap = asyncio.Event()
        c.subscriptions.on_gap(gap.set)
        # In a thread: the loop keeps running, so the client answers the node's closing
        # handshake (a blocked loop makes the node wait its 10 s close timeout).
        assert await asyncio.to_thread(c.chain.terminate) == 0
        restart_on_the_same_ports(chains, c.chain)
        await asyncio.wait_for(gap.wait(), 30)

        async def reread() -> bool:
            return pools.full_reads == 1

        await until(reread)
        assert (c.subscriptions.reconnects, pools.gaps) == (1, 1)
        before = pools.pools()
        assert before == seed_pools(SEED)  # the restored ledger: the market as it was
        changes = Changes(pools)
        await sol_usdc_swap(c.rpc, pools, wallet, 10**8)
        await changes.wait_for("raydium-SOL-USDC")  # subscribed again on the new process
        after = pools.pools()["raydium-SOL-USDC"]
        assert after == expected_after(before["raydium-SOL-USDC"], 10**8)
        assert pools.full_reads == 1
    finally:
        await pools.close()


async def test_discover_finds_a_pool_launched_since(
    client: Callable[..., Awaitable[Client]],
) -> None:
    c = await client()
    pools = await ChainPools.load(c.rpc, c.subscriptions)
    try:
        bonk = token_by_symbol("BONK")
        amount_bonk, amount_usdc = 5 * 10**10, 10**9  # 500,000 BONK for 1,000 USDC
        creator = await funded(
            c.rpc, {"BONK": amount_bonk, "USDC": amount_usdc}, lamports=10 * 10**9
        )
        changes = Changes(pools)
        ix = R.initialize(
            creator.pubkey(), Pubkey.from_string(bonk.mint), USDC, amount_bonk, amount_usdc
        )
        blockhash = (await c.rpc.latest_blockhash()).blockhash
        raw = signed(creator, [set_compute_unit_limit(400_000), ix], blockhash)
        [status] = await landed(c.rpc, [await c.rpc.send_transaction(raw)])
        assert status.err is None
        assert "raydium-BONK-USDC" not in pools.pools()  # a new pool is found by discover()
        assert await pools.discover() == {"raydium-BONK-USDC"}
        assert changes.seen == [{"raydium-BONK-USDC"}]
        assert pools.pools()["raydium-BONK-USDC"] == CpmmPool(
            pool_id="raydium-BONK-USDC",
            mint_a=bonk.mint,
            mint_b=str(USDC),
            reserve_a=amount_bonk,
            reserve_b=amount_usdc,
            fee_bps=25,
        )
        assert set(pools.pools()) == {*seed_pools(SEED), "raydium-BONK-USDC"}
    finally:
        await pools.close()
