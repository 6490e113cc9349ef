"""Solana's PubSub over WebSocket (CHAIN_WS_PORT, by default the RPC port + 1).

signatureSubscribe notifies once with `{err}` when the signature's slot is committed (every
commitment level is reached then), and the subscription ends, as Solana's does; subscribing to
a signature that already landed notifies at once. accountSubscribe notifies whenever a
committed slot changed the account's lamports, owner or data. slotSubscribe notifies each
committed slot. Notifications go out only after the ledger commit (`on_slot` is called then).
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import count
from typing import Any

import msgspec
import structlog
from solders.account import Account
from solders.pubkey import Pubkey
from websockets.asyncio.server import ServerConnection, broadcast
from websockets.exceptions import ConnectionClosed

from validator.accounts import check_encoding, ui_account
from validator.errors import INVALID_PARAMS, METHOD_NOT_FOUND, RpcError
from validator.rpc import Node, pubkey
from validator.runtime import SlotResult
from validator.spl import SYSTEM_PROGRAM_ID

log = structlog.get_logger("validator.pubsub")
_decode = msgspec.json.decode
_encode = msgspec.json.encode


class Sub(msgspec.Struct):
    kind: str
    conn: ServerConnection
    key: Any = None
    encoding: str = "base64"


class PubSub:
    def __init__(self, node: Node) -> None:
        self.node = node
        self._ids = count(0)
        self.subs: dict[int, Sub] = {}
        self.by_signature: dict[str, set[int]] = {}
        self.by_account: dict[Pubkey, set[int]] = {}
        self.slot_subs: set[int] = set()
        self._account_state: dict[Pubkey, tuple[int, Pubkey, bytes] | None] = {}

    async def handler(self, conn: ServerConnection) -> None:
        mine: set[int] = set()
        try:
            async for message in conn:
                await self._on_message(conn, message, mine)
        except ConnectionClosed:
            pass
        finally:
            for sub_id in list(mine):
                self._remove(sub_id)

    async def _on_message(self, conn: ServerConnection, message: Any, mine: set[int]) -> None:
        try:
            request = _decode(message)
        except msgspec.DecodeError:
            await conn.send(_encode(_error(None, -32700, "Parse error")).decode())
            return
        batch = request if isinstance(request, list) else [request]
        replies, after = [], []
        for item in batch:
            reply, notification = self._call(conn, item, mine)
            replies.append(reply)
            if notification is not None:
                after.append(notification)
        body = replies if isinstance(request, list) else replies[0]
        await conn.send(_encode(body).decode())
        for notification in after:  # a signature that had landed already: notify now
            broadcast([conn], notification)

    def _call(self, conn: ServerConnection, req: Any, mine: set[int]) -> tuple[dict, str | None]:
        if not isinstance(req, dict):
            return _error(None, -32600, "Invalid request"), None
        req_id, params = req.get("id"), req.get("params") or []
        try:
            name = req.get("method")
            if name == "signatureSubscribe":
                sub_id, notification = self._subscribe_signature(conn, params)
            elif name == "accountSubscribe":
                sub_id, notification = self._subscribe_account(conn, params), None
            elif name == "slotSubscribe":
                sub_id, notification = self._add(Sub("slot", conn)), None
                self.slot_subs.add(sub_id)
            elif name in ("signatureUnsubscribe", "accountUnsubscribe", "slotUnsubscribe"):
                sub = self.subs.get(params[0]) if params else None
                if sub is None or sub.conn is not conn or not name.startswith(sub.kind):
                    raise RpcError(INVALID_PARAMS, "Invalid subscription id.")
                self._remove(params[0])
                mine.discard(params[0])
                return {"jsonrpc": "2.0", "result": True, "id": req_id}, None
            else:
                raise RpcError(METHOD_NOT_FOUND, "Method not found")
        except RpcError as exc:
            return {"jsonrpc": "2.0", "error": exc.to_json(), "id": req_id}, None
        except (IndexError, KeyError, TypeError, ValueError) as exc:
            return _error(req_id, INVALID_PARAMS, f"Invalid params: {exc}"), None
        if notification is None:
            mine.add(sub_id)
        return {"jsonrpc": "2.0", "result": sub_id, "id": req_id}, notification

    def _add(self, sub: Sub) -> int:
        sub_id = next(self._ids)
        self.subs[sub_id] = sub
        return sub_id

    def _subscribe_signature(self, conn: ServerConnection, params: list[Any]) -> tuple[int, Any]:
        sig = params[0]
        if not isinstance(sig, str) or not 64 <= len(sig) <= 88:
            raise RpcError(INVALID_PARAMS, "Invalid param: signature")
        sub_id = self._add(Sub("signature", conn, sig))
        status = self.node.chain.statuses.get(sig)
        if status is not None:
            del self.subs[sub_id]
            return sub_id, _notification(
                "signatureNotification", sub_id, status.slot, {"err": status.err}
            )
        self.by_signature.setdefault(sig, set()).add(sub_id)
        return sub_id, None

    def _subscribe_account(self, conn: ServerConnection, params: list[Any]) -> int:
        key = pubkey(params[0])
        cfg = params[1] if len(params) > 1 and isinstance(params[1], dict) else {}
        encoding = check_encoding(cfg.get("encoding") or "base64")
        sub_id = self._add(Sub("account", conn, key, encoding))
        if key not in self.by_account:
            self._account_state[key] = _state(self.node.chain.svm.get_account(key))
        self.by_account.setdefault(key, set()).add(sub_id)
        return sub_id

    def _remove(self, sub_id: int) -> None:
        sub = self.subs.pop(sub_id, None)
        if sub is None:
            return
        if sub.kind == "slot":
            self.slot_subs.discard(sub_id)
        index = self.by_signature if sub.kind == "signature" else self.by_account
        if sub.kind != "slot" and sub.key in index:
            index[sub.key].discard(sub_id)
            if not index[sub.key]:
                del index[sub.key]
                self._account_state.pop(sub.key, None)

    # -- notifications, after each commit -----------------------------------------------------

    def on_slot(self, result: SlotResult) -> None:
        slot = result.slot
        if self.slot_subs:
            for sub_id in self.slot_subs:
                value = {"parent": slot - 1, "root": slot, "slot": slot}
                broadcast(
                    [self.subs[sub_id].conn], _notification("slotNotification", sub_id, None, value)
                )
        if self.by_signature:
            for tx in result.landed:
                for sub_id in self.by_signature.pop(tx.sig, ()):
                    sub = self.subs.pop(sub_id)
                    note = _notification("signatureNotification", sub_id, slot, {"err": tx.err})
                    broadcast([sub.conn], note)
        if self.by_account:
            for key, account in self._changed(result):
                for sub_id in self.by_account[key]:
                    sub = self.subs[sub_id]
                    value = ui_account(account, sub.encoding, self.node.chain.reader.decimals)
                    broadcast([sub.conn], _notification("accountNotification", sub_id, slot, value))

    def _changed(self, result: SlotResult) -> Iterator[tuple[Pubkey, Account]]:
        for key, account in result.accounts:
            if key in self.by_account:
                state = _state(account)
                if state != self._account_state.get(key):
                    self._account_state[key] = state
                    yield key, account or Account(0, b"", SYSTEM_PROGRAM_ID, False, 0)


def _state(account: Account | None) -> tuple[int, Pubkey, bytes] | None:
    return None if account is None else (account.lamports, account.owner, account.data)


def _notification(method: str, sub_id: int, slot: int | None, value: Any) -> str:
    result = value if slot is None else {"context": {"slot": slot}, "value": value}
    body = {
        "jsonrpc": "2.0",
        "method": method,
        "params": {"result": result, "subscription": sub_id},
    }
    return _encode(body).decode()


def _error(req_id: Any, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "error": {"code": code, "message": message}, "id": req_id}
