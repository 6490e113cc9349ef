"""The Litestar app: every HTTP and WebSocket function, built by `create_app(settings)`.

The lifespan opens this process's PostgreSQL pool, its Redis client, the SAQ queue handle, the
event hub (one confirmed pattern subscription) and the chain's RPC client, and closes them on
shutdown.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.openapi import OpenAPIConfig

from functions.cancel_order import cancel_order_by_id
from functions.chain_info import chain_info
from functions.chain_transactions import chain_transactions
from functions.desk import desk
from functions.get_order import get_order_by_id
from functions.health import health
from functions.list_statuses import list_statuses
from functions.list_tokens import list_tokens
from functions.market import get_pool, get_quote, list_pools
from functions.order_history import wallet_history
from functions.order_stream import order_stream
from functions.prometheus_metrics import prometheus_metrics
from functions.queue_metrics import get_queue_metrics
from functions.sim_airdrop import sim_airdrop
from functions.sim_launch import sim_launch
from functions.submit_order import submit_order, submit_order_ws
from functions.wallet_balances import wallet_balances
from shared.chain.cluster import Cluster
from shared.chain.pools import ChainPools
from shared.chain.pubsub import ChainSubscriptions
from shared.config import Settings
from shared.db import close_database, open_database
from shared.events import EventHub, EventPublisher
from shared.jobs.queue import create_queue, redis_client
from shared.orders.accept import Intake
from shared.orders.records import OrderRecords, OrderSteps
from shared.ratelimit import SubmitLimiter
from shared.telemetry.reporting import start_reporting, stop_reporting
from shared.tokens import load_launched_tokens
from shared.waiting.book import WaitingBook
from shared.web.errors import EXCEPTION_HANDLERS
from shared.web.state import DEPENDENCIES, ApiState
from shared.web.streams import close_streams_on_shutdown

MAX_BODY_BYTES = 64 * 1024


def create_app(settings: Settings, *, own_signals: bool = True) -> Litestar:
    """The app. `own_signals`: SIGTERM closes its streams with 1001 (off when the app shares
    its process, as the in-process test API does)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await open_database(settings.database_url)
        redis = redis_client(settings, extra_connections=50)
        hub = EventHub(redis, settings.redis_namespace)
        queue = create_queue(settings, redis)
        cluster = Cluster.open(settings)
        subscriptions = ChainSubscriptions(cluster.ws_url)
        pools: ChainPools | None = None
        try:
            await hub.start()
            await start_reporting(redis, settings.redis_namespace, "api")
            await load_launched_tokens(redis, settings.redis_namespace)
            await subscriptions.start()
            pools = await ChainPools.load(cluster.rpc, subscriptions)
            records = OrderRecords()
            steps = OrderSteps(records, EventPublisher(redis, settings.redis_namespace))
            book = WaitingBook(redis, settings.redis_namespace)
            app.state.api = ApiState(
                settings=settings,
                redis=redis,
                queue=queue,
                hub=hub,
                pools=pools,
                book=book,
                submit_limiter=SubmitLimiter(
                    redis, settings.redis_namespace, settings.submit_rate_limit_per_minute
                ),
                records=records,
                intake=Intake(settings, redis, records, steps, queue, book),
                cluster=cluster,
            )
            if own_signals:  # SIGTERM: WebSockets close with 1001, then uvicorn stops
                close_streams_on_shutdown()
            yield
        finally:
            await stop_reporting()
            await hub.stop()
            if pools is not None:
                await pools.close()
            await subscriptions.close()
            await cluster.close()
            await redis.aclose()
            await close_database()

    # The launch control exists only on engines that were given its token.
    control = [sim_launch, sim_airdrop] if settings.sim_control_token else []
    return Litestar(
        route_handlers=[
            *control,
            submit_order,
            submit_order_ws,
            get_order_by_id,
            cancel_order_by_id,
            wallet_history,
            order_stream,
            get_queue_metrics,
            prometheus_metrics,
            list_tokens,
            list_statuses,
            list_pools,
            get_pool,
            get_quote,
            chain_transactions,
            chain_info,
            wallet_balances,
            health,
            desk,  # GET /: the trading desk (static files); API paths match first
        ],
        dependencies=DEPENDENCIES,
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        lifespan=[lifespan],
        request_max_body_size=MAX_BODY_BYTES,
        logging_config=None,  # shared.logs configures logging once per process
        cors_config=CORSConfig(allow_origins=list(settings.cors_allow_origins))
        if settings.cors_allow_origins
        else None,
        openapi_config=OpenAPIConfig(
            title="Order execution engine",
            version="0.1.0",
            description="Market orders for Solana token swaps, routed to the best venue and "
            "streamed step by step.",
        ),
    )


def app_from_env() -> Litestar:
    """uvicorn's factory: settings from the environment, logging configured in this process."""
    from shared.config import load_settings
    from shared.logs import configure_logging

    settings = load_settings()
    configure_logging(settings.log_format, settings.log_level)
    return create_app(settings)
