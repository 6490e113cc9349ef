"""A scratch engine that runs until Ctrl-C (or SIGTERM), for Locust and newman runs.

On DATABASE_URL/REDIS_URL when set (a scratch database and Redis namespace, removed at the
end), else on an embedded stack. Extra settings come from the environment as usual, e.g.:

    QUEUE_RATE_LIMIT_PER_MINUTE=0 DEX_QUOTE_LATENCY_MS=0 DEX_EXECUTION_LATENCY_MS=50-150 \\
        python3 dev.py run python -m loadtest.serve --port 8000 --workers 1
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal

from loadtest.common import scratch_engine

# Settings passed through to the engine processes when they are set here.
PASSED = (
    "QUEUE_CONCURRENCY",
    "QUEUE_RATE_LIMIT_PER_MINUTE",
    "QUEUE_MAX_ATTEMPTS",
    "QUEUE_BACKOFF_MS",
    "DEX_QUOTE_LATENCY_MS",
    "DEX_EXECUTION_LATENCY_MS",
    "DEX_FAILURE_RATE",
    "SIM_MARKET_ACTIVITY",
    "LOG_LEVEL",
    "LOG_FORMAT",
)


async def serve(port: int | None, workers: int, apis: int) -> None:
    env = {name: os.environ[name] for name in PASSED if name in os.environ}
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with scratch_engine(env, workers=workers, apis=0) as engine:
        urls = [engine.processes.add_api(port=port if i == 0 else None) for i in range(apis)]
        await asyncio.to_thread(engine.processes.wait_healthy)
        print(f"engine ready: {' '.join(urls)} (Ctrl-C stops it and removes its data)", flush=True)
        await stop.wait()
    print("engine stopped", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=None, help="port of the first API (free)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--apis", type=int, default=1)
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.workers, args.apis))


if __name__ == "__main__":
    main()
