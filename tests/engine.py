"""Real engine processes for the tests: API servers (uvicorn) and SAQ workers, as subprocesses.

Each process gets the test's settings through its environment, logs to a file under the test's
tmp dir (shown when it fails to start), and is stopped (SIGTERM, then SIGKILL) at teardown.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from shared.config import Settings

START_TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Engine:
    def __init__(self, settings: Settings, env: dict[str, str], log_dir: Path) -> None:
        self.settings = settings
        self.log_dir = log_dir
        self.env = {
            **os.environ,
            "DATABASE_URL": settings.database_url,
            "REDIS_URL": settings.redis_url,
            "REDIS_NAMESPACE": settings.redis_namespace,
            "HOST": "127.0.0.1",
            **{key: value for key, value in env.items()},
        }
        from tests.conftest import FAST

        for key, value in FAST.items():
            self.env.setdefault(key, value)
        self.apis: list[tuple[subprocess.Popen[bytes], str]] = []
        self.workers: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        return self.apis[0][1]

    def ws_url(self, index: int = 0) -> str:
        return "ws" + self.apis[index][1][4:]

    def _spawn(self, command: str, name: str, extra_env: dict[str, str]) -> subprocess.Popen[bytes]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = (self.log_dir / f"{name}.log").open("wb")
        return subprocess.Popen(
            [sys.executable, "-m", "infra.cli", command],
            env={**self.env, **extra_env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def log_text(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    async def start(self, *, apis: int = 1, workers: int = 1) -> None:
        for _ in range(workers):
            await self.add_worker()
        for index in range(apis):
            port = free_port()
            proc = self._spawn("api", f"api{index}", {"PORT": str(port)})
            self.apis.append((proc, f"http://127.0.0.1:{port}"))
        await asyncio.gather(*(self._wait_healthy(i) for i in range(apis)))

    async def add_worker(self, **extra_env: str) -> subprocess.Popen[bytes]:
        index = len(self.workers)
        proc = self._spawn("worker", f"worker{index}", extra_env)
        self.workers.append(proc)
        return proc

    async def _wait_healthy(self, index: int) -> None:
        proc, url = self.apis[index]
        deadline = asyncio.get_running_loop().time() + START_TIMEOUT_S
        async with httpx.AsyncClient() as client:
            while asyncio.get_running_loop().time() < deadline:
                if proc.poll() is not None:
                    break
                try:
                    if (await client.get(f"{url}/health", timeout=1)).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        raise RuntimeError(
            f"API {index} did not become healthy:\n{self.log_text(f'api{index}')[-3000:]}"
        )

    async def stop(self) -> None:
        procs = [proc for proc, _ in self.apis] + self.workers
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                await asyncio.to_thread(proc.wait, 20)
            except subprocess.TimeoutExpired:
                proc.kill()
                await asyncio.to_thread(proc.wait)

    async def submit(
        self, client: httpx.AsyncClient, index: int = 0, **body: Any
    ) -> httpx.Response:
        order = {
            "tokenIn": "SOL",
            "tokenOut": "USDC",
            "amountIn": "1.5",
            "slippageBps": 50,
            "walletAddress": WALLET,
            **body,
        }
        return await client.post(f"{self.apis[index][1]}/api/orders/execute", json=order)


WALLET = "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM"


async def follow(
    ws_base: str, order_id: str, *, after_seq: int = 0, timeout_s: float = 30
) -> tuple[list[dict[str, Any]], int | None]:
    """Every event the stream sends for the order, and the close code, awaiting the close."""
    import json

    import websockets

    events: list[dict[str, Any]] = []
    url = f"{ws_base}/api/orders/ws?orderId={order_id}&afterSeq={after_seq}"
    async with asyncio.timeout(timeout_s), websockets.connect(url) as socket:
        async for message in socket:
            events.append(json.loads(message))
        return events, socket.close_code


async def wait_terminal(
    engine: Engine, order_id: str, timeout_s: float = 30
) -> list[dict[str, Any]]:
    events, code = await follow(engine.ws_url(), order_id, timeout_s=timeout_s)
    assert code == 1000, f"stream closed with {code}"
    return events


# --- Shared by test_api_contract.py and test_validation.py -----------------------------------


def new_wallet() -> str:
    """A fresh, valid wallet address (base58 of 32 random bytes): isolates a test's history."""
    import base58

    return base58.b58encode(os.urandom(32)).decode()


class ModuleEngine:
    """`async with ModuleEngine(servers, template_database, log_dir, **env) as engine`: one API
    and one worker for a whole test module, on its own cloned database and Redis namespace,
    removed afterwards (the `engine` fixture is per test). For tests that only read, or that
    isolate themselves (fresh wallets, their own order ids)."""

    def __init__(
        self, servers: tuple[str, str], template_database: str, log_dir: Path, **env: str
    ) -> None:
        from tests.conftest import Databases

        self.admin_url, self.redis_url = servers
        self.databases = Databases(self.admin_url, template_database)
        self.log_dir = log_dir
        self.env = env
        self.namespace = ""
        self.engine: Engine | None = None

    async def __aenter__(self) -> Engine:
        import uuid

        from shared.config import load_settings
        from tests.conftest import FAST

        self.namespace = f"t{uuid.uuid4().hex[:10]}"
        try:
            settings = load_settings(
                {
                    **FAST,
                    "DATABASE_URL": await self.databases.fresh(),
                    "REDIS_URL": self.redis_url,
                    "REDIS_NAMESPACE": self.namespace,
                    **self.env,
                }
            )
            self.engine = Engine(settings, self.env, self.log_dir)
            await self.engine.start()
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self.engine

    async def __aexit__(self, *_: object) -> None:
        from tests.conftest import _delete_namespace

        try:
            if self.engine is not None:
                await self.engine.stop()
        finally:
            await self.databases.drop_all()
            if self.namespace:
                await _delete_namespace(self.redis_url, self.namespace)


async def ws_session(
    url: str, *, send: str | None = None, timeout_s: float = 30
) -> tuple[list[Any], int | None, str]:
    """Connect, optionally send one text message, then read until the server closes, whatever
    the close code: (the JSON-decoded messages, the close code, the close reason)."""
    import json

    import websockets

    messages: list[Any] = []
    async with asyncio.timeout(timeout_s), websockets.connect(url) as socket:
        if send is not None:
            await socket.send(send)
        try:
            async for message in socket:
                messages.append(json.loads(message))
        except websockets.ConnectionClosed:
            pass  # a close other than 1000 ends the iteration with this; the code is below
        return messages, socket.close_code, socket.close_reason or ""
