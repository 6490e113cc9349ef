"""What the benchmarks share: a scratch engine on this machine, and order submission.

The engine runs on the PostgreSQL/Redis named by DATABASE_URL/REDIS_URL (a scratch database
and Redis namespace are created and removed) or, without them, on an embedded stack in a
temporary directory. Traffic goes to 127.0.0.1 only; everything started is stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import redis.asyncio as aioredis

from infra.migrate import migrate
from infra.processes import EngineProcesses

WALLET = "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM"
ORDER = {
    "tokenIn": "SOL",
    "tokenOut": "USDC",
    "amountIn": "1.5",
    "slippageBps": 100,
    "walletAddress": WALLET,
}
# The way back: a run that alternates the two keeps the wallet's starter balance (1,000 SOL,
# 100,000 USDC) from running out, however many orders it sends.
ORDER_BACK = {**ORDER, "tokenIn": "USDC", "tokenOut": "SOL", "amountIn": "222"}


@dataclass
class ScratchEngine:
    processes: EngineProcesses
    database_url: str
    redis_url: str
    namespace: str

    @property
    def url(self) -> str:
        return self.processes.apis[0][1]

    @property
    def ws_url(self) -> str:
        return "ws" + self.url[4:]


@dataclass
class Services:
    database_url: str  # a scratch database, migrated
    redis_url: str
    namespace: str  # a scratch Redis namespace
    work_dir: Path


@contextlib.asynccontextmanager
async def scratch_services(
    postgres_settings: dict[str, str] | None = None,
) -> AsyncIterator[Services]:
    """A migrated scratch database and a Redis namespace, removed afterwards; on the servers of
    DATABASE_URL/REDIS_URL, or on an embedded stack without them (always embedded when
    `postgres_settings` are given: the server is started with them)."""
    stack = None
    database_url, redis_url = os.environ.get("DATABASE_URL"), os.environ.get("REDIS_URL")
    temp = tempfile.TemporaryDirectory(prefix="oe-bench-")
    if postgres_settings is not None or not (database_url and redis_url):
        from infra.local_stack import start_local_stack

        stack = await asyncio.to_thread(
            start_local_stack, Path(temp.name) / "data", postgres_settings=postgres_settings
        )
        database_url, redis_url = stack.database_url, stack.redis_url
    name = f"oe_bench_{uuid.uuid4().hex[:8]}"
    namespace = f"bench{uuid.uuid4().hex[:6]}"
    admin = await asyncpg.connect(database_url)
    try:
        await admin.execute(f"CREATE DATABASE {name}")
        scratch_url = urlunsplit(urlsplit(database_url)._replace(path=f"/{name}"))
        await migrate(scratch_url, quiet=True)
        yield Services(scratch_url, redis_url, namespace, Path(temp.name))
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.close()
        client = aioredis.from_url(redis_url)
        for pattern in (f"{namespace}:*", f"saq:{namespace}:*"):
            keys = [key async for key in client.scan_iter(match=pattern, count=1000)]
            for start in range(0, len(keys), 1000):
                await client.delete(*keys[start : start + 1000])
        await client.aclose()
        if stack is not None:
            await asyncio.to_thread(stack.stop)
        temp.cleanup()


@contextlib.asynccontextmanager
async def scratch_engine(
    env: dict[str, str], *, workers: int = 1, apis: int = 1, services: Services | None = None
) -> AsyncIterator[ScratchEngine]:
    """API and worker processes on scratch services (or on `services`), stopped afterwards."""
    async with contextlib.AsyncExitStack() as stack:
        if services is None:
            services = await stack.enter_async_context(scratch_services())
        processes = EngineProcesses(
            {
                "DATABASE_URL": services.database_url,
                "REDIS_URL": services.redis_url,
                "REDIS_NAMESPACE": services.namespace,
                "LOG_LEVEL": "WARNING",
                "SIM_MARKET_ACTIVITY": "0",
                "SUBMIT_RATE_LIMIT_PER_MINUTE": "0",  # one client sends everything here
                "DATA_DIR": str(services.work_dir),
                **env,
            },
            log_dir=services.work_dir / "logs",
        )
        try:
            processes.start_chain(services.work_dir)
            for _ in range(workers):
                processes.add_worker()
            for _ in range(apis):
                processes.add_api()
            await asyncio.to_thread(processes.wait_healthy)
            yield ScratchEngine(
                processes, services.database_url, services.redis_url, services.namespace
            )
        finally:
            await asyncio.to_thread(processes.stop)


def machine() -> str:
    """A one-line description of the machine, for reports."""
    cpu = "unknown CPU"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} cores, {cpu}"
