"""A simulated Solana chain, shared by all workers through Redis.

Each transaction is keyed by its signature and decided once: it settles (its swap moves the
pools), reverts (the swap would pay less than its minimum: nothing moves), or is declared dead
(dropped before landing; it can never land afterwards). Settling writes the record and the
pool moves in one atomic step (PoolStore.commit), so a swap's money moves exactly when its
signature settles. That is what lets a retried job ask "did my earlier transaction land?" and
get an answer that stays true.

Transactions land in slots, as on Solana: those arriving while the previous slot commits form
the next one, run one after the other against the pools, and commit together (one read and
one write for the whole slot instead of two round trips per swap).

The ledger: every decided signature is also appended to its order's list
(`{ns}:chain:order:{order_id}`) in the same atomic step as the decision (inside the commit
script for a landing, in the decide script for a signature declared dead), so the list holds
each decided signature exactly once and `order_transactions` shows what the chain did for an
order: at most one `settled` entry if the engine is right.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Literal, cast

import base58
import msgspec
from redis.asyncio import Redis

from shared.batching import Batcher
from shared.dex.pool_maths import InsufficientLiquidity
from shared.dex.pools import Pool
from shared.dex.routing import Route, execute_route
from shared.dex.store import PoolStore, TxWrite
from shared.errors import TransientFailure

TxStatus = Literal["settled", "slippage", "dead"]

# A real chain forgets a signature after ~150 blocks; ours keeps it a week so that a stuck
# order can always be reconciled.
TX_TTL_S = 7 * 86_400
# Optimistic retries when other processes keep moving the same pools; each costs two round
# trips.
MAX_COMMIT_TRIES = 50


@dataclass(frozen=True, slots=True)
class _Landing:
    signature: str
    order_id: str
    route: Route
    min_amount_out: int


class TxRecord(msgspec.Struct, frozen=True, kw_only=True):
    """What the chain knows of a signature. `slippage`: it landed and reverted, moving nothing.
    `amount_out`: what a settlement paid (base units); `slot`: when it was decided."""

    status: TxStatus
    order_id: str
    amount_out: int = 0
    slot: int = 0


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(TxRecord).decode

# KEYS: the signature's key, the order's ledger list. ARGV: record, ttl_s, signature.
# Decide an outcome that moves no pool: 1 recorded (and appended to the ledger), 0 already
# decided (nothing written).
_DECIDE_SCRIPT = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then
  redis.call('RPUSH', KEYS[2], ARGV[3])
  redis.call('EXPIRE', KEYS[2], ARGV[2])
  return 1
end
return 0
"""


def tx_key(namespace: str, signature: str) -> str:
    return f"{namespace}:chain:tx:{signature}"


def ledger_key(namespace: str, order_id: str) -> str:
    return f"{namespace}:chain:order:{order_id}"


async def order_transactions(
    redis: Redis, namespace: str, order_id: str
) -> list[tuple[str, TxRecord]]:
    """Every signature the chain decided for the order, oldest first, with its record."""
    listed = await cast(
        Awaitable[list[bytes]], redis.lrange(ledger_key(namespace, order_id), 0, -1)
    )
    signatures = [s.decode() for s in listed]
    if not signatures:
        return []
    raws = await redis.mget([tx_key(namespace, s) for s in signatures])
    return [(s, _decode(raw)) for s, raw in zip(signatures, raws, strict=True) if raw is not None]


def new_signature() -> str:
    """A Solana-shaped transaction signature: base58 of 64 bytes."""
    return base58.b58encode(os.urandom(64)).decode()


def current_slot() -> int:
    return int(time.time() * 2.5)  # Solana makes a slot every ~400 ms


