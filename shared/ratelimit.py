"""The per-client submit limit (SUBMIT_RATE_LIMIT_PER_MINUTE): GCRA in Redis with a burst of
a tenth of a minute's allowance, so a client may send a short burst but not a flood."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.exceptions import RedisError

# KEYS[1]: the client's key. ARGV: interval_ms, burst_ms. Returns 0 (allowed) or the ms to wait.
_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
if tat - now > burst then return math.ceil(tat - now - burst) end
redis.call('SET', KEYS[1], string.format('%.3f', tat + interval),
           'PX', math.ceil(tat - now + interval))
return 0
"""


class SubmitLimiter:
    def __init__(self, redis: Redis, namespace: str, per_minute: int) -> None:
        self.per_minute = per_minute
        self._prefix = f"{namespace}:submits:"
        self._interval_ms = 60_000 / per_minute if per_minute else 0.0
        self._burst_ms = self._interval_ms * max(0, per_minute // 10 - 1)
        self._check = redis.register_script(_SCRIPT)

    async def retry_after_s(self, client: str) -> int:
        """0 when the client may submit now, else the whole seconds to wait."""
        if not self.per_minute:
            return 0
        args = [self._interval_ms, self._burst_ms]
        try:
            wait_ms = int(await self._check(keys=[self._prefix + client], args=args))
        except (RedisError, OSError):
            return 0  # fail open: a Redis outage must not refuse orders PostgreSQL can store
        return 0 if wait_ms <= 0 else -(-wait_ms // 1000)
