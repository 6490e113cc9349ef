"""CPU time of the processes a benchmark runs against: the engine's API and worker processes,
PostgreSQL (the backends serving the scratch database, and its shared background processes)
and the Redis server, read from /proc/<pid>/stat (utime + stime) before and after a phase.

Linux only; a process that cannot be found or read is reported as missing, not guessed.
"""

from __future__ import annotations

import contextlib
import os
import resource
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import asyncpg
import psutil

TICKS_PER_S = os.sysconf("SC_CLK_TCK")
PG_BACKGROUND = (
    "checkpointer",
    "background writer",
    "walwriter",
    "autovacuum launcher",
    "autovacuum worker",
    "logical replication launcher",
)


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of every thread of `pid`, in seconds; None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            data = stat.read()
    except OSError:
        return None
    fields = data[data.rindex(")") + 2 :].split()  # fields from the 3rd (state) on
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_S


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rss_bytes(pid: int) -> int | None:
    with contextlib.suppress(psutil.Error):
        return int(psutil.Process(pid).memory_info().rss)
    return None


def pid_listening_on(port: int) -> int | None:
    """The pid of the process listening on TCP `port` on this machine (needs the right to see
    other users' sockets: root, or the same user)."""
    with contextlib.suppress(psutil.Error):
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
                return conn.pid
    return None


def redis_server_pid(redis_url: str) -> int | None:
    port = urlsplit(redis_url).port or 6379
    pid = pid_listening_on(port)
    if pid is None:  # not visible through sockets: by name and port on its command line
        for proc in psutil.process_iter(["name", "cmdline"]):
            cmdline = " ".join(proc.info.get("cmdline") or [])
            if "redis-server" in cmdline and f":{port}" in cmdline:
                return int(proc.pid)
    return pid


@dataclass
class Group:
    """Processes counted together under one name; pids may appear between two readings."""

    name: str
    pids: set[int] = field(default_factory=set)


@dataclass
class Reading:
    cpu: dict[str, dict[int, float]]  # group name -> pid -> CPU seconds
    driver: float


class ProcessWatch:
    """The named processes of one engine run, read together."""

    def __init__(self, database_url: str, redis_url: str, engine: dict[str, int]) -> None:
        self.database_url = database_url
        self.redis_url = redis_url
        self.engine = engine  # "api0" -> pid, "worker0" -> pid, ...

    async def _postgres_pids(self) -> tuple[set[int], set[int]]:
        """(backends of the scratch database, PostgreSQL's background processes)."""
        conn = await asyncpg.connect(self.database_url)
        try:
            rows = await conn.fetch(
                """SELECT pid, backend_type, datname = current_database() AS ours,
                          pid = pg_backend_pid() AS me FROM pg_stat_activity"""
            )
        finally:
            await conn.close()
        ours = {r["pid"] for r in rows if r["ours"] and not r["me"]}
        background = {r["pid"] for r in rows if r["backend_type"] in PG_BACKGROUND}
        return ours, background

    async def read(self) -> Reading:
        groups: dict[str, set[int]] = {name: {pid} for name, pid in self.engine.items()}
        with contextlib.suppress(Exception):
            ours, background = await self._postgres_pids()
            groups["postgres (this database's backends)"] = ours
            groups["postgres (background, shared)"] = background
        if (redis_pid := redis_server_pid(self.redis_url)) is not None:
            groups["redis-server (shared)"] = {redis_pid}
        cpu: dict[str, dict[int, float]] = {}
        for name, pids in groups.items():
            cpu[name] = {}
            for pid in pids:
                if (seconds := cpu_seconds(pid)) is not None:
                    cpu[name][pid] = seconds
        return Reading(cpu, own_cpu_seconds())


def cpu_used(before: Reading, after: Reading) -> dict[str, float]:
    """CPU seconds per group between two readings, the driver (this process) last. A pid seen
    only in `after` started in between and counts from zero."""
    used: dict[str, float] = {}
    for name, pids in after.cpu.items():
        start = before.cpu.get(name, {})
        used[name] = sum(max(0.0, cpu - start.get(pid, 0.0)) for pid, cpu in pids.items())
    used["driver (this process)"] = after.driver - before.driver
    return used


def raise_open_file_limit(wanted: int) -> int:
    """Raise this process's soft RLIMIT_NOFILE toward `wanted` (at most the hard limit); the
    engine processes started afterwards inherit it. Returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    return soft
