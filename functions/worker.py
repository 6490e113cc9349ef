"""The SAQ worker: QUEUE_CONCURRENCY orders in flight per process, the global rate limit,
short sweeps so a dead worker's order is picked up within seconds, and the stale-order sweep.

Timers, on purpose: each job has a heartbeat of QUEUE_HEARTBEAT_S (the job touches itself at
half that) and SAQ sweeps every QUEUE_SWEEP_INTERVAL_S, so an order whose worker died is
retried after about heartbeat + sweep seconds; QUEUE_JOB_TIMEOUT_S bounds a hung attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from typing import Any

import structlog
from saq import CronJob

from functions.execute_order import WorkerDeps, execute_order
from shared.chain.blockhash import RecentBlockhash
from shared.chain.cluster import Cluster
from shared.chain.landing import Landings
from shared.chain.market import ChainMarket
from shared.chain.pools import ChainPools
from shared.chain.pubsub import ChainSubscriptions
from shared.chain.rpc import wait_landed
from shared.config import Settings
from shared.db import close_database, open_database
from shared.dex.routing import NoRoute, best_route
from shared.events import EventPublisher
from shared.execution import Executor
from shared.jobs.queue import EXECUTE_ORDER, create_queue, redis_client
from shared.jobs.saq_fork import OrderWorker
from shared.orders.records import OrderRecords, OrderSteps
from shared.ratelimit import StartLimiter
from shared.sweep import forget_old_rows, sweep_stale_orders
from shared.telemetry.reporting import start_reporting, stop_reporting
from shared.tokens import load_launched_tokens, token_by_symbol
from shared.waiting.book import WaitingBook
from shared.waiting.watcher import Watcher
from shared.wallets import StarterFunding

log = structlog.get_logger(__name__)


async def sweep_orders(ctx: dict[str, Any]) -> int:
    deps: WorkerDeps = ctx["deps"]
    enqueued = await sweep_stale_orders(ctx["worker"].queue, deps.settings)
    await forget_old_rows()
    if enqueued:
        log.warning("stale orders re-enqueued", count=enqueued)
    return enqueued


def warm_up(pools: ChainPools) -> None:
    """Route once before taking orders, so the first order does not pay for the cold caches
    (bin prices): its start stays where the rate limiter put it."""
    sol, usdc = token_by_symbol("SOL"), token_by_symbol("USDC")
    with contextlib.suppress(NoRoute, KeyError):
        best_route(pools.pools(), sol.mint, usdc.mint, 10**9)


async def market_activity(ctx: dict[str, Any]) -> int:
    """SAQ cron, once a second on one worker: the market's other traders, as real
    transactions on the local chain (another cluster has its own)."""
    deps: WorkerDeps = ctx["deps"]
    rate = deps.settings.sim_market_activity
    market: ChainMarket | None = ctx.get("chain_market")
    if not rate or market is None:
        return 0
    return await market.tick(deps.market_rng, rate)


async def open_executor(settings: Settings, steps: OrderSteps) -> Executor:
    """The chain's side of this worker: its RPC client and PubSub, the pool cache kept fresh
    by account notifications, the landing watch, the starter funding."""
    cluster = Cluster.open(settings)
    subscriptions = ChainSubscriptions(cluster.ws_url)
    await subscriptions.start()
    pools = await ChainPools.load(cluster.rpc, subscriptions)
    landings = Landings(cluster.rpc, subscriptions)
    await landings.start()
    blockhashes = RecentBlockhash(cluster.rpc, subscriptions)
    await blockhashes.start()
    local = await cluster.name() == "localnet"
    if local:
        await fund_executor(cluster)
    starter = StarterFunding(
        cluster.rpc,
        cluster.executor.pubkey,
        await cluster.genesis_hash(),
        enabled=local and settings.sim_airdrop_on_first_order,
    )
    return Executor(
        steps, pools, cluster, landings, blockhashes, starter, settings.dex_quote_latency_ms
    )


EXECUTOR_FLOAT_LAMPORTS = 1_000 * 10**9  # the fees and token-account rent of many orders


async def fund_executor(cluster: Cluster) -> None:
    """On the local chain the executor's SOL comes from the faucet: topped up to
    EXECUTOR_FLOAT_LAMPORTS when it holds less than a tenth of that."""
    rpc, executor = cluster.rpc, cluster.executor.pubkey
    balance = int((await rpc.call("getBalance", [str(executor)]))["value"])
    if balance < EXECUTOR_FLOAT_LAMPORTS // 10:
        signature = await rpc.request_airdrop(executor, EXECUTOR_FLOAT_LAMPORTS - balance)
        await wait_landed(rpc, [signature])
        log.info("executor funded by the local faucet", lamports=EXECUTOR_FLOAT_LAMPORTS)


CLOSE_TIMEOUT_S = 3.0  # each part of the chain's side gets this long to close on shutdown


async def close_executor(executor: Executor) -> None:
    """Close the chain's side; a part that does not close in time is logged and left (the
    process is exiting: its sockets go with it)."""
    for name, closing in (
        ("landings", executor.landings.close),
        ("blockhashes", executor.blockhashes.close),
        ("pool cache", executor.pools.close),
        ("subscriptions", executor.pools.subscriptions.close),
        ("rpc", executor.cluster.close),
    ):
        try:
            await asyncio.wait_for(closing(), CLOSE_TIMEOUT_S)
        except TimeoutError:
            log.warning("chain client part did not close in time", part=name)


def create_worker(settings: Settings, *, worker_id: str | None = None) -> OrderWorker:
    redis = redis_client(settings)
    queue = create_queue(settings, redis)

    async def startup(ctx: dict[str, Any]) -> None:
        # The default pool, as the API's: concurrent orders share batched statements
        # (shared/batching.py), a few connections in all; a pool sized by QUEUE_CONCURRENCY
        # would pass PostgreSQL's max_connections.
        await open_database(settings.database_url)
        await load_launched_tokens(redis, settings.redis_namespace)
        records = OrderRecords()
        steps = OrderSteps(records, EventPublisher(redis, settings.redis_namespace))
        executor = await open_executor(settings, steps)
        ctx["executor"] = executor
        warm_up(executor.pools)
        if await executor.cluster.name() == "localnet":  # its faucet funds the traders
            ctx["chain_market"] = ChainMarket(
                executor.cluster.rpc, executor.pools, settings.sim_seed
            )
        ctx["deps"] = WorkerDeps(
            settings=settings,
            redis=redis,
            records=records,
            executor=executor,
            market_rng=random.Random(settings.sim_seed + 1),
            limiter=StartLimiter(
                redis, settings.redis_namespace, settings.queue_rate_limit_per_minute
            ),
        )
        await start_reporting(redis, settings.redis_namespace, "worker")
        watcher = Watcher(
            redis,
            settings,
            executor.pools,
            WaitingBook(redis, settings.redis_namespace),
            queue,
            steps,
        )
        await watcher.start()
        ctx["watcher"] = watcher
        log.info(
            "worker started",
            concurrency=settings.queue_concurrency,
            rate_per_minute=settings.queue_rate_limit_per_minute,
        )

    async def shutdown(ctx: dict[str, Any]) -> None:
        if "watcher" in ctx:  # first, while Redis is open: it hands over its leadership
            await ctx["watcher"].stop()
        await stop_reporting()
        if "executor" in ctx:
            await close_executor(ctx["executor"])
        await close_database()
        log.info("worker stopped")

    return OrderWorker(
        queue,
        functions=[(EXECUTE_ORDER, execute_order)],
        id=worker_id,
        concurrency=settings.queue_concurrency,
        cron_jobs=[
            CronJob(
                sweep_orders, cron=f"* * * * * */{settings.queue_sweep_interval_s}", timeout=60
            ),
            CronJob(market_activity, cron="* * * * * *", timeout=30),
        ],
        startup=startup,
        shutdown=shutdown,
        timers={"sweep": settings.queue_sweep_interval_s, "schedule": 1, "worker_info": 5},
        # Idle slots give up their blocking dequeue every second, so that on SIGTERM they end
        # within a second while in-flight orders get up to the grace period to finish.
        dequeue_timeout=1,
        shutdown_grace_period_s=settings.queue_shutdown_grace_s,
    )


async def run_worker(settings: Settings) -> None:
    worker = create_worker(settings)
    await worker.queue.connect()
    try:
        await worker.start()
    finally:
        await worker.queue.disconnect()


def main(settings: Settings) -> None:
    try:
        import uvloop  # the API runs on it too (uvicorn[standard])
    except ImportError:
        asyncio.run(run_worker(settings))
    else:
        uvloop.run(run_worker(settings))
