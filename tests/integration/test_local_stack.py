"""The embedded PostgreSQL + Redis of `order-engine up`: start, persist, restart, no leftovers."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import psutil
import pytest
import redis

from infra.local_stack import LocalStack, start_local_stack

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="bundled binaries are Linux-only")


@pytest.fixture
def stack_dir() -> Iterator[Path]:
    """A data directory outside pytest's temporary root: the embedded PostgreSQL runs as
    `nobody` and must traverse the path, and under pytest-xdist another test process may set
    that root back to 0700 at any moment."""
    path = Path(tempfile.mkdtemp(prefix="oe-test-local-stack-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _port(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None
    return port


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return True
    return False


def _assert_stopped(stack: LocalStack, ports: tuple[int, int]) -> None:
    assert stack.postgres is not None and stack.redis is not None
    assert _gone(stack.postgres.pid) and _gone(stack.redis.pid)
    assert all(_refused(p) for p in ports)


async def _pg(dsn: str, sql: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


def test_start_persist_restart_stop(stack_dir: Path) -> None:
    started = time.monotonic()
    stack = start_local_stack(stack_dir)
    first_start = time.monotonic() - started
    ports = (_port(stack.database_url), _port(stack.redis_url))
    try:
        assert not {5432, 6379} & set(ports)  # never the machine's own servers
        assert urlsplit(stack.database_url).path == "/order_engine"
        asyncio.run(_pg(stack.database_url, "CREATE TABLE t (k text PRIMARY KEY, v int)"))
        asyncio.run(_pg(stack.database_url, "INSERT INTO t VALUES ($1, $2)", "order", 42))
        with redis.Redis.from_url(stack.redis_url) as r:
            r.set("job", "queued")
        # The data dir is locked while a stack runs on it.
        with pytest.raises(RuntimeError, match="already using"):
            start_local_stack(stack_dir)
    finally:
        stack.stop()
    stack.stop()  # idempotent
    _assert_stopped(stack, ports)
    assert (stack_dir / "postgres" / "PG_VERSION").exists()
    assert (stack_dir / "redis" / "appendonly.aof").exists()

    started = time.monotonic()
    with LocalStack(stack_dir) as again:
        restart = time.monotonic() - started
        rows = asyncio.run(_pg(again.database_url, "SELECT v FROM t WHERE k = $1", "order"))
        assert [r["v"] for r in rows] == [42]
        with redis.Redis.from_url(again.redis_url) as r:
            assert r.get("job") == b"queued"
        ports = (_port(again.database_url), _port(again.redis_url))
    _assert_stopped(again, ports)
    print(f"first start {first_start:.2f}s, restart {restart:.2f}s")


def test_servers_die_with_a_killed_parent(stack_dir: Path) -> None:
    # A CLI killed with SIGKILL runs no finally/atexit: PR_SET_PDEATHSIG must stop the servers.
    script = (
        "import sys, time; from pathlib import Path\n"
        "from infra.local_stack import start_local_stack\n"
        "s = start_local_stack(Path(sys.argv[1]))\n"
        "print(s.postgres.pid, s.redis.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    root = Path(__file__).resolve().parents[2]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
    }
    cli = subprocess.Popen(
        [sys.executable, "-c", script, str(stack_dir)], stdout=subprocess.PIPE, env=env
    )
    try:
        assert cli.stdout is not None
        pids = [int(p) for p in cli.stdout.readline().split()]
        assert len(pids) == 2 and not any(_gone(p) for p in pids)
    finally:
        cli.send_signal(signal.SIGKILL)
        cli.wait()
    deadline = time.monotonic() + 15
    while not all(_gone(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(_gone(p) for p in pids)
    # The lock died with the CLI, so the next `up` starts cleanly on the same data.
    with LocalStack(stack_dir) as stack:
        assert asyncio.run(_pg(stack.database_url, "SELECT 1 AS one"))[0]["one"] == 1
