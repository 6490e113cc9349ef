"""Waiting for transactions to land, for every transaction a process has in flight at once.

A Solana client sends a transaction and watches its signature until the cluster reports it
(landed: it succeeded or failed on chain) or its blockhash expires: once the block height is
past the transaction's lastValidBlockHeight it can never land. Meanwhile it resends the same
signed bytes (a leader may have dropped them; the same bytes can land only once).

`Landings` does that for all of this process's transactions together: on every new slot
(slotSubscribe, and at least every `poll_s` should notifications stop), one
getSignatureStatuses for every signature and one batch of resends for those not sent for
`resend_s`, then one getBlockHeight for the next round. A signature is declared expired only
against a height read BEFORE the statuses that still did not know it (the previous round's):
read after, the transaction might have landed in between at a height it was still valid at.
The height is not on the path of a landing: a landed transaction is known one status read
after its slot. While the node is unreachable nothing is
decided: the watch goes on when it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

import aiohttp
import structlog

from shared.chain.pubsub import ChainSubscriptions
from shared.chain.rpc import RpcError, SignatureStatus, SolanaRpc

log = structlog.get_logger(__name__)

_RPC_ERRORS = (aiohttp.ClientError, RpcError, OSError, asyncio.TimeoutError)


@dataclass(frozen=True, slots=True)
class Landed:
    status: SignatureStatus  # `err` None when it succeeded


@dataclass(frozen=True, slots=True)
class Expired:
    block_height: int  # past the transaction's lastValidBlockHeight, and it had not landed


@dataclass(slots=True)
class _Watched:
    raw: bytes
    last_valid_block_height: int
    sent_at: float
    waiters: list[asyncio.Future[Landed | Expired]] = field(default_factory=list)


class Landings:
    """See the module. `await start()` in the process's loop; `await close()` at the end."""

    def __init__(
        self,
        rpc: SolanaRpc,
        subscriptions: ChainSubscriptions,
        *,
        poll_s: float = 1.0,
        resend_s: float = 2.0,
    ) -> None:
        self.rpc = rpc
        self.subscriptions = subscriptions
        self.poll_s = poll_s
        self.resend_s = resend_s
        self.checks = 0  # rounds of status reads, for the tests and the metrics
        self._watched: dict[str, _Watched] = {}
        self._height = -1  # the block height read before the next status read; -1: none yet
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.subscriptions.slot_subscribe(lambda _slot: self._wake.set())
        self._task = asyncio.create_task(self._run())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def land(
        self, signature: str, raw: bytes, last_valid_block_height: int, *, send: bool = True
    ) -> Landed | Expired:
        """Send `raw` (unless `send` is False: only watch), resend it until it lands or
        expires, and say which. Also for a transaction sent earlier, by another process
        perhaps: its outcome is the chain's, whoever asks."""
        watched = self._watched.get(signature)
        if watched is None:
            watched = self._watched[signature] = _Watched(raw, last_valid_block_height, 0.0)
        future: asyncio.Future[Landed | Expired] = asyncio.get_running_loop().create_future()
        watched.waiters.append(future)
        if send:
            await self._send(signature, watched)
        else:
            self._wake.set()  # look now: it may have landed long ago
        try:
            return await future
        finally:
            if not future.done():  # the caller was cancelled: stop watching for it
                watched.waiters.remove(future)
                if not watched.waiters:
                    self._watched.pop(signature, None)

    async def _send(self, signature: str, watched: _Watched) -> None:
        watched.sent_at = time.monotonic()
        try:
            await self.rpc.send_transaction(watched.raw)
        except _RPC_ERRORS as exc:  # not sent this time: the next resend tries again
            log.warning("send failed; will resend", signature=signature, error=str(exc))

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_s)
            self._wake.clear()
            if not self._watched:
                continue
            try:
                await self._check()
            except _RPC_ERRORS as exc:
                log.warning("landing check failed; retrying", error=str(exc))

    async def _check(self) -> None:
        watched = dict(self._watched)
        signatures = list(watched)
        height = self._height  # read before these statuses: see the module
        statuses = await self.rpc.signature_statuses(signatures)
        self.checks += 1
        now = time.monotonic()
        resend: list[tuple[str, _Watched]] = []
        unknown: list[_Watched] = []  # still unknown to the chain, not yet expired
        for signature, status in zip(signatures, statuses, strict=True):
            entry = watched[signature]
            outcome: Landed | Expired | None = None
            if status is not None and status.confirmation_status != "processed":
                outcome = Landed(status)
            elif status is None and height > entry.last_valid_block_height:
                outcome = Expired(height)
            elif status is None:
                unknown.append(entry)
                if now - entry.sent_at >= self.resend_s:
                    resend.append((signature, entry))
            if outcome is not None:
                self._watched.pop(signature, None)
                for waiter in entry.waiters:
                    if not waiter.done():
                        waiter.set_result(outcome)
        if resend:
            await asyncio.gather(*(self._send(signature, entry) for signature, entry in resend))
        self._height = await self.rpc.block_height()
        if any(entry.last_valid_block_height < self._height for entry in unknown):
            self._wake.set()  # one may have expired: the next status read decides it now
