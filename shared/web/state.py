"""What the API's functions share: built once in the app's lifespan, injected with Provide."""

from __future__ import annotations

from dataclasses import dataclass

from litestar.datastructures import State
from litestar.di import Provide
from redis.asyncio import Redis
from saq.queue.redis import RedisQueue

from shared.chain.cluster import Cluster
from shared.chain.pools import ChainPools
from shared.config import Settings
from shared.events import EventHub
from shared.orders.accept import Intake
from shared.orders.records import OrderRecords
from shared.ratelimit import SubmitLimiter
from shared.waiting.book import WaitingBook


@dataclass
class ApiState:
    settings: Settings
    redis: Redis
    queue: RedisQueue
    hub: EventHub
    pools: ChainPools  # the chain's pools, cached and kept fresh: quotes and pool views
    book: WaitingBook
    submit_limiter: SubmitLimiter
    records: OrderRecords  # the orders tables, with group commit
    intake: Intake  # accepting and cancelling orders
    cluster: Cluster  # the chain: its RPC client and the executor key


def provide_state(state: State) -> ApiState:
    return state.api  # type: ignore[no-any-return]


# Injected into every function as `state_` (Litestar reserves the name `state`).
DEPENDENCIES = {"state_": Provide(provide_state, sync_to_thread=False)}
