"""Real engines for the tests: API servers (uvicorn) and SAQ workers.

Workers always run as subprocesses; the API too by default, or in this test process
(`api_in_process`): the app from create_app(settings) served by uvicorn on a free port, fast to
start and debuggable (a breakpoint in a handler stops the test). Each subprocess gets the
test's settings through its environment, logs to a file under the test's tmp dir (shown when
it fails to start), and is stopped (SIGTERM, then SIGKILL) at teardown. Each engine has its own
local validator (its ledger and the executor's keypair under that dir), stopped after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import msgspec
import redis.asyncio as aioredis

from infra.processes import EngineProcesses
from shared.config import Settings

# Tests start their own API and worker processes with these unless a test overrides them:
# no simulated latency and no rate limit, so the suite is quick; tests of latency, rate limit
# and retries set what they exercise.
FAST = {
    "DEX_QUOTE_LATENCY_MS": "0",
    "DEX_EXECUTION_LATENCY_MS": "0",
    "DEX_FAILURE_RATE": "0",
    "QUEUE_RATE_LIMIT_PER_MINUTE": "0",
    "SUBMIT_RATE_LIMIT_PER_MINUTE": "0",
    "QUEUE_BACKOFF_MS": "100",
    "SIM_MARKET_ACTIVITY": "0",
    "LOG_FORMAT": "console",
    # 40 ms slots: a blockhash lives 150 of them (6 s), longer than any test's landing latency.
    "CHAIN_SLOT_MS": "40",
}


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


class Databases:
    """Clones of the template, each dropped when the test (or module) ends."""

    def __init__(self, admin_url: str, template: str) -> None:
        self.admin_url = admin_url
        self.template = template
        self.created: list[str] = []

    async def fresh(self) -> str:
        name = f"oe_test_{uuid.uuid4().hex[:10]}"
        admin = await asyncpg.connect(self.admin_url)
        try:
            await admin.execute(f"CREATE DATABASE {name} TEMPLATE {self.template}")
        finally:
            await admin.close()
        self.created.append(name)
        return with_database(self.admin_url, name)

    async def drop_all(self) -> None:
        admin = await asyncpg.connect(self.admin_url)
        try:
            for name in self.created:
                await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        finally:
            await admin.close()


async def delete_namespace(redis_url: str, namespace: str) -> None:
    client = aioredis.from_url(redis_url)
    try:
        for pattern in (f"{namespace}:*", f"saq:{namespace}:*"):
            keys = [key async for key in client.scan_iter(match=pattern, count=1000)]
            for start in range(0, len(keys), 500):
                await client.delete(*keys[start : start + 500])
    finally:
        await client.aclose()


class InProcessApi:
    """The Litestar app served by uvicorn inside this process, on a free port."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.url = ""
        self._server: Any = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        import socket

        import uvicorn

        from functions.api import create_app
        from infra.cli import UVICORN_OPTIONS

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        app = create_app(self.settings, own_signals=False)
        config = uvicorn.Config(app, host="127.0.0.1", port=port, **UVICORN_OPTIONS)  # type: ignore[arg-type]
        self._server = server = uvicorn.Server(config)
        # Server.serve() without its signal handlers (the test process keeps its own): start
        # up (lifespan, listening socket), then serve until told to exit.
        config.load()
        server.lifespan = config.lifespan_class(config)
        await server.startup()
        if server.should_exit:
            raise RuntimeError("the in-process API did not start (see the log above)")
        self._task = asyncio.create_task(server.main_loop())
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._task is not None:
            self._server.should_exit = True
            await self._task
            await self._server.shutdown()
            self._task = None


