"""A token bucket per client, kept in Redis so every API replica shares it.

One Lua script does read-refill-take atomically: no race between replicas, one round trip."""

from __future__ import annotations

import math
from dataclasses import dataclass

from redis.asyncio import Redis

# KEYS[1] bucket key; ARGV: capacity, refill per second, now (seconds, float), cost.
# Returns {allowed (0/1), tokens left (floor), seconds until one token is available (ceil)}.
_TAKE = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil then tokens = capacity; at = now end
if now > at then tokens = math.min(capacity, tokens + (now - at) * rate); at = now end
local allowed = 0
if tokens >= cost then tokens = tokens - cost; allowed = 1 end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(at))
redis.call('EXPIRE', KEYS[1], math.ceil(capacity / rate) + 60)
local wait = 0
if allowed == 0 then wait = math.ceil((cost - tokens) / rate) end
return {allowed, math.floor(tokens), wait}
"""


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    remaining: int
    retry_after_seconds: int


class RateLimiter:
    def __init__(
        self, redis: Redis, *, per_minute: int, burst: int, prefix: str = "hub:rate"
    ) -> None:
        self.redis = redis
        self.capacity = burst
        self.rate_per_second = per_minute / 60.0
        self.prefix = prefix
        self._script = redis.register_script(_TAKE)

    async def take(self, client_key: str, now: float, cost: int = 1) -> RateDecision:
        allowed, remaining, wait = await self._script(
            keys=[f"{self.prefix}:{client_key}"],
            args=[self.capacity, self.rate_per_second, f"{now:.6f}", cost],
        )
        return RateDecision(
            bool(allowed), int(remaining), max(1, math.ceil(wait)) if not allowed else 0
        )
