"""Solana PubSub over one WebSocket: account and slot subscriptions that survive the socket.

The connection drops (the node restarts, a proxy times out): `ChainSubscriptions` reconnects
by itself with a capped back-off, subscribes everything again, and then calls every `on_gap`
callback, because whatever changed while it was away was never notified. The owner re-reads
then (ChainPools re-reads every account it keeps). Callbacks run on the reader task: they must
be quick and must not block; they get the notification's slot so that an owner can ignore a
notification older than what it has read since.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable
from typing import Any

import msgspec
import structlog
from solders.pubkey import Pubkey
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from shared.chain.rpc import COMMITMENT, AccountData, account_data
from shared.chain.rpc_wire import WireAccount

log = structlog.get_logger(__name__)

AccountCallback = Callable[[Pubkey, AccountData, int], None]  # (address, account, slot)
SlotCallback = Callable[[int], None]
GapCallback = Callable[[], None]

_CONNECT_ERRORS = (OSError, EOFError, InvalidHandshake, ConnectionClosed, asyncio.TimeoutError)


class _Context(msgspec.Struct):
    slot: int


class _AccountResult(msgspec.Struct):
    context: _Context
    value: WireAccount


class _SlotResult(msgspec.Struct):
    slot: int


class _Params(msgspec.Struct):
    subscription: int
    result: msgspec.Raw


class _Frame(msgspec.Struct):
    id: int | None = None
    result: Any = None
    error: Any = None
    method: str | None = None
    params: _Params | None = None


_frame = msgspec.json.Decoder(_Frame).decode
_account_result = msgspec.json.Decoder(_AccountResult).decode
_slot_result = msgspec.json.Decoder(_SlotResult).decode
_encode = msgspec.json.Encoder().encode

_Key = tuple[str, Pubkey | None]  # ("account", address) or ("slot", None)


class ChainSubscriptions:
    """Subscriptions to one node's PubSub URL. `start()` connects (raising if it cannot);
    after that the reader task owns the socket until `close()`."""

    def __init__(
        self, url: str, *, reconnect_delay_s: float = 0.05, max_reconnect_delay_s: float = 2.0
    ) -> None:
        self.url = url
        self.reconnects = 0
        self._reconnect_delay_s = reconnect_delay_s
        self._max_reconnect_delay_s = max_reconnect_delay_s
        self._accounts: dict[Pubkey, list[AccountCallback]] = {}
        self._slots: list[SlotCallback] = []
        self._gaps: list[GapCallback] = []
        self._ws: ClientConnection | None = None
        self._ids = itertools.count(1)
        self._requested: dict[int, tuple[_Key, asyncio.Future[None]]] = {}
        self._subscriptions: dict[int, _Key] = {}  # the node's subscription id -> what
        self._task: asyncio.Task[None] | None = None
        self._resubscribing: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._ws = await self._connect()
        self._task = asyncio.create_task(self._run(), name="chain-subscriptions")
        await self._subscribe_all(self._ws)

    async def close(self) -> None:
        for task in (self._task, self._resubscribing):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._resubscribing = None
        if self._ws is not None:
            await self._ws.close()
            self._ws = None
        self._release_waiters()

    def on_gap(self, callback: GapCallback) -> None:
        """Call `callback()` after every reconnect, once everything is subscribed again."""
        self._gaps.append(callback)

    async def account_subscribe(self, address: Pubkey, callback: AccountCallback) -> None:
        """Notify `callback(address, account, slot)` on every change of the account (base64,
        confirmed). Returns once the node confirmed the subscription, or once the socket
        dropped (then the reconnect subscribes it and `on_gap` follows)."""
        callbacks = self._accounts.setdefault(address, [])
        callbacks.append(callback)
        if len(callbacks) == 1 and self._ws is not None:
            await self._subscribe(self._ws, ("account", address))

    async def slot_subscribe(self, callback: SlotCallback) -> None:
        self._slots.append(callback)
        if len(self._slots) == 1 and self._ws is not None:
            await self._subscribe(self._ws, ("slot", None))

    # -- the socket -------------------------------------------------------------------------

    async def _connect(self) -> ClientConnection:
        return await connect(
            self.url,
            compression=None,
            proxy=None,
            max_size=64 * 1024 * 1024,
            open_timeout=5,
            close_timeout=2,  # a node that does not answer our close frame is not waited for long
        )

    def _request(self, ws: ClientConnection, key: _Key) -> tuple[str, asyncio.Future[None]]:
        request_id = next(self._ids)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._requested[request_id] = (key, future)
        kind, address = key
        params: list[Any]
        if kind == "account":
            params = [str(address), {"encoding": "base64", "commitment": COMMITMENT}]
        else:
            params = []
        body = {"jsonrpc": "2.0", "id": request_id, "method": f"{kind}Subscribe", "params": params}
        return _encode(body).decode(), future

    async def _subscribe(self, ws: ClientConnection, key: _Key) -> None:
        message, future = self._request(ws, key)
        try:
            await ws.send(message)
        except ConnectionClosed:
            return  # the reader reconnects and subscribes it
        await future

    async def _subscribe_all(self, ws: ClientConnection) -> None:
        keys: list[_Key] = [("account", address) for address in self._accounts]
        if self._slots:
            keys.append(("slot", None))
        requests = [self._request(ws, key) for key in keys]
        try:
            for message, _ in requests:  # pipelined: the replies come back in one burst
                await ws.send(message)
        except ConnectionClosed:
            return
        await asyncio.gather(*(future for _, future in requests))

    def _release_waiters(self) -> None:
        for _, future in self._requested.values():
            if not future.done():
                future.set_result(None)
        self._requested.clear()
        self._subscriptions.clear()

    async def _run(self) -> None:
        assert self._ws is not None
        ws = self._ws
        while True:
            try:
                async for message in ws:
                    try:
                        self._dispatch(message)
                    except (msgspec.DecodeError, ValueError):  # ValidationError is one
                        log.exception("chain pubsub frame not understood")
            except ConnectionClosed:
                pass
            log.warning("chain pubsub disconnected; reconnecting", url=self.url)
            self._ws = None
            self._release_waiters()
            ws = await self._reconnect()
            self._ws = ws
            self.reconnects += 1
            # Subscribing needs this reader (it resolves the replies): it runs beside it.
            self._resubscribing = asyncio.create_task(self._resubscribe(ws))

    async def _resubscribe(self, ws: ClientConnection) -> None:
        await self._subscribe_all(ws)
        if ws is self._ws:
            for callback in self._gaps:
                self._safely(callback)

    async def _reconnect(self) -> ClientConnection:
        delay = self._reconnect_delay_s
        while True:
            try:
                return await self._connect()
            except _CONNECT_ERRORS:
                await asyncio.sleep(delay)  # back-off between attempts, not a synchronisation
                delay = min(delay * 2, self._max_reconnect_delay_s)

    # -- frames -----------------------------------------------------------------------------

    def _dispatch(self, message: str | bytes) -> None:
        frame = _frame(message)
        if frame.params is not None:
            key = self._subscriptions.get(frame.params.subscription)
            if key is None:
                return  # an old subscription's last word
            kind, address = key
            if kind == "account" and address is not None:
                result = _account_result(frame.params.result)
                account = account_data(result.value)
                for account_callback in self._accounts.get(address, ()):
                    self._safely(account_callback, address, account, result.context.slot)
            elif kind == "slot":
                slot = _slot_result(frame.params.result).slot
                for slot_callback in self._slots:
                    self._safely(slot_callback, slot)
            return
        if frame.id is None:
            return
        requested = self._requested.pop(frame.id, None)
        if requested is None:
            return
        key, future = requested
        if frame.error is not None:
            log.error("chain pubsub subscription refused", key=key, error=frame.error)
        else:
            self._subscriptions[int(frame.result)] = key
        if not future.done():
            future.set_result(None)

    @staticmethod
    def _safely(callback: Callable[..., None], *args: Any) -> None:
        try:
            callback(*args)
        except Exception:
            log.exception("chain pubsub callback failed")
