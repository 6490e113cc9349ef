"""The sweep forgets rows that no longer matter, and only those: Idempotency-Keys after 48
hours, the per-second confirmation counters after an hour, signature claims after a day."""

from __future__ import annotations

import time
import uuid

from shared.config import Settings
from shared.db import pool
from shared.sweep import forget_old_rows


async def test_the_sweep_forgets_old_rows_and_keeps_young_ones(db: Settings) -> None:
    order_id = uuid.uuid4()  # no foreign keys: the rows need no order
    now_s = int(time.time())
    async with pool().acquire() as conn:
        await conn.execute(
            "INSERT INTO idempotency_keys (key, request_hash, order_id, created_at) VALUES"
            " ('old', 'h', $1, now() - interval '49 hours'), ('young', 'h', $1, now())",
            order_id,
        )
        await conn.execute(
            "INSERT INTO order_confirmations (second, shard, n) VALUES ($1, 0, 3), ($2, 0, 4)",
            now_s - 3700,
            now_s - 10,
        )
        await conn.execute(
            "INSERT INTO order_signatures (signature, order_id, created_at) VALUES"
            " ('old', $1, now() - interval '25 hours'), ('young', $1, now())",
            order_id,
        )
    removed = await forget_old_rows()
    assert removed == {"idempotency keys": 1, "confirmation counts": 1, "signature claims": 1}
    async with pool().acquire() as conn:
        assert [r["key"] for r in await conn.fetch("SELECT key FROM idempotency_keys")] == ["young"]
        assert await conn.fetchval("SELECT array_agg(n) FROM order_confirmations") == [4]
        kept = await conn.fetchval("SELECT array_agg(signature) FROM order_signatures")
        assert kept == ["young"]
    assert await forget_old_rows() == {}  # not due again so soon
