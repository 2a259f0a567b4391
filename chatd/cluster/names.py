"""Names across nodes: claims on Redis, so that two nodes cannot let two
users take look-alike names at the same moment.

Each node knows the names online on the others from the bus
(``chatd.cluster.peers``), but only as fast as the bus carries them: two
``identify`` on two nodes within that moment would both pass. So the node
admitting a name claims its keys (``chatd.names.name_keys``) in one Lua
script, all or none: a key held by another user refuses, else every key is
set to "user id:name" with a time to live. Redis runs scripts one at a time,
so of two nodes claiming at once exactly one wins. Why a script rather than
``SET NX`` per key: a name has two keys, and a claim that got one of them
must not keep it. The claims of one pass of the event loop go in one call
(``chatd.cluster.perpass``), made one after the other in the order asked: a
connection storm's identifies cost a round trip per pass, not per client.

The time to live is the name's hold: while the user is online its node
renews it every ``RENEW_EVERY`` seconds to ``max(identity.name_hold_seconds,
ONLINE_KEEP)``; when the user goes (or renames) the keys are set to expire
``name_hold_seconds`` later. So a name stays held for its user after it
leaves — also when its node is killed, for at most the same time.

    claims = NameClaims(shared, lambda: store.epoch.id)   # claims of this database only
    holder = await claims.claim(user_id, "Mark", hold_seconds)   # None: ours now; else (user id, name, s left)
    await claims.keep([(user_id, "Mark")], seconds)              # renew (online), or start the hold (gone)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from chatd.cluster.perpass import PerPass
from chatd.names import name_keys

if TYPE_CHECKING:  # redis-py is an extra, imported only where a bus is configured (chatd.chat)
    from chatd.cluster.shared import SharedRedis

PREFIX = "chatd:name:"
RENEW_EVERY = 30.0  # seconds between renewals of the names online on a node
ONLINE_KEEP = 3 * RENEW_EVERY  # seconds a name online lives at least: two renewals may fail
MS = 1000

# KEYS: the keys of every claim, one claim after the other. ARGV: the number of claims, then per
# claim its number of keys, the user id, the name, milliseconds to live, and "vouched" to take the
# keys whoever holds them (a user the web app vouches for: chatd.hub, "Names").
# → per claim two values: "", 0 when the keys are the user's now, else "user id:name" of the
# holder and its milliseconds to live.
CLAIM = """
local answers, k, a = {}, 0, 2
for c = 1, tonumber(ARGV[1]) do
  local n, user, name, ttl, vouched = tonumber(ARGV[a]), ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4]
  local held, left = '', 0
  for i = 1, n do
    local holder = redis.call('GET', KEYS[k + i])
    if holder and vouched ~= 'vouched' and string.match(holder, '^(%d+):') ~= user then
      held, left = holder, redis.call('PTTL', KEYS[k + i])
      break
    end
  end
  if held == '' then
    for i = 1, n do
      redis.call('SET', KEYS[k + i], user .. ':' .. name, 'PX', ttl)
    end
  end
  answers[2 * c - 1], answers[2 * c] = held, left
  k, a = k + n, a + 5
end
return answers
"""
CLAIMS_MAX = 256  # claims in one script call

Ask = tuple[int, str, float, bool]  # (user id, name, seconds, vouched)


class Claim(NamedTuple):
    """Who holds a name that looks like one asked for, and for how long still."""

    user_id: int
    name: str
    seconds_left: float


class NameClaims:
    def __init__(self, shared: SharedRedis, database: Callable[[], str]):
        """``database``: the epoch id of the database the names are of (``chatd.epoch``): a
        database made anew, or restored, against the same Redis does not find the names
        held for the users of the one before it (a black-box tester's new database was
        refused names held for the old one's users)."""
        self._shared = shared
        self._database = database
        self._script = shared.redis.register_script(CLAIM)
        self._claims: PerPass[Ask, Claim | None] = PerPass(self._send, CLAIMS_MAX)

    async def claim(self, user_id: int, name: str, seconds: float, vouched: bool = False) -> Claim | None:
        """Claim ``name`` for ``user_id`` for ``seconds``: None when it is the
        user's now (or Redis is out: the caller's own checks stand), else who holds it.
        ``vouched``: the user's name is the web app's word, taken whoever holds it: it
        then holds against guests on every node (a user vouched for, holding it before,
        is not refused either: such users may share a name)."""
        return await self._claims.ask((user_id, name, seconds, vouched))

    async def _send(self, claims: list[Ask]) -> list[Claim | None] | None:
        """One script call for ``claims``: per claim None (the user's now) or its holder; None if Redis is out."""
        keys: list[str] = []
        args: list[str | int] = [len(claims)]
        for user_id, name, seconds, vouched in claims:
            name_keys_ = self._keys(name)
            keys += name_keys_
            args += [len(name_keys_), user_id, name, _ms(seconds), "vouched" if vouched else ""]
        answer = await self._shared.run("claiming names", lambda client: self._script(
            keys=keys, args=args, client=client))
        if answer is None:
            return None
        return [_claim(answer[2 * i], answer[2 * i + 1]) for i in range(len(claims))]

    def _keys(self, name: str) -> list[str]:
        prefix = f"{PREFIX}{self._database()}:"
        return sorted(prefix + key for key in name_keys(name))

    async def keep(self, names: list[tuple[int, str]], seconds: float) -> None:
        """Set each (user id, name) to live ``seconds`` from now, if still that user's: a
        claim whose answer is not needed, in order with the claims of the same pass."""
        await asyncio.gather(*(self._claims.ask((user_id, name, seconds, False)) for user_id, name in names))


def _claim(held: bytes, left: int) -> Claim | None:
    if not held:
        return None
    owner, _, holder_name = held.decode().partition(":")
    return Claim(int(owner), holder_name, max(0, int(left)) / MS)


def online_keep(hold_seconds: float) -> float:
    """Seconds a name online lives between renewals (see the module)."""
    return max(hold_seconds, ONLINE_KEEP)


def _ms(seconds: float) -> int:
    return max(1, round(seconds * MS))  # PX 0 is an error; 1 ms is "at once"
