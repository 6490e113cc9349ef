"""A simulated Solana chain, shared by all workers through Redis.

Each transaction is keyed by its signature. A signature settles at most once, and a signature
that was declared dead (its blockhash expired) can never settle afterwards: `SET NX` on the
signature's key decides which of the two happened first. That is what lets a retried job ask
"did my earlier transaction land?" and get an answer that stays true.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from typing import Literal

import base58
import msgspec
from redis.asyncio import Redis

from shared.errors import TransientFailure

TxStatus = Literal["settled", "slippage", "dead"]


class TxRecord(msgspec.Struct, frozen=True):
    """What the chain knows of a signature. `slippage`: it landed and reverted, moving nothing."""

    status: TxStatus
    order_id: str
    amount_out: int = 0
    slot: int = 0


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(TxRecord).decode

# How long the chain remembers a signature (a real one forgets after ~150 blocks; ours keeps it
# a week so that a stuck order can always be reconciled).
TX_TTL_S = 7 * 86_400


def new_signature() -> str:
    """A Solana-shaped transaction signature: base58 of 64 bytes."""
    return base58.b58encode(os.urandom(64)).decode()


class SimulatedChain:
    def __init__(
        self,
        redis: Redis,
        namespace: str,
        *,
        latency_ms: tuple[int, int],
        failure_rate: float,
        rng: random.Random,
    ) -> None:
        self._redis = redis
        self._ns = namespace
        self.latency_ms = latency_ms
        self.failure_rate = failure_rate
        self._rng = rng

    def _key(self, signature: str) -> str:
        return f"{self._ns}:chain:tx:{signature}"

    async def send(self, signature: str, order_id: str, fill: int, min_amount_out: int) -> TxRecord:
        """Send a signed swap and wait for it to land. Returns the signature's final record
        (which may be an earlier outcome, if this signature was already decided).

        Raises TransientFailure when the transaction is dropped before landing; the signature
        is then dead and can never settle.
        """
        low, high = self.latency_ms
        if high:
            await asyncio.sleep(self._rng.uniform(low, high) / 1000)
        if self.failure_rate and self._rng.random() < self.failure_rate:
            record = await self.expire(signature, order_id)
            if record.status == "dead":
                raise TransientFailure("TX_EXPIRED", "the transaction was dropped before landing")
            return record
        status: TxStatus = "settled" if fill >= min_amount_out else "slippage"
        record = TxRecord(
            status=status,
            order_id=order_id,
            amount_out=fill if status == "settled" else 0,
            slot=int(time.time() * 2.5),  # Solana makes a slot every ~400 ms
        )
        if await self._redis.set(self._key(signature), _encode(record), nx=True, ex=TX_TTL_S):
            return record
        existing = await self.lookup(signature)
        assert existing is not None
        return existing

    async def expire(self, signature: str, order_id: str) -> TxRecord:
        """Declare the signature dead unless it already settled; return what is now true."""
        dead = TxRecord(status="dead", order_id=order_id)
        if await self._redis.set(self._key(signature), _encode(dead), nx=True, ex=TX_TTL_S):
            return dead
        existing = await self.lookup(signature)
        assert existing is not None
        return existing

    async def lookup(self, signature: str) -> TxRecord | None:
        raw = await self._redis.get(self._key(signature))
        return None if raw is None else _decode(raw)
