"""Pool state shared by every process, in Redis, changed only all-or-nothing.

Each pool is a msgspec JSON value in one hash, with a version per pool in another. A swap
reads a consistent snapshot (MULTI), computes the new states in Python (the pool maths), then
commits them with one Lua script that checks every touched pool's version first: if any moved
meanwhile nothing is written and the swap is recomputed on the newer state (optimistic
concurrency). No update is ever lost, and a multi-leg swap moves all its pools or none.
Inside one process, swaps on the same pools also queue on a lock, so that contention costs
waiting, not recomputation (measured in loadtest/bench_market.py).

The same script can also record the swap's transaction (SET NX on its signature) and append
the signature to its order's ledger, so that a settlement, its ledger entry and the pool moves
it causes are one atomic step.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable, Mapping

import msgspec
from redis.asyncio import Redis

from shared.dex.market_seed import seed_pools
from shared.dex.pools import Pool

_encode = msgspec.json.Encoder().encode
_decode_pool = msgspec.json.Decoder(Pool).decode  # type: ignore[arg-type]

# KEYS: states hash, versions hash, tx key ("" for none), the order's ledger list ("" for none).
# ARGV: n, then n x (pool_id, expected_version, new_state), then tx_value, tx_ttl_s, signature.
# Returns 1 committed, 0 a pool moved (nothing written), -1 the tx key already exists.
_COMMIT_SCRIPT = """
local n = tonumber(ARGV[1])
if KEYS[3] ~= '' and redis.call('EXISTS', KEYS[3]) == 1 then return -1 end
for i = 0, n - 1 do
  local current = redis.call('HGET', KEYS[2], ARGV[2 + 3 * i]) or '0'
  if current ~= ARGV[3 + 3 * i] then return 0 end
end
for i = 0, n - 1 do
  redis.call('HSET', KEYS[1], ARGV[2 + 3 * i], ARGV[4 + 3 * i])
  redis.call('HINCRBY', KEYS[2], ARGV[2 + 3 * i], 1)
end
if KEYS[3] ~= '' then
  redis.call('SET', KEYS[3], ARGV[2 + 3 * n], 'EX', ARGV[3 + 3 * n])
  if KEYS[4] ~= '' then
    redis.call('RPUSH', KEYS[4], ARGV[4 + 3 * n])
    redis.call('EXPIRE', KEYS[4], ARGV[3 + 3 * n])
  end
end
return 1
"""

# Seed only what is missing: every process may call it at start; the first one wins.
_SEED_SCRIPT = """
local added = 0
for i = 1, #ARGV, 2 do
  if redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1]) == 1 then
    redis.call('HSET', KEYS[2], ARGV[i], '1')
    added = added + 1
  end
end
return added
"""


class Snapshot(msgspec.Struct, frozen=True):
    pools: dict[str, Pool]
    versions: dict[str, str]


class PoolStore:
    def __init__(self, redis: Redis, namespace: str) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._redis = redis
        self._states = f"{namespace}:pools"
        self._versions = f"{namespace}:pools:version"
        self.price_channel = f"{namespace}:market"
        self._commit = redis.register_script(_COMMIT_SCRIPT)
        self._seed = redis.register_script(_SEED_SCRIPT)

    @contextlib.asynccontextmanager
    async def locked(self, pool_ids: Iterable[str]) -> AsyncIterator[None]:
        """Serialise this process's swaps on the same pools (taken in sorted order, so two
        multi-pool swaps cannot deadlock). Across processes the commit's version check does
        the work; inside one, waiting is cheaper than computing a swap that is bound to lose."""
        locks = [self._locks.setdefault(p, asyncio.Lock()) for p in sorted(set(pool_ids))]
        async with contextlib.AsyncExitStack() as stack:
            for lock in locks:
                await stack.enter_async_context(lock)
            yield

    async def seed(self, seed: int) -> int:
        """Create the seeded pools that do not exist yet; return how many were created."""
        args: list[str | bytes] = []
        for pool_id, pool in seed_pools(seed).items():
            args += [pool_id, _encode(pool)]
        return int(await self._seed(keys=[self._states, self._versions], args=args))

    async def add(self, pool: Pool) -> bool:
        """Add a new pool (a launch); False if one with that id exists."""
        args = [pool.pool_id, _encode(pool)]
        return bool(await self._seed(keys=[self._states, self._versions], args=args))

    async def snapshot(self, pool_ids: list[str] | None = None) -> Snapshot:
        """Every pool (or only `pool_ids`) as one consistent read."""
        async with self._redis.pipeline(transaction=True) as pipe:
            if pool_ids is None:
                states, versions = (
                    await pipe.hgetall(self._states).hgetall(self._versions).execute()
                )
                states = {key.decode(): value for key, value in states.items()}
                versions = {key.decode(): value for key, value in versions.items()}
            else:
                raw_states, raw_versions = (
                    await pipe.hmget(self._states, pool_ids)
                    .hmget(self._versions, pool_ids)
                    .execute()
                )
                states = {p: v for p, v in zip(pool_ids, raw_states, strict=True) if v is not None}
                versions = {p: v for p, v in zip(pool_ids, raw_versions, strict=True) if v}
        return Snapshot(
            pools={key: _decode_pool(value) for key, value in states.items()},
            versions={key: value.decode() for key, value in versions.items()},
        )

    async def commit(
        self,
        snapshot: Snapshot,
        updates: Mapping[str, Pool],
        *,
        tx_key: str = "",
        tx_value: bytes = b"",
        tx_ttl_s: int = 0,
        ledger_key: str = "",
        signature: str = "",
    ) -> int:
        """Write `updates` if none of their pools moved since `snapshot` (and, with `tx_key`,
        record the transaction in the same step, appending `signature` to the order's
        `ledger_key` list). 1 written, 0 moved, -1 tx already known."""
        args: list[str | bytes | int] = [len(updates)]
        for pool_id, pool in updates.items():
            args += [pool_id, snapshot.versions.get(pool_id, "0"), _encode(pool)]
        args += [tx_value, tx_ttl_s, signature]
        keys = [self._states, self._versions, tx_key, ledger_key]
        result = int(await self._commit(keys=keys, args=args))
        if result == 1 and updates:
            await self._redis.publish(self.price_channel, _encode(sorted(updates)))
        return result
