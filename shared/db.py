"""The one Piccolo engine of a process, unconnected until `open_database` points it at a URL.

Hot paths run raw SQL on `DB.pool` (asyncpg); the rest uses Piccolo's query API.
"""

from __future__ import annotations

import asyncpg
from piccolo.engine.postgres import PostgresEngine


class _UnconnectedEngine(PostgresEngine):
    """Piccolo's engine connects at construction to check the server version; ours is built at
    import, before any URL is known, so that check is skipped (PostgreSQL >= 13 is required)."""

    async def check_version(self) -> None:
        return None


DB: PostgresEngine = _UnconnectedEngine(config={})

# Fail fast rather than hang when PostgreSQL is down or stalled: a new connection gets
# CONNECT_TIMEOUT_S, a statement COMMAND_TIMEOUT_S (every query here is a short OLTP one). The
# pool needs nothing else to recover: a connection the server dropped is replaced on its next
# acquire, so calls fail during an outage and succeed again once the server is back.
CONNECT_TIMEOUT_S = 3.0
COMMAND_TIMEOUT_S = 10.0


# How every statement of the engine is planned, whatever the planner's statistics say (with
# autovacuum off, or on a fresh or restored database, no ANALYZE may ever have run):
# - for its own parameters (a custom plan), never once for all: PostgreSQL's generic plan,
#   chosen after five runs, stays when the table grows. Made while `orders` was small it
#   scanned `orders` and `order_events` in full, and an order's cost grew with every order
#   before it. A custom plan sees a table's real size (its pages) and a batch's real length
#   (the unnest of a known array).
# - through an index wherever one serves: without statistics the planner guesses that
#   `status NOT IN (<terminal>)` keeps most rows and would scan the table rather than the
#   partial index of open orders. Every query here has an index that serves it (the test in
#   tests/integration/test_query_plans.py holds the engine to it); a table with none is
#   still scanned, this only rules out choosing a scan over an index.
SESSION_SETTINGS = {"plan_cache_mode": "force_custom_plan", "enable_seqscan": "off"}


async def _keep_session(_connection: asyncpg.Connection) -> None:
    """Nothing to reset on release: no query here leaves session state behind (no LISTEN,
    SET, temp tables or advisory locks outside the migration's own connection). asyncpg's
    default reset costs a round trip on every release."""


async def open_database(database_url: str, *, min_size: int = 2, max_size: int = 20) -> None:
    """Point the engine at `database_url` and open this process's connection pool."""
    if DB.pool is not None:
        await DB.close_connection_pool()
    DB.config = {"dsn": database_url}
    await DB.start_connection_pool(
        min_size=min_size,
        max_size=max_size,
        command_timeout=COMMAND_TIMEOUT_S,
        timeout=CONNECT_TIMEOUT_S,
        reset=_keep_session,
        server_settings=SESSION_SETTINGS,
    )


async def close_database() -> None:
    if DB.pool is not None:
        await DB.close_connection_pool()


def pool() -> asyncpg.Pool:
    if DB.pool is None:
        raise RuntimeError("the database pool is not open: call open_database() at start")
    return DB.pool
