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
must not keep it.

The time to live is the name's hold: while the user is online its node
renews it every ``RENEW_EVERY`` seconds to ``max(identity.name_hold_seconds,
ONLINE_KEEP)``; when the user goes (or renames) the keys are set to expire
``name_hold_seconds`` later. So a name stays held for its user after it
leaves — also when its node is killed, for at most the same time.

    claims = NameClaims(shared)
    holder = await claims.claim(user_id, "Mark", hold_seconds)   # None: ours now; else (user id, name, s left)
    await claims.keep([(user_id, "Mark")], seconds)              # renew (online), or start the hold (gone)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from chatd.names import name_keys

if TYPE_CHECKING:  # redis-py is an extra, imported only where a bus is configured (chatd.chat)
    from chatd.cluster.shared import SharedRedis

PREFIX = "chatd:name:"
RENEW_EVERY = 30.0  # seconds between renewals of the names online on a node
ONLINE_KEEP = 3 * RENEW_EVERY  # seconds a name online lives at least: two renewals may fail
MS = 1000

# KEYS: the name's keys; ARGV: user id, name, milliseconds to live, and "vouched" to take the keys
# whoever holds them (a user the web app vouches for: chatd.hub, "Names").
# → nil when the keys are the user's now, else {"user id:name" of the holder, its milliseconds to live}.
CLAIM = """
for _, key in ipairs(KEYS) do
  local held = redis.call('GET', key)
  if held and ARGV[4] ~= 'vouched' and string.match(held, '^(%d+):') ~= ARGV[1] then
    return {held, redis.call('PTTL', key)}
  end
end
for _, key in ipairs(KEYS) do
  redis.call('SET', key, ARGV[1] .. ':' .. ARGV[2], 'PX', ARGV[3])
end
return false
"""


class Claim(NamedTuple):
    """Who holds a name that looks like one asked for, and for how long still."""

    user_id: int
    name: str
    seconds_left: float


class NameClaims:
    def __init__(self, shared: SharedRedis):
        self._shared = shared
        self._script = shared.redis.register_script(CLAIM)

    async def claim(self, user_id: int, name: str, seconds: float, vouched: bool = False) -> Claim | None:
        """Claim ``name`` for ``user_id`` for ``seconds``: None when it is the
        user's now (or Redis is out: the caller's own checks stand), else who holds it.
        ``vouched``: the user's name is the web app's word, taken whoever holds it: it
        then holds against guests on every node (a user vouched for, holding it before,
        is not refused either: such users may share a name)."""
        held = await self._shared.run("claiming a name", lambda client: self._script(
            keys=_keys(name), args=[user_id, name, _ms(seconds), "vouched" if vouched else ""], client=client))
        if not held:
            return None
        owner, _, holder_name = held[0].decode().partition(":")
        return Claim(int(owner), holder_name, max(0, int(held[1])) / MS)

    async def keep(self, names: list[tuple[int, str]], seconds: float) -> None:
        """Set each (user id, name) to live ``seconds`` from now, if still that user's."""
        if not names:
            return

        async def renew(client) -> None:
            async with client.pipeline(transaction=False) as pipe:
                for user_id, name in names:
                    await self._script(keys=_keys(name), args=[user_id, name, _ms(seconds), ""], client=pipe)
                await pipe.execute()

        await self._shared.run("renewing names", renew)


def online_keep(hold_seconds: float) -> float:
    """Seconds a name online lives between renewals (see the module)."""
    return max(hold_seconds, ONLINE_KEEP)


def _keys(name: str) -> list[str]:
    return sorted(PREFIX + key for key in name_keys(name))


def _ms(seconds: float) -> int:
    return max(1, round(seconds * MS))  # PX 0 is an error; 1 ms is "at once"
