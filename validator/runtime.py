"""The chain: LiteSVM plus what a bank has and LiteSVM lacks, and the slot clock's one step.

LiteSVM runs with its blockhash check, signature check and transaction history off: the
blockhash window (`BlockhashWindow`), ed25519 verification (once, at ingest) and duplicate
detection (`StatusCache`) are ours, because LiteSVM accepts only its latest blockhash and its
~32-entry history lets an older resend execute twice.

A slot (`produce_slot`) takes the pending transactions whose latency has passed, orders them by
compute-unit price (highest first; ties keep arrival order) and runs them until the slot's
compute budget, counted on their requested limits, is used; the rest wait. A transaction whose
blockhash is older than 150 slots when its turn comes is dropped. Nothing it did is visible as
a status until `publish`, which the node calls only after the ledger has committed the slot;
the next slot may execute while that commit is in flight (`head_slot` runs ahead of `slot`).
"""

from __future__ import annotations

import random
import time
from collections import deque
from dataclasses import dataclass, field
from itertools import count
from typing import Any

import structlog
from solders.account import Account
from solders.clock import Clock
from solders.hash import Hash
from solders.litesvm import LiteSVM
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from validator.accounts import TokenIndex
from validator.blockhashes import BlockhashWindow, next_blockhash
from validator.meta import Landed, Reader, run
from validator.settings import ChainSettings
from validator.status_cache import StatusCache
from validator.txinfo import Incoming

log = structlog.get_logger("validator.runtime")
PRIORITY_FEE_SLOTS = 150  # getRecentPrioritizationFees covers as many slots as Solana's cache
SLOT_HASHES_KEPT = 512  # the SlotHashes sysvar's depth


@dataclass(slots=True)
class SlotResult:
    slot: int
    blockhash: Hash
    block_time: int
    landed: list[Landed]
    accounts: list[tuple[Pubkey, Account | None]]  # every account the slot wrote (None: gone)
    min_fee: int = 0
    account_fees: dict[Pubkey, int] = field(default_factory=dict)
    dropped: int = 0


def new_svm() -> LiteSVM:
    return LiteSVM().with_blockhash_check(False).with_sigverify(False).with_transaction_history(0)