class SimulatedChain:
    def __init__(
        self,
        redis: Redis,
        namespace: str,
        store: PoolStore,
        *,
        latency_ms: tuple[int, int],
        failure_rate: float,
        rng: random.Random,
    ) -> None:
        self._redis = redis
        self._ns = namespace
        self._store = store
        self.latency_ms = latency_ms
        self.failure_rate = failure_rate
        self._rng = rng
        self._decide_script = redis.register_script(_DECIDE_SCRIPT)
        # Transactions that land while a slot is being committed form the next slot.
        self._land: Batcher[_Landing, TxRecord | None] = Batcher("chain_slots", self._land_slot)

    def _key(self, signature: str) -> str:
        return tx_key(self._ns, signature)

    async def send(
        self, signature: str, order_id: str, route: Route, min_amount_out: int
    ) -> TxRecord:
        """Send a signed swap and wait for it to land; return the signature's final record
        (an earlier outcome if this signature was already decided).

        On landing the route's legs are re-run against the pools as they are then: below
        `min_amount_out` the swap reverts and no pool moves; otherwise every leg's pool moves
        together with the settlement. Raises TransientFailure when the transaction is dropped
        before landing; the signature is then dead and can never settle.
        """
        low, high = self.latency_ms
        if high:
            await asyncio.sleep(self._rng.uniform(low, high) / 1000)
        if self.failure_rate and self._rng.random() < self.failure_rate:
            record = await self.expire(signature, order_id)
            if record.status == "dead":
                raise TransientFailure("TX_EXPIRED", "the transaction was dropped before landing")
            return record
        landed = await self._land(_Landing(signature, order_id, route, min_amount_out))
        if landed is None:
            raise TransientFailure("POOL_CONTENTION", "the pools kept moving; the swap didn't land")
        return landed

    async def _land_slot(self, landings: list[_Landing]) -> list[TxRecord | None]:
        """Land the transactions that arrive together as one slot: each runs, in arrival
        order, against the pools as the ones before it left them, and the slot (every
        settlement, revert and pool move) commits as one atomic step. A signature decided
        meanwhile keeps its earlier outcome. None: the pools kept moving (other processes)."""
        outcomes: list[TxRecord | None] = [None] * len(landings)
        pending = list(range(len(landings)))
        for attempt in range(MAX_COMMIT_TRIES):
            if not pending:
                break
            pool_ids = sorted({leg.pool_id for i in pending for leg in landings[i].route.legs})
            # First from the pools as this process last saw them (usually current: it made
            # the last move); the commit's version check sends a stale guess round again.
            snapshot = (self._store.last_known(pool_ids) if attempt == 0 else None) or (
                await self._store.snapshot(pool_ids)
            )
            pools = dict(snapshot.pools)
            moved: dict[str, Pool] = {}
            decided: dict[int, TxRecord] = {}
            slot = current_slot()
            for i in pending:
                landing = landings[i]
                try:
                    amount_out, states, _ = execute_route(pools, landing.route)
                except (InsufficientLiquidity, KeyError):
                    amount_out, states = 0, {}
                if amount_out < landing.min_amount_out:  # reverts: moves nothing
                    decided[i] = TxRecord(status="slippage", order_id=landing.order_id, slot=slot)
                else:
                    pools.update(states)
                    moved.update(states)
                    decided[i] = TxRecord(
                        status="settled",
                        order_id=landing.order_id,
                        amount_out=amount_out,
                        slot=slot,
                    )
            txs = [
                TxWrite(
                    key=self._key(landings[i].signature),
                    value=_encode(record),
                    ledger_key=ledger_key(self._ns, record.order_id),
                    signature=landings[i].signature,
                )
                for i, record in decided.items()
            ]
            result = await self._store.commit(snapshot, moved, txs=txs, tx_ttl_s=TX_TTL_S)
            if result == 1:
                for i, record in decided.items():
                    outcomes[i] = record
                break
            if result < 0:  # decided meanwhile (declared dead by a newer attempt): keep that
                i = list(decided)[-result - 1]
                outcomes[i] = await self.lookup(landings[i].signature)
                pending.remove(i)
        return outcomes

    async def _decide(self, signature: str, record: TxRecord) -> TxRecord:
        """Record an outcome that moves no pool (and append it to the order's ledger), unless
        the signature was decided already."""
        keys = [self._key(signature), ledger_key(self._ns, record.order_id)]
        if await self._decide_script(keys=keys, args=[_encode(record), TX_TTL_S, signature]):
            return record
        existing = await self.lookup(signature)
        assert existing is not None
        return existing

    async def expire(self, signature: str, order_id: str) -> TxRecord:
        """Declare the signature dead unless it was decided already; return what is now true."""
        dead = TxRecord(status="dead", order_id=order_id, slot=current_slot())
        return await self._decide(signature, dead)

    async def lookup(self, signature: str) -> TxRecord | None:
        raw = await self._redis.get(self._key(signature))
        return None if raw is None else _decode(raw)
