"""Apply the committed Piccolo migrations, once, under a PostgreSQL advisory lock.

Safe when several replicas start at once: the lock makes the others wait, then find nothing to do.
"""

from __future__ import annotations

import contextlib
import io
import os

import asyncpg

# Any constant works; it only has to be the same for every process of this engine.
MIGRATION_LOCK_ID = 0x0E_0E_0E_01


async def migrate(database_url: str, *, quiet: bool = False) -> None:
    os.environ["PICCOLO_CONF"] = "infra.piccolo_conf"
    from piccolo.apps.migrations.commands.forwards import run_forwards

    from shared.db import DB

    DB.config = {"dsn": database_url}
    lock_conn = await asyncpg.connect(database_url)
    try:
        await lock_conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_ID)
        out = io.StringIO()
        with contextlib.redirect_stdout(out) if quiet else contextlib.nullcontext():
            result = await run_forwards(app_name="orders")
        if not result.success:
            raise RuntimeError(f"migrations failed: {result.message}\n{out.getvalue()}")
    finally:
        await lock_conn.close()  # closing the session releases the advisory lock
