"""Token buckets on Redis: the per-user and per-address limits of
``chatd.ratelimit`` and ``chatd.abuse``, held by all nodes together.

Our own Lua script rather than the ``limits`` library: chatd's limits are
token buckets (a rate and a burst, and "try again in N s" from the bucket's
level), which ``limits`` does not offer (fixed and moving windows), so the
numbers an operator sets would mean something else on a cluster; and one
script takes from several buckets at once (the user's and the address's),
one round trip per message, all or none. Redis's own clock (``TIME``)
refills the buckets, so the nodes' clocks need not agree.

    buckets = SharedBuckets(shared)
    wait, which = await buckets.take([("user:7", 20, 40), ("message:203.0.113.9", 25, 150)])
    # (0.0, -1): taken from each; (1.5, 0): the first was empty, a token in 1.5 s;
    # None: Redis out (the caller takes from its own buckets instead)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # redis-py is an extra, imported only where a bus is configured (chatd.chat)
    from chatd.cluster.shared import SharedRedis

PREFIX = "chatd:bucket:"
MS = 1000

# KEYS: buckets; ARGV: per bucket its rate (tokens a second) and burst. A bucket is a hash
# {t: tokens, s: stamp in ms}, living until it would be full again (then it is a new one).
# → {0, -1} when one token was taken from each, else {ms until the emptiest has one, its index (0-based)}.
TAKE = """
local now_s = redis.call('TIME')
local now = now_s[1] * 1000 + now_s[2] / 1000
local have, wait, which = {}, 0, -1
for i, key in ipairs(KEYS) do
  local rate, burst = tonumber(ARGV[2 * i - 1]) / 1000, tonumber(ARGV[2 * i])
  local state = redis.call('HMGET', key, 't', 's')
  local tokens = burst
  if state[1] then
    tokens = math.min(burst, tonumber(state[1]) + math.max(0, now - tonumber(state[2])) * rate)
  end
  have[i] = tokens
  if tokens < 1 and (1 - tokens) / rate > wait then
    wait, which = (1 - tokens) / rate, i - 1
  end
end
if which >= 0 then
  return {math.max(1, math.ceil(wait)), which}
end
for i, key in ipairs(KEYS) do
  local rate, burst = tonumber(ARGV[2 * i - 1]) / 1000, tonumber(ARGV[2 * i])
  redis.call('HSET', key, 't', tostring(have[i] - 1), 's', tostring(now))
  redis.call('PEXPIRE', key, math.ceil((burst - have[i] + 1) / rate) + 1000)
end
return {0, -1}
"""


class SharedBuckets:
    def __init__(self, shared: SharedRedis):
        self._shared = shared
        self._script = shared.redis.register_script(TAKE)

    async def take(self, buckets: list[tuple[str, float, float]]) -> tuple[float, int] | None:
        """Take one token from each (key, rate per second, burst), or from none:
        → (0.0, -1) when taken, (seconds until one is there, index of the empty
        bucket) when not, None when Redis is out (the caller decides)."""
        args: list[float] = []
        for _, rate, burst in buckets:
            args += [rate, burst]
        answer = await self._shared.run("taking a rate-limit token", lambda client: self._script(
            keys=[PREFIX + key for key, _, _ in buckets], args=args, client=client))
        if answer is None:
            return None
        return int(answer[0]) / MS, int(answer[1])
