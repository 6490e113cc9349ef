"""Pool state shared by every process, in Redis, changed only all-or-nothing.

Each pool is a msgspec JSON value in one hash, with a version per pool in another. A swap
reads a consistent snapshot (MULTI), computes the new states in Python (the pool maths), then
commits them with one Lua script that checks every touched pool's version first: if any moved
meanwhile nothing is written and the swap is recomputed on the newer state (optimistic
concurrency). No update is ever lost, and a multi-leg swap moves all its pools or none.
Inside one process, swaps do not race each other: the chain lands those that arrive together
as one slot, one commit (measured in loadtest/bench_market.py).

The same script can also record transactions (a slot's settlements and reverts, each refused
if its signature was already decided) and append each signature to its order's ledger, so that
settlements, their ledger entries and the pool moves they cause are one atomic step.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import msgspec
from redis.asyncio import Redis

from shared.batching import Batcher
from shared.dex.market_seed import seed_pools
from shared.dex.pools import Pool

_encode = msgspec.json.Encoder().encode
_decode_pool = msgspec.json.Decoder(Pool).decode

# KEYS: states hash, versions hash, the price channel. ARGV: n, then n x (pool_id,
# expected_version, new_state), then m, then m x (tx_key, tx_value, ledger_key, signature),
# then tx_ttl_s and the price announcement. Returns 1 committed, 0 a pool moved, or -i when the
# i-th transaction (1-based) was already decided; in both last cases nothing is written. The
# announcement is published from inside the script: no round trip of its own, and never for a
# commit that did not happen.
_COMMIT_SCRIPT = """
local n = tonumber(ARGV[1])
local m = tonumber(ARGV[2 + 3 * n])
local tx = 3 + 3 * n
for j = 0, m - 1 do
  if redis.call('EXISTS', ARGV[tx + 4 * j]) == 1 then return -(j + 1) end
end
for i = 0, n - 1 do
  local current = redis.call('HGET', KEYS[2], ARGV[2 + 3 * i]) or '0'
  if current ~= ARGV[3 + 3 * i] then return 0 end
end
for i = 0, n - 1 do
  redis.call('HSET', KEYS[1], ARGV[2 + 3 * i], ARGV[4 + 3 * i])
  redis.call('HINCRBY', KEYS[2], ARGV[2 + 3 * i], 1)
end
local ttl = ARGV[tx + 4 * m]
for j = 0, m - 1 do
  redis.call('SET', ARGV[tx + 4 * j], ARGV[tx + 4 * j + 1], 'EX', ttl)
  redis.call('RPUSH', ARGV[tx + 4 * j + 2], ARGV[tx + 4 * j + 3])
  redis.call('EXPIRE', ARGV[tx + 4 * j + 2], ttl)
