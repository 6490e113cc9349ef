"""The node's latest blockhash, kept at hand: read again in the background after every slot
notification, so that building a transaction waits for no round trip.

A blockhash stays valid for 150 blocks, so one a slot old costs a transaction one slot of its
life (its lastValidBlockHeight is read with it). Should the notifications stop, a blockhash
older than MAX_AGE_S is not served: `get` reads a fresh one itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import structlog

from shared.chain.pubsub import ChainSubscriptions
from shared.chain.rpc import Blockhash, SolanaRpc

log = structlog.get_logger(__name__)

MAX_AGE_S = 2.0  # five of Solana's slots: past it, the notifications have stopped


class RecentBlockhash:
    def __init__(self, rpc: SolanaRpc, subscriptions: ChainSubscriptions) -> None:
        self.rpc = rpc
        self.subscriptions = subscriptions
        self._current: tuple[float, Blockhash] | None = None
        self._refreshing: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.subscriptions.slot_subscribe(self._on_slot)

    async def close(self) -> None:
        if self._refreshing is not None:
            self._refreshing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refreshing

    async def get(self) -> Blockhash:
        current = self._current
        if current is not None and time.monotonic() - current[0] < MAX_AGE_S:
            return current[1]
        return await self._read()

    def _on_slot(self, _slot: int) -> None:
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.get_running_loop().create_task(self._refresh())

    async def _refresh(self) -> None:
        try:
            await self._read()
        except Exception as exc:  # the next slot tries again; `get` reads itself meanwhile
            log.warning("blockhash refresh failed", error=str(exc))

    async def _read(self) -> Blockhash:
        read_at = time.monotonic()
        blockhash = await self.rpc.latest_blockhash()
        if self._current is None or self._current[0] < read_at:
            self._current = (read_at, blockhash)
        return blockhash
