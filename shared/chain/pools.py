"""Each process's cache of the venues' pools, read from chain accounts and kept fresh.

`ChainPools.load` discovers every Raydium CPMM pool (PoolState accounts) and Meteora DLMM pair
(LbPair accounts, their BinArrays), subscribes to every account a pool is decoded from, then
reads them all once (subscribing first, so that no change falls between the read and the
subscription) and decodes the engine's CpmmPool / DlmmPool models (shared/chain/pool_accounts).

Freshness: an account notification says that the pools using that account changed; those pools'
accounts are then read again in one getMultipleAccounts (one slot's state) before they are
decoded. A swap changes several accounts of a pool (both vaults, the observation), and they are
notified one by one: decoding from the notifications alone would publish, for a moment, a pool
with one vault after the swap and the other before it — a price that never was, which could
fire a limit order. One read at a time, for every pool that changed meanwhile; every stored
account keeps the slot it was read or notified at, and older bytes never replace newer. After
a PubSub reconnect everything is read again and new pools are looked for.

Tokens are resolved by mint with `tokens` (shared.tokens.find_token by default, which also
knows the launched tokens this process registered). A pool with a mint it does not know is
skipped, not named by mint, so that its id never changes later; `discover()` tries it again.

`pools()` is a snapshot: a new dict whenever something changed, never mutated once handed out.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from typing import Any

import aiohttp
import structlog
from solders.pubkey import Pubkey

from shared.chain.pool_accounts import (
    CpmmEntry,
    DlmmEntry,
    Entry,
    base_and_quote,
    decode_cpmm,
    decode_dlmm,
    liquid_array_indexes,
    pool_label,
)
from shared.chain.pubsub import ChainSubscriptions
from shared.chain.rpc import AccountData, RpcError, SolanaRpc
from shared.dex.pools import Pool
from shared.dex.routing import NoRoute, Route, ranked_routes
from shared.tokens import Token, find_token
from shared.venues import meteora_dlmm as M
from shared.venues import raydium_cpmm as R

log = structlog.get_logger(__name__)

ChangeCallback = Callable[[set[str]], None]
TokenLookup = Callable[[str], Token | None]

BIN_ARRAY_LB_PAIR_OFFSET = 24  # discriminator 8, index i64, version u8, padding 7
_READ_ERRORS = (aiohttp.ClientError, RpcError, OSError, asyncio.TimeoutError)


class ChainPools:
    """See the module. Build with `await ChainPools.load(...)`; `await close()` when done."""

    def __init__(
        self, rpc: SolanaRpc, subscriptions: ChainSubscriptions, tokens: TokenLookup
    ) -> None:
        self.rpc = rpc
        self.subscriptions = subscriptions
        self.tokens = tokens
        self.full_reads = 0  # re-reads of every account (after a gap, or refresh())
        self.gaps = 0
        self._entries: dict[str, Entry] = {}
        self._by_address: dict[Pubkey, str] = {}  # PoolState / LbPair -> pool id
        self._skipped: set[Pubkey] = set()  # pools whose tokens are unknown (for now)
        self._bytes: dict[Pubkey, bytes] = {}  # every account read: its data (b"": none)
        self._slots: dict[Pubkey, int] = {}  # the slot it was read or notified at
        self._users: dict[Pubkey, set[str]] = {}  # address -> pool ids decoded from it
        self._subscribed: set[Pubkey] = set()
        self._snapshot: dict[str, Pool] = {}
        self._callbacks: list[ChangeCallback] = []
        self._dirty: set[str] = set()  # pools notified since the last consistent read began
        self._reading_dirty = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._discovering = asyncio.Lock()

    @classmethod
    async def load(
        cls,
        rpc: SolanaRpc,
        subscriptions: ChainSubscriptions,
        tokens: TokenLookup = find_token,
    ) -> ChainPools:
        pools = cls(rpc, subscriptions, tokens)
        subscriptions.on_gap(pools._on_gap)
        await pools.discover()
        return pools

    async def close(self) -> None:
        """Stop the background re-reads (the subscriptions are their owner's to close)."""
        self._callbacks.clear()
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- reading the cache ------------------------------------------------------------------

    def pools(self) -> dict[str, Pool]:
        return self._snapshot

    async def routes(
        self, mint_in: str, mint_out: str, amount_in: int
    ) -> tuple[dict[str, Pool], list[Route]]:
        """The pools now and the routes on them, best first (shared.dex.routing). A pair with
        no route may have a pool launched since the cache last looked: it looks once more
        (`discover`) first. NoRoute when there is still none."""
        try:
            snapshot = self.pools()
            return snapshot, ranked_routes(snapshot, mint_in, mint_out, amount_in)
        except NoRoute:
            await self.discover()
        snapshot = self.pools()
        return snapshot, ranked_routes(snapshot, mint_in, mint_out, amount_in)

    def addresses(self, pool_id: str) -> R.CpmmAddresses | M.DlmmAddresses:
        return self._entries[pool_id].addresses

    def address_of(self, pool_id: str) -> Pubkey:
        """The pool's PoolState (CPMM) or LbPair (DLMM) address."""
        return self._entries[pool_id].address

    def on_change(self, callback: ChangeCallback) -> None:
        """Call `callback(pool ids)` after every change of the snapshot (new pools too)."""
        self._callbacks.append(callback)

    # -- discovery --------------------------------------------------------------------------

    async def discover(self) -> set[str]:
        """Find pools not cached yet (all of them the first time); returns their ids."""
        async with self._discovering:
            cpmm, dlmm = await asyncio.gather(
                self.rpc.program_accounts(
                    R.PROGRAM_ID,
                    data_size=R.POOL_STATE_LEN,
                    memcmp=[(0, R.POOL_STATE_DISCRIMINATOR)],
                ),
                self.rpc.program_accounts(
                    M.PROGRAM_ID, data_size=M.LB_PAIR_LEN, memcmp=[(0, M.LB_PAIR_DISCRIMINATOR)]
                ),
            )
            entries: list[Entry] = []
            for address, account in cpmm:
                if address not in self._by_address:
                    entries.extend(self._register(self._cpmm_entry(address, account.data)))
            pairs = [
                (address, account) for address, account in dlmm if address not in self._by_address
            ]
            arrays = await asyncio.gather(*(self._bin_arrays(address) for address, _ in pairs))
            for (address, account), found in zip(pairs, arrays, strict=True):
                entries.extend(self._register(self._dlmm_entry(address, account.data, found)))
            accounts = [key for entry in entries for key in entry.accounts]
            await self._subscribe(accounts)
            await self._read(accounts)
            new = {entry.pool_id for entry in entries}
            self._decode(new)
            return new

    def _register(self, entry: Entry | None) -> list[Entry]:
        if entry is None:
            return []
        self._entries[entry.pool_id] = entry
        self._by_address[entry.address] = entry.pool_id
        for key in entry.accounts:
            self._users.setdefault(key, set()).add(entry.pool_id)
        return [entry]

    def _resolve(self, address: Pubkey, mints: Iterable[Pubkey]) -> tuple[Token, Token] | None:
        found = [self.tokens(str(mint)) for mint in mints]
        if None in found:
            if address not in self._skipped:
                log.info("pool skipped: a mint is not a known token", pool=str(address))
            self._skipped.add(address)
            return None
        self._skipped.discard(address)
        a, b = found
        assert a is not None and b is not None
        return base_and_quote(a, b)

    def _pool_id(self, label: str, address: Pubkey) -> str:
        """The label, unless another pool has it already (a second pool of the same pair and
        venue gets its address's first characters appended)."""
        if label in self._entries and self._entries[label].address != address:
            return f"{label}-{str(address)[:8]}"
        return label

    def _cpmm_entry(self, address: Pubkey, data: bytes) -> CpmmEntry | None:
        state = R.decode_pool_state(data)
        pair = self._resolve(address, (state.token_0_mint, state.token_1_mint))
        if pair is None:
            return None
        base, quote = pair
        pool_id = self._pool_id(pool_label("raydium", base, quote), address)
        addresses = R.addresses_from_pool_state(address, state)
        return CpmmEntry(pool_id=pool_id, addresses=addresses, base_mint=base.mint)

    def _dlmm_entry(
        self, address: Pubkey, data: bytes, arrays: dict[int, Pubkey]
    ) -> DlmmEntry | None:
        pair_state = M.decode_lb_pair(data)
        pair = self._resolve(address, (pair_state.token_x_mint, pair_state.token_y_mint))
        if pair is None:
            return None
        pool_id = self._pool_id(pool_label("meteora", *pair), address)
        addresses = M.addresses_from_lb_pair(address, pair_state)
        for index in liquid_array_indexes(data):  # named by the bitmap, not found: derive them
            arrays.setdefault(index, M.bin_array_address(address, index))
        return DlmmEntry(pool_id=pool_id, addresses=addresses, bin_arrays=arrays)

    async def _bin_arrays(self, lb_pair: Pubkey) -> dict[int, Pubkey]:
        found = await self.rpc.program_accounts(
            M.PROGRAM_ID,
            data_size=M.BIN_ARRAY_LEN,
            memcmp=[(0, M.BIN_ARRAY_DISCRIMINATOR), (BIN_ARRAY_LB_PAIR_OFFSET, bytes(lb_pair))],
        )
        return {M.decode_bin_array(account.data).index: address for address, account in found}

    # -- reads and notifications ------------------------------------------------------------

    async def refresh(self, pool_ids: Iterable[str] | None = None) -> set[str]:
        """Read the pools' accounts again (all pools by default); returns the ids that
        changed."""
        ids = set(self._entries) if pool_ids is None else set(pool_ids)
        accounts = list(dict.fromkeys(k for i in ids for k in self._entries[i].accounts))
        changed = await self._read(accounts)
        if pool_ids is None:
            self.full_reads += 1
        return self._decode({i for key in changed for i in self._users.get(key, ())} & ids)

    async def _subscribe(self, accounts: Iterable[Pubkey]) -> None:
        new = [key for key in dict.fromkeys(accounts) if key not in self._subscribed]
        self._subscribed.update(new)
        await asyncio.gather(
            *(self.subscriptions.account_subscribe(key, self._on_account) for key in new)
        )

    async def _read(self, accounts: list[Pubkey]) -> set[Pubkey]:
        """Read `accounts` and store them; the addresses whose bytes changed."""
        slot, found = await self.rpc.multiple_accounts_at(accounts)
        return {
            key
            for key, account in zip(accounts, found, strict=True)
            if self._store(key, b"" if account is None else account.data, slot)
        }

    def _store(self, key: Pubkey, data: bytes, slot: int) -> bool:
        """Keep `data` as read or notified at `slot`, unless what is kept is newer; whether
        the bytes changed."""
        known = self._slots.get(key)
        if known is not None and slot < known:
            return False
        self._slots[key] = slot
        if known is not None and self._bytes[key] == data:
            return False
        self._bytes[key] = data
        return True

    def _on_account(self, key: Pubkey, account: AccountData, slot: int) -> None:
        data = account.data if account.lamports else b""
        if not self._store(key, data, slot):
            return
        self._dirty |= self._users.get(key, set())
        if not self._reading_dirty:
            self._reading_dirty = True
            self._spawn(self._read_dirty())

    async def _read_dirty(self) -> None:
        """Read the notified pools' accounts at one slot, decode, and again while more were
        notified meanwhile. A failed read leaves them dirty for the next notification (a node
        that went away is a gap: everything is read again when it is back)."""
        try:
            while self._dirty:
                dirty, self._dirty = self._dirty, set()
                accounts = list(dict.fromkeys(k for i in dirty for k in self._entries[i].accounts))
                try:
                    await self._read(accounts)
                except _READ_ERRORS as exc:
                    log.warning("pool read after a notification failed", error=str(exc))
                    self._dirty |= dirty
                    return
                self._decode(dirty)
        finally:
            self._reading_dirty = False

    def _decode(self, pool_ids: set[str]) -> set[str]:
        """Decode these pools from the stored bytes, publish those that changed."""
        updates: dict[str, Pool | None] = {}
        data = self._bytes
        for pool_id in pool_ids:
            entry = self._entries[pool_id]
            if not data.get(entry.address):  # closed
                if pool_id in self._snapshot:
                    updates[pool_id] = None
                continue
            if isinstance(entry, DlmmEntry):
                self._watch_new_arrays(entry, data[entry.address])
            try:
                pool: Pool = (
                    decode_cpmm(entry, data)
                    if isinstance(entry, CpmmEntry)
                    else decode_dlmm(entry, data)
                )
            except (ValueError, KeyError) as exc:
                # A pool the models do not cover, or accounts from two slots that disagree:
                # the previous model stays until the next notification decodes.
                log.warning("pool not decoded", pool=pool_id, error=str(exc))
                continue
            if self._snapshot.get(pool_id) != pool:
                updates[pool_id] = pool
        if updates:
            snapshot = {**self._snapshot, **{k: v for k, v in updates.items() if v is not None}}
            for pool_id in (k for k, v in updates.items() if v is None):
                del snapshot[pool_id]
            self._snapshot = snapshot
            changed = set(updates)
            for callback in list(self._callbacks):
                try:
                    callback(changed)
                except Exception:
                    log.exception("pool change callback failed")
        return set(updates)

    def _watch_new_arrays(self, entry: DlmmEntry, lb_pair: bytes) -> None:
        """A bin array the pair's bitmap names that the entry lacks (liquidity added beyond
        the known arrays): add it, subscribe, read, decode again (in the background)."""
        missing = liquid_array_indexes(lb_pair) - set(entry.bin_arrays)
        if not missing:
            return
        arrays = dict(entry.bin_arrays)
        arrays.update({i: M.bin_array_address(entry.address, i) for i in missing})
        updated = DlmmEntry(pool_id=entry.pool_id, addresses=entry.addresses, bin_arrays=arrays)
        self._entries[entry.pool_id] = updated
        new = [arrays[i] for i in missing]
        for key in new:
            self._users.setdefault(key, set()).add(entry.pool_id)

        async def add() -> None:
            await self._subscribe(new)
            await self._read(new)
            self._decode({entry.pool_id})

        self._spawn(add())

    # -- gaps -------------------------------------------------------------------------------

    def _on_gap(self) -> None:
        self.gaps += 1
        self._spawn(self._reread())

    async def _reread(self) -> None:
        delay = 0.05
        while True:
            try:
                await self.discover()
                await self.refresh()
                return
            except _READ_ERRORS as exc:
                log.warning("pool re-read failed; retrying", error=str(exc))
                await asyncio.sleep(delay)  # back-off while the node comes back
                delay = min(delay * 2, 2.0)

    def _spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