end
if n > 0 then redis.call('PUBLISH', KEYS[3], ARGV[tx + 4 * m + 1]) end
return 1
"""

# A consistent read that sends only what the caller does not have. ARGV: 'all' or 'some', then
# pairs (pool_id, the version the caller holds or ''). Returns triples (pool_id, version,
# state), the state false when the caller's version is current. 'all': every pool that exists.
_SNAPSHOT_SCRIPT = """
local known, ids = {}, {}
for i = 2, #ARGV, 2 do
  known[ARGV[i]] = ARGV[i + 1]
  ids[#ids + 1] = ARGV[i]
end
if ARGV[1] == 'all' then ids = redis.call('HKEYS', KEYS[2]) end
local out = {}
for _, id in ipairs(ids) do
  local version = redis.call('HGET', KEYS[2], id)
  if version then
    out[#out + 1] = id
    out[#out + 1] = version
    if known[id] == version then
      out[#out + 1] = false
    else
      out[#out + 1] = redis.call('HGET', KEYS[1], id)
    end
  end
end
return out
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
    """Pools as one consistent read; shared between callers, so never modified."""

    pools: dict[str, Pool]
    versions: dict[str, str]


@dataclass(frozen=True, slots=True)
class TxWrite:
    """A transaction decided together with a commit: its record under `key`, and its
    signature appended to its order's ledger list."""

    key: str
    value: bytes
    ledger_key: str
    signature: str


class PoolStore:
    def __init__(self, redis: Redis, namespace: str) -> None:
        # The last state this process read of each pool, by version: a snapshot fetches and
        # decodes only the pools that changed since.
        self._cache: dict[str, tuple[str, Pool]] = {}
        self._redis = redis
        self._states = f"{namespace}:pools"
        self._versions = f"{namespace}:pools:version"
        self.price_channel = f"{namespace}:market"
        self._commit = redis.register_script(_COMMIT_SCRIPT)
        self._seed = redis.register_script(_SEED_SCRIPT)
        self._read = redis.register_script(_SNAPSHOT_SCRIPT)
        # Concurrent full reads (every order routes against all pools) share one round trip.
        self._read_all: Batcher[None, Snapshot] = Batcher("pool_reads", self._share_full_read)

    async def seed(self, seed: int) -> int:
        """Create the seeded pools that do not exist yet; return how many were created."""
        args: list[str | bytes] = []
        for pool_id, pool in seed_pools(seed).items():
            args += [pool_id, _encode(pool)]
        return int(await self._seed(keys=[self._states, self._versions], args=args))

    async def add(self, pool: Pool) -> bool:
        """Add a new pool (a launch); False if one with that id exists."""
        args: list[str | bytes] = [pool.pool_id, _encode(pool)]
        return bool(await self._seed(keys=[self._states, self._versions], args=args))

    async def snapshot(self, pool_ids: list[str] | None = None) -> Snapshot:
        """Every pool (or only `pool_ids`) as one consistent read, made after the call."""
        if pool_ids is None:
            return await self._read_all(None)
        return await self._fetch(pool_ids)

    async def _share_full_read(self, callers: list[None]) -> list[Snapshot]:
        snapshot = await self._fetch(None)
        return [snapshot] * len(callers)

    async def _fetch(self, pool_ids: list[str] | None) -> Snapshot:
        wanted = list(self._cache) if pool_ids is None else pool_ids
        args: list[str] = ["all" if pool_ids is None else "some"]
        for pool_id in wanted:
            cached = self._cache.get(pool_id)
            args += [pool_id, cached[0] if cached else ""]
        reply = await self._read(keys=[self._states, self._versions], args=args)
        pools: dict[str, Pool] = {}
        versions: dict[str, str] = {}
        for index in range(0, len(reply), 3):
            pool_id, version = reply[index].decode(), reply[index + 1].decode()
            state = reply[index + 2]
            if state is None:
                pool = self._cache[pool_id][1]
            else:
                pool = _decode_pool(state)
                self._cache[pool_id] = (version, pool)
            pools[pool_id], versions[pool_id] = pool, version
        return Snapshot(pools=pools, versions=versions)

    async def commit(
        self,
        snapshot: Snapshot,
        updates: Mapping[str, Pool],
        *,
        txs: Sequence[TxWrite] = (),
        tx_ttl_s: int = 0,
    ) -> int:
        """Write `updates` if none of their pools moved since `snapshot`, and record `txs` in
        the same atomic step (each expiring after `tx_ttl_s`). 1 written, 0 a pool moved,
        -i the i-th of `txs` (1-based) was already recorded; nothing is written unless 1."""
        args: list[str | bytes | int] = [len(updates)]
        for pool_id, pool in updates.items():
            args += [pool_id, snapshot.versions.get(pool_id, "0"), _encode(pool)]
        args.append(len(txs))
        for tx in txs:
            args += [tx.key, tx.value, tx.ledger_key, tx.signature]
        args += [tx_ttl_s, _encode(sorted(updates))]
        keys = [self._states, self._versions, self.price_channel]
        result = int(await self._commit(keys=keys, args=args))
        if result == 1:  # what this process wrote is the newest state: remember it
            for pool_id, pool in updates.items():
                version = int(snapshot.versions.get(pool_id, "0")) + 1
                self._cache[pool_id] = (str(version), pool)
        return result

    def last_known(self, pool_ids: Iterable[str]) -> Snapshot | None:
        """The pools as this process last read or wrote them, without a round trip; None if
        one was never seen. Possibly stale: only for a commit, whose version check catches
        that."""
        known = {pool_id: self._cache.get(pool_id) for pool_id in pool_ids}
        if any(entry is None for entry in known.values()):
            return None
        return Snapshot(
            pools={pool_id: entry[1] for pool_id, entry in known.items() if entry},
            versions={pool_id: entry[0] for pool_id, entry in known.items() if entry},
        )