class Chain:
    def __init__(self, settings: ChainSettings) -> None:
        self.settings = settings
        self.svm = new_svm()
        self.reader = Reader(self.svm)
        self.window = BlockhashWindow()
        self.statuses = StatusCache()
        self.tokens = TokenIndex()
        self.rng = random.Random(settings.seed)
        self.slot = 0  # the last committed slot: what every query reports
        self.blockhash = Hash.default()
        # The last executed slot, ahead of `slot` while its commit is in flight.
        self.head_slot = 0
        self.head_blockhash = Hash.default()
        self.genesis_hash = Hash.default()
        self.block_time = int(time.time())
        self.transaction_count = 0
        self.pending: list[Incoming] = []
        self.queue_full_drops = 0
        self.dirty: set[Pubkey] = set()  # written since the last slot snapshot
        self.priority_fees: deque[tuple[int, int, dict[Pubkey, int]]] = deque(
            maxlen=PRIORITY_FEE_SLOTS
        )
        self._slot_hashes: deque[tuple[int, Hash]] = deque(maxlen=SLOT_HASHES_KEPT)
        self._seq = count()

    # -- state set at start (genesis or restore) -------------------------------------------

    def start_at(self, slot: int, blockhash: Hash, window: list[tuple[int, Hash]]) -> None:
        self.slot, self.blockhash = slot, blockhash
        self.head_slot, self.head_blockhash = slot, blockhash
        for entry_slot, entry_hash in window:
            self.window.add(entry_slot, entry_hash)
            self._slot_hashes.appendleft((entry_slot, entry_hash))
        if not window:
            self.window.add(slot, blockhash)
            self._slot_hashes.appendleft((slot, blockhash))
        self._advance_clock(slot, int(time.time()))  # not LiteSVM's default clock until slot 1

    def load_account(self, key: Pubkey, account: Account) -> None:
        """Restore or genesis: into LiteSVM and the indexes, not marked dirty."""
        self.svm.set_account(key, account)
        self.tokens.update(key, account)

    # -- ingest -----------------------------------------------------------------------------

    def accept(self, item: Incoming, *, internal: bool = False) -> None:
        """Queue a checked transaction. A client's may be dropped (DEX_FAILURE_RATE, a full
        queue) without a word, as a leader drops a packet; the faucet's never are."""
        settings = self.settings
        if not internal:
            if settings.failure_rate and self.rng.random() < settings.failure_rate:
                return
            if len(self.pending) >= settings.max_pending:
                self.queue_full_drops += 1
                if self.queue_full_drops % 1000 == 1:  # a line per thousand, not a flood
                    log.warning("pending queue full: sends dropped", total=self.queue_full_drops)
                return
            low, high = settings.execution_latency_ms
            if high:
                item.ready_at = time.monotonic() + self.rng.uniform(low, high) / 1000
        item.internal = internal
        item.seq = next(self._seq)
        self.pending.append(item)
        self.statuses.in_flight.add(item.sig)

    def simulate(self, tx: VersionedTransaction) -> Any:
        return self.svm.simulate_transaction(tx)

    # -- slots ------------------------------------------------------------------------------

    def produce_slot(self) -> SlotResult:
        slot = self.head_slot + 1
        now, unix_time = time.monotonic(), int(time.time())
        self._advance_clock(slot, unix_time)
        ready: list[Incoming] = []
        waiting: list[Incoming] = []
        for item in self.pending:
            (ready if item.ready_at <= now else waiting).append(item)
        ready.sort(key=lambda p: (-p.cu_price, p.seq))
        budget, used, dropped = self.settings.slot_compute_units, 0, 0
        landed: list[Landed] = []
        carried: list[Incoming] = []
        for position, item in enumerate(ready):
            if not self.window.valid_at(item.blockhash, slot):
                self.statuses.in_flight.discard(item.sig)  # expired: it never lands
                dropped += 1
                continue
            if used and used + item.cu_limit > budget:
                carried = ready[position:]  # the slot is full: the cheaper rest waits
                break
            used += item.cu_limit
            outcome = run(self.reader, item)
            if outcome is None:
                self.statuses.in_flight.discard(item.sig)
                dropped += 1
                continue
            meta, writable = outcome
            self.dirty.update(writable)
            if item.on_landed is not None and meta.err is None:
                self.dirty.update(item.on_landed())
            landed.append(
                Landed(
                    item.sig, slot, len(landed), meta.err, item.raw, meta, writable, item.cu_price
                )
            )
        self.pending = carried + waiting
        self.head_slot, self.head_blockhash = slot, next_blockhash(self.head_blockhash, slot)
        result = SlotResult(slot, self.head_blockhash, unix_time, landed, self._snapshot())
        result.dropped = dropped
        self._priority_summary(result)
        return result

    def publish(self, result: SlotResult) -> None:
        """Make a committed slot visible: its statuses, blockhash, fees and indexes."""
        self.slot, self.blockhash, self.block_time = (
            result.slot,
            result.blockhash,
            result.block_time,
        )
        self.window.add(result.slot, result.blockhash)
        self._slot_hashes.appendleft((result.slot, result.blockhash))
        self.statuses.add_slot(result.slot, ((t.sig, t.err) for t in result.landed))
        self.priority_fees.append((result.slot, result.min_fee, result.account_fees))
        for key, account in result.accounts:
            self.tokens.update(key, account)
        self.transaction_count += len(result.landed)

    def _advance_clock(self, slot: int, unix_time: int) -> None:
        schedule = self.svm.get_epoch_schedule()
        epoch, index = schedule.get_epoch_and_slot_index(slot)
        epoch_start = unix_time - index * self.settings.slot_ms // 1000
        self.svm.set_clock(Clock(slot, epoch_start, epoch, epoch + 1, unix_time))
        self.svm.set_slot_hashes(list(self._slot_hashes))

    def _snapshot(self) -> list[tuple[Pubkey, Account | None]]:
        out: list[tuple[Pubkey, Account | None]] = []
        for key in self.dirty:
            account = self.svm.get_account(key)
            if account is not None and account.executable:
                continue  # programs come from their files at every start
            out.append((key, account if account is not None and account.lamports else None))
        self.dirty = set()
        return out

    @staticmethod
    def _priority_summary(result: SlotResult) -> None:
        """Per slot, the lowest compute-unit price that landed, overall and per writable
        account: what getRecentPrioritizationFees reports."""
        if not result.landed:
            return
        result.min_fee = min(t.cu_price for t in result.landed)
        fees = result.account_fees
        for tx in result.landed:
            for key in tx.writable:
                if key not in fees or tx.cu_price < fees[key]:
                    fees[key] = tx.cu_price

    def recent_priority_fees(self, accounts: list[Pubkey]) -> list[dict[str, int]]:
        out = []
        for slot, min_fee, account_fees in self.priority_fees:
            fee = min_fee
            for key in accounts:
                if key in account_fees:
                    fee = max(fee, account_fees[key])
            out.append({"slot": slot, "prioritizationFee": fee})
        return out
