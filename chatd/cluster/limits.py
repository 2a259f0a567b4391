"""Token buckets on Redis: the per-user and per-address limits of
``chatd.ratelimit`` and ``chatd.abuse``, held by all nodes together.

Our own Lua script rather than the ``limits`` library: chatd's limits are
token buckets (a rate and a burst, and "try again in N s" from the bucket's
level), which ``limits`` does not offer (fixed and moving windows), so the
numbers an operator sets would mean something else on a cluster; and one
take is from several buckets at once (the user's and the address's), all
or none. Redis's own clock (``TIME``) refills the buckets, so the nodes'
clocks need not agree.

The takes asked for during one pass of the event loop go to Redis together at
its end (``chatd.cluster.perpass``), in one script call (``BATCH_MAX`` at most),
which takes them one after the other in the order asked.

    buckets = SharedBuckets(shared)
    wait, which = await buckets.take([("user:7", 20, 40), ("message:203.0.113.9", 25, 150)])
    # (0.0, -1): taken from each; (1.5, 0): the first was empty, a token in 1.5 s;
    # None: Redis out (the caller takes from its own buckets instead)
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING

from chatd.cluster.perpass import PerPass

if TYPE_CHECKING:  # redis-py is an extra, imported only where a bus is configured (chatd.chat)
    from chatd.cluster.shared import SharedRedis

PREFIX = "chatd:bucket:"
MS = 1000
# Takes in one script call: Redis runs nothing else meanwhile (~2 µs a bucket), and a
# pass that asked for more sends several calls.
BATCH_MAX = 256

Buckets = list[tuple[str, float, float]]  # (key, rate per second, burst) of each bucket of one take
Answer = tuple[float, int] | None  # (seconds to wait, index of the empty bucket); None: Redis out

# KEYS: the buckets of every take, one take after the other. ARGV: the number of takes, then
# per take its number of buckets and per bucket its rate (tokens a second) and burst. A bucket
# is a hash {t: tokens, s: stamp in ms}, living until it would be full again (then it is a new
# one). → per take two numbers: 0, -1 when one token was taken from each of its buckets, else
# the ms until the emptiest has one and its index (0-based) among the take's buckets.
TAKE = """
local now_s = redis.call('TIME')
local now = now_s[1] * 1000 + now_s[2] / 1000
local answers, k, a = {}, 0, 2
for t = 1, tonumber(ARGV[1]) do
  local n = tonumber(ARGV[a])
  local have, wait, which = {}, 0, -1
  for i = 1, n do
    local rate, burst = tonumber(ARGV[a + 2 * i - 1]) / 1000, tonumber(ARGV[a + 2 * i])
    local state = redis.call('HMGET', KEYS[k + i], 't', 's')
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
    answers[2 * t - 1], answers[2 * t] = math.max(1, math.ceil(wait)), which
  else
    for i = 1, n do
      local rate, burst = tonumber(ARGV[a + 2 * i - 1]) / 1000, tonumber(ARGV[a + 2 * i])
      redis.call('HSET', KEYS[k + i], 't', tostring(have[i] - 1), 's', tostring(now))
      redis.call('PEXPIRE', KEYS[k + i], math.ceil((burst - have[i] + 1) / rate) + 1000)
    end
    answers[2 * t - 1], answers[2 * t] = 0, -1
  end
  k, a = k + n, a + 2 * n + 1
end
return answers
"""


class SharedBuckets:
    def __init__(self, shared: SharedRedis):
        self._shared = shared
        self._script = shared.redis.register_script(TAKE)
        self._takes: PerPass[Buckets, tuple[float, int]] = PerPass(self._send, BATCH_MAX)

    def take(self, buckets: Buckets) -> Awaitable[Answer]:
        """Take one token from each (key, rate per second, burst), or from none;
        awaitable: → (0.0, -1) when taken, (seconds until one is there, index of
        the empty bucket) when not, None when Redis is out (the caller decides).
        Sent with the other takes of this pass of the loop, at its end."""
        return self._takes.ask(buckets)

    async def _send(self, takes: list[Buckets]) -> list[tuple[float, int]] | None:
        """One script call for ``takes``: their answers in order, or None (Redis out)."""
        keys: list[str] = []
        args: list[float] = [len(takes)]
        for buckets in takes:
            args.append(len(buckets))
            for key, rate, burst in buckets:
                keys.append(PREFIX + key)
                args += [rate, burst]
        answer = await self._shared.run("taking rate-limit tokens", lambda client: self._script(
            keys=keys, args=args, client=client))
        if answer is None:
            return None
        return [(int(answer[2 * i]) / MS, int(answer[2 * i + 1])) for i in range(len(takes))]
