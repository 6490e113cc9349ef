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
    )


async def close_database() -> None:
    if DB.pool is not None:
        await DB.close_connection_pool()


def pool() -> asyncpg.Pool:
    if DB.pool is None:
        raise RuntimeError("the database pool is not open: call open_database() at start")
    return DB.pool
