"""JSON-RPC over HTTP: a bare ASGI callable on uvicorn with httptools.

The probe measured this as the leanest choice here (a framework cost about twice the HTTP CPU
per request). POST bodies are one request or a batch (an array, answered by an array in the
same order; notifications, which have no id, get no entry); `GET /health` answers "ok" as
Solana's RPC does, and any origin may call it from a browser (CORS), as on solana-test-validator.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Generator, MutableMapping
from typing import Any

import msgspec
import uvicorn

from validator.errors import INVALID_REQUEST, PARSE_ERROR
from validator.rpc import Node, handle

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

MAX_BODY = 4 * 1024 * 1024
_decode = msgspec.json.decode
_encode = msgspec.json.encode
_CORS = (b"access-control-allow-origin", b"*")
_JSON_HEADERS = [(b"content-type", b"application/json"), _CORS]
_CORS_PREFLIGHT = [
    _CORS,
    (b"access-control-allow-methods", b"POST, OPTIONS"),
    (b"access-control-allow-headers", b"content-type, solana-client"),
    (b"access-control-max-age", b"86400"),
]


def _error(code: int, message: str) -> bytes:
    return _encode({"jsonrpc": "2.0", "error": {"code": code, "message": message}, "id": None})


def dispatch(node: Node, body: bytes) -> bytes:
    """A request body → the response body (empty when only notifications were sent)."""
    try:
        request = _decode(body)
    except msgspec.DecodeError:
        return _error(PARSE_ERROR, "Parse error")
    if isinstance(request, list):
        if not request:
            return _error(INVALID_REQUEST, "Invalid request")
        responses = [r for r in (handle(node, item) for item in request) if r is not None]
        return _encode(responses) if responses else b""
    response = handle(node, request)
    return _encode(response) if response is not None else b""


class RpcApp:
    def __init__(self, node: Node) -> None:
        self.node = node

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["method"] == "OPTIONS":  # a browser's CORS preflight (web3.js in a page)
            await _respond(send, 200, b"", _CORS_PREFLIGHT)
            return
        if scope["method"] == "GET" and scope["path"] == "/health":
            await _respond(send, 200, b"ok", [(b"content-type", b"text/plain")])
            return
        if scope["method"] != "POST":
            await _respond(
                send, 405, b"Used HTTP Method is not allowed. POST or OPTIONS is required", []
            )
            return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY:
                await _respond(send, 413, b"Payload Too Large", [])
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        await _respond(send, 200, dispatch(self.node, b"".join(chunks)), _JSON_HEADERS)


async def _respond(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class QuietServer(uvicorn.Server):
    """uvicorn without its signal handling: the node owns SIGINT/SIGTERM and stops the server
    after the slot in progress is committed."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def http_server(node: Node, host: str, port: int) -> QuietServer:
    config = uvicorn.Config(
        RpcApp(node),
        host=host,
        port=port,
        http="httptools",
        ws="none",
        lifespan="off",
        log_config=None,
        log_level="warning",
        access_log=False,
        timeout_keep_alive=75,  # longer than clients keep idle connections
    )
    return QuietServer(config)
