"""What the API's frameworks cost an order with nothing of ours behind them: the floor.

Serves a bare Litestar app with the engine's uvicorn options (infra.cli.UVICORN_OPTIONS) in a
process of its own, and drives it as bench_throughput drives the engine: --orders times an HTTP
submit (the same body; answered 202 with an id and a wsUrl) and then a WebSocket on that id that
gets five event frames of an order's size (pending, routing, building, submitted, confirmed)
and the close 1000, --inflight at a time. No database, Redis, queue, chain or validation: what
is left is uvicorn, websockets, Litestar and msgspec handling one request and one stream.
Prints orders per second and the CPU ms per order of the server and of this driver.

    python3 dev.py run python -m loadtest.bench_floor [--orders 5000] [--inflight 256]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
import msgspec
from litestar import Litestar, Response, WebSocket, post, websocket

from infra.children import child_kwargs, spawn_until_ready, stop_all
from loadtest.common import ORDER, machine
from loadtest.procstat import cpu_seconds, own_cpu_seconds, raise_open_file_limit


class _Accepted(msgspec.Struct, rename="camel"):
    order_id: str
    status: str
    ws_url: str


# An order's event as the engine streams it (about the size of a confirmed one).
_EVENT = msgspec.json.encode(
    {
        "orderId": str(uuid.uuid4()),
        "seq": 5,
        "status": "confirmed",
        "attempt": 1,
        "timestamp": "2026-12-03T19:00:00.000Z",
        "data": {
            "venue": "meteora",
            "amountOut": "225.751507",
            "txHash": "3bLbQYhJ4BBaujZrBE4LqTu2cS9ApxC1xJ7pxoThTb1Rb8aGKrnZL2TQpJTmWXWe",
            "feeLamports": 5032,
            "computeUnits": 9890,
            "balanceChanges": [
                {"symbol": "SOL", "amount": "-1.5"},
                {"symbol": "USDC", "amount": "225.751507"},
            ],
        },
    }
).decode()
EVENTS_PER_ORDER = 5


@post("/api/orders/execute", status_code=202)
async def _submit(data: dict[str, object]) -> Response[_Accepted]:
    order_id = str(uuid.uuid4())
    return Response(
        _Accepted(order_id, "pending", f"/api/orders/ws?orderId={order_id}"),
        status_code=202,
        headers={"Location": f"/api/orders/{order_id}"},
    )


@websocket("/api/orders/ws")
async def _stream(socket: WebSocket) -> None:
    await socket.accept()
    for _ in range(EVENTS_PER_ORDER):
        await socket.send_data(_EVENT, mode="text")
    await socket.close(code=1000, reason="terminal status reached")


app = Litestar([_submit, _stream])

_SERVE = """
import uvicorn
from infra.cli import UVICORN_OPTIONS
uvicorn.run("loadtest.bench_floor:app", host="127.0.0.1", port={port}, **UVICORN_OPTIONS)
"""


def _serve(log_path: Path) -> tuple[subprocess.Popen[bytes], int]:
    """The bare app under uvicorn in a child process, as the engine's servers are started."""

    def spawn(port: int) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-c", _SERVE.format(port=port)]
        kwargs = child_kwargs(dict(os.environ), None, signal.SIGKILL)
        with log_path.open("ab") as log:  # the child keeps its own copy of the file
            return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, **kwargs)

    def ready(_proc: subprocess.Popen[bytes], port: int) -> bool:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return True
        return False

    return spawn_until_ready("the bare app", spawn, ready, log_path)


async def drive(args: argparse.Namespace, port: int, server_pid: int) -> None:
    base = f"http://127.0.0.1:{port}"
    body = msgspec.json.encode(ORDER)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        slots = asyncio.Semaphore(args.inflight)
        frames = 0

        async def order() -> None:
            nonlocal frames
            async with slots:
                async with session.post(
                    f"{base}/api/orders/execute",
                    data=body,
                    headers={"content-type": "application/json"},
                ) as reply:
                    path = (await reply.json())["wsUrl"]
                async with session.ws_connect(f"ws://127.0.0.1:{port}{path}") as ws:
                    async for _ in ws:
                        frames += 1

        server_before, driver_before = cpu_seconds(server_pid) or 0.0, own_cpu_seconds()
        started = time.monotonic()
        await asyncio.gather(*(order() for _ in range(args.orders)))
        wall = time.monotonic() - started
        server_cpu = (cpu_seconds(server_pid) or 0.0) - server_before
        driver_cpu = own_cpu_seconds() - driver_before
    assert frames == args.orders * EVENTS_PER_ORDER, frames
    print(f"machine: {machine()}")
    print(
        f"frameworks alone: {args.orders} orders ({args.inflight} in flight), each an HTTP "
        f"submit and a WebSocket of {EVENTS_PER_ORDER} frames"
    )
    print(f"orders per second: {args.orders / wall:.0f}  ({wall:.2f} s)")
    print(
        f"  server (uvicorn, websockets, Litestar)  {server_cpu / args.orders * 1000:6.3f} ms/order"
    )
    print(
        f"  driver (this process)                   {driver_cpu / args.orders * 1000:6.3f} ms/order"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=5000)
    parser.add_argument("--inflight", type=int, default=256)
    args = parser.parse_args()
    raise_open_file_limit(max(4096, args.inflight * 4 + 1024))  # the server inherits it
    with tempfile.TemporaryDirectory(prefix="bench-floor-") as work:
        server, port = _serve(Path(work) / "server.log")
        try:
            asyncio.run(drive(args, port, server.pid))
        finally:
            stop_all([(server, signal.SIGTERM)])


if __name__ == "__main__":
    main()