class Engine:
    """The test's view of an engine: its settings, its processes, and helpers to talk to it."""

    def __init__(
        self,
        settings: Settings,
        env: dict[str, str],
        log_dir: Path,
        *,
        api_in_process: bool = False,
    ) -> None:
        self.settings = settings
        self.log_dir = log_dir
        self.processes = EngineProcesses(
            {
                **FAST,
                "DATABASE_URL": settings.database_url,
                "REDIS_URL": settings.redis_url,
                "REDIS_NAMESPACE": settings.redis_namespace,
                "DATA_DIR": str(log_dir),  # the executor's keypair, shared by its processes
                **env,
            },
            log_dir,
        )
        self.in_process = InProcessApi(settings) if api_in_process else None

    @property
    def apis(self) -> list[tuple[subprocess.Popen[bytes] | None, str]]:
        if self.in_process is not None:
            return [(None, self.in_process.url)]
        return list(self.processes.apis)

    @property
    def workers(self) -> list[subprocess.Popen[bytes]]:
        return self.processes.workers

    @property
    def url(self) -> str:
        return self.apis[0][1]

    def ws_url(self, index: int = 0) -> str:
        return "ws" + self.apis[index][1][4:]

    def log_text(self, name: str) -> str:
        return self.processes.log_text(name)

    async def start(self, *, apis: int = 1, workers: int = 1) -> None:
        # Its own local validator (in the test's thread: it then dies with the test process).
        urls = self.processes.start_chain(self.log_dir)
        self.settings = msgspec.structs.replace(
            self.settings,
            solana_rpc_url=urls["SOLANA_RPC_URL"],
            solana_ws_url=urls["SOLANA_WS_URL"],
            data_dir=str(self.log_dir),
        )
        if self.in_process is not None:
            self.in_process.settings = self.settings
        for _ in range(workers):
            self.processes.add_worker()
        if self.in_process is not None:
            assert apis == 1, "one API in process"
            await self.in_process.start()
        else:
            for _ in range(apis):
                self.processes.add_api()
        await asyncio.to_thread(self.processes.wait_healthy)

    async def add_worker(self, **extra_env: str) -> subprocess.Popen[bytes]:
        return self.processes.add_worker(**extra_env)

    async def stop(self) -> None:
        if self.in_process is not None:
            await self.in_process.stop()
        await asyncio.to_thread(self.processes.stop)

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


SettingsFactory = Callable[..., Awaitable[Settings]]  # await make_settings(**env)
EngineFactory = Callable[..., Awaitable[Engine]]  # await start_engine(apis=, workers=, **env)

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
        with contextlib.suppress(websockets.ConnectionClosedError):  # closed with an error code
            async for message in socket:
                events.append(json.loads(message))
        return events, socket.close_code


RECONNECT_CODES = (1001, 1011, 1013)  # the stream says: reconnect with afterSeq


async def follow_reconnecting(
    ws_base: str, order_id: str, *, after_seq: int = 0, timeout_s: float = 30
) -> tuple[list[dict[str, Any]], int | None]:
    """Follow as a client should: after 1001, 1011 or 1013 reconnect with afterSeq = the last
    seq received, until the stream ends otherwise; every event, and the last close code."""
    events: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout_s):
        while True:
            batch, code = await follow(ws_base, order_id, after_seq=after_seq, timeout_s=timeout_s)
            events += batch
            after_seq = batch[-1]["seq"] if batch else after_seq
            if code not in RECONNECT_CODES:
                return events, code
            await asyncio.sleep(0.2)  # a client's pause between reconnects


async def wait_terminal(
    engine: Engine, order_id: str, timeout_s: float = 30
) -> list[dict[str, Any]]:
    events, code = await follow(engine.ws_url(), order_id, timeout_s=timeout_s)
    assert code == 1000, f"stream closed with {code}"
    return events


# --- Shared by test_api_contract.py and test_validation.py -----------------------------------


async def wait_workers(engine: Engine, count: int, timeout_s: float = 30) -> None:
    """Readiness, like the API's health wait: until `count` workers have registered (SAQ
    registers a worker after its startup: its side of the chain is open, its executor funded)."""
    async with httpx.AsyncClient() as client, asyncio.timeout(timeout_s):
        while True:
            metrics = (await client.get(f"{engine.url}/api/queue/metrics")).json()
            if metrics["workers"] >= count:
                return
            await asyncio.sleep(0.1)  # a poll interval against the deadline


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
        self.admin_url, self.redis_url = servers
        self.databases = Databases(self.admin_url, template_database)
        self.log_dir = log_dir
        self.env = env
        self.namespace = ""
        self.engine: Engine | None = None

    async def __aenter__(self) -> Engine:
        import uuid

        from shared.config import load_settings

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
            self.engine = Engine(settings, self.env, self.log_dir, api_in_process=True)
            await self.engine.start()
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self.engine

    async def __aexit__(self, *_: object) -> None:
        try:
            if self.engine is not None:
                await self.engine.stop()
        finally:
            await self.databases.drop_all()
            if self.namespace:
                await delete_namespace(self.redis_url, self.namespace)


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
