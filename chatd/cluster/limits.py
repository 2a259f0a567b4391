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
its end, in one script call (``BATCH_MAX`` at most), which takes them one
after the other in the order asked: one round trip per pass rather than one
per message (profiled: 500 rooms x 10 on one node with a Redis bus, each
message's own EVALSHA was ~15 % of the node's CPU).

    buckets = SharedBuckets(shared)
    wait, which = await buckets.take([("user:7", 20, 40), ("message:203.0.113.9", 25, 150)])
    # (0.0, -1): taken from each; (1.5, 0): the first was empty, a token in 1.5 s;
    # None: Redis out (the caller takes from its own buckets instead)
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

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
        self._asked: list[tuple[Buckets, asyncio.Future]] = []  # this pass's takes, sent at its end
        self._calls: set[asyncio.Task] = set()  # under way (the loop keeps only weak references to tasks)

    def take(self, buckets: Buckets) -> asyncio.Future:
        """Take one token from each (key, rate per second, burst), or from none;
        awaitable: → (0.0, -1) when taken, (seconds until one is there, index of
        the empty bucket) when not, None when Redis is out (the caller decides).
        Sent with the other takes of this pass of the loop, at its end."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._asked.append((buckets, future))
        if len(self._asked) == 1:
            loop.call_soon(self._send)
        return future

    def _send(self) -> None:
        asked, self._asked = self._asked, []
        for start in range(0, len(asked), BATCH_MAX):
            call = asyncio.ensure_future(self._call(asked[start:start + BATCH_MAX]))
            self._calls.add(call)
            call.add_done_callback(self._calls.discard)

    async def _call(self, takes: list[tuple[Buckets, asyncio.Future]]) -> None:
        """One script call for ``takes``; each future gets its take's answer (None: Redis out)."""
        keys: list[str] = []
        args: list[float] = [len(takes)]
        for buckets, _ in takes:
            args.append(len(buckets))
            for key, rate, burst in buckets:
                keys.append(PREFIX + key)
                args += [rate, burst]
        try:
            answer = await self._shared.run("taking rate-limit tokens", lambda client: self._script(
                keys=keys, args=args, client=client))
        except asyncio.CancelledError:  # the loop is closing
            for _, future in takes:
                future.cancel()
            raise
        except Exception as e:  # not Redis's failure (run answers None for those): each asker gets it
            for _, future in takes:
                if not future.done():
                    future.set_exception(e)
            return
        for i, (_, future) in enumerate(takes):
            if not future.done():  # its asker may have gone (a connection closed meanwhile)
                future.set_result(None if answer is None else (int(answer[2 * i]) / MS, int(answer[2 * i + 1])))
