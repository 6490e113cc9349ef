"""The engine's two rate limits, both GCRA in Redis (Redis's clock, so every process agrees):

- SubmitLimiter: submits per client (SUBMIT_RATE_LIMIT_PER_MINUTE), with a burst of a tenth
  of a minute's allowance, so a client may send a short burst but not a flood;
- StartLimiter: order starts per minute across every worker (QUEUE_RATE_LIMIT_PER_MINUTE),
  with a burst of 1: starts are spaced evenly.
"""

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


# GCRA: one key holds the theoretical arrival time of the next permitted start. Each call
# reserves the next slot and returns how long to wait for it, using Redis's clock so that
# every worker process agrees. A burst of 1: starts are spaced evenly, never bunched.
_RESERVE_SCRIPT = """
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval_ms = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now_ms then tat = now_ms end
local wait_ms = tat - now_ms
-- %.3f keeps sub-millisecond intervals exact (Lua's default number format would round).
redis.call('SET', KEYS[1], string.format('%.3f', tat + interval_ms),
           'PX', math.ceil(wait_ms + interval_ms) + 1000)
return math.ceil(wait_ms)
"""


class StartLimiter:
    """A global limit on order starts per minute, shared by every worker process."""

    def __init__(self, redis: Redis, namespace: str, per_minute: int) -> None:
        self.per_minute = per_minute
        self._key = f"{namespace}:ratelimit:orders"
        self._interval_ms = 60_000 / per_minute if per_minute else 0.0
        self._reserve = redis.register_script(_RESERVE_SCRIPT)

    async def reserve_ms(self) -> int:
        """Reserve the next start; return the milliseconds to wait for it (0 when unlimited)."""
        if not self.per_minute:
            return 0
        return int(await self._reserve(keys=[self._key], args=[self._interval_ms]))
