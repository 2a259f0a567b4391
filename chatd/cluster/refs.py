"""Which sign-in names a user on every node of a cluster: its ref fields
(``User.extra``: ``avatar``, ``bot``, ``rank``) and the stamp of the sign-in that
gave them. Pure: clock readings are the caller's.

Each sign-in is stamped (``next_stamp``): ``(ms, node id)``, ms the wall clock's
but at least one above the newest stamp the node knows for the user, so that a
sign-in made after a node heard of another wins over it whatever the clocks
say; equal ms go to the greater node id. A user's ``online`` op and its node's
heartbeat snapshots carry the stamp with the fields (``chatd.cluster.peers``);
each node keeps, per user online on the others, the fields of the newest stamp
any of them told (``Refs``), and a user online there too takes them
(``chatd.cluster.node``). So every node ends with the same fields: after a lost
op, at the next heartbeat; after sign-ins at once on two nodes, the newer
stamp's. An older stamp changes nothing, so a snapshot never undoes a newer
sign-in, and two nodes never tell each other their fields in turn.

A node of an older version stamps nothing (``NO_STAMP``): what it tells never
overrides a stamp; among unstamped fields the last told holds, said
(``RESTYLE``) only when an op told it, as before stamps. Clients never see a
stamp (``User.ref`` has none).

    refs = Refs()
    refs.take(4, {"rank": "moderator"}, (1764745200123, "n1"), said=True)  # True: say it (a RESTYLE)
    refs.take(4, {}, (1764745200001, "n2"), said=True)                     # False: older, ignored
    next_stamp(wall_ms, refs.stamp(4), "n2")                               # (1764745200124, "n2") or later
"""

from __future__ import annotations

from typing import Any

Stamp = tuple[int, str]  # (ms since the epoch, at least; the id of the node where the sign-in was made)
NO_STAMP: Stamp = (0, "")  # none: a node of an older version, or a single process (nobody to tell)


def next_stamp(wall_ms: int, newest: Stamp, node: str) -> Stamp:
    """The stamp of a sign-in made on ``node`` at ``wall_ms`` (ms since the epoch) of a user whose
    newest stamp this node knows is ``newest``: newer than it, whatever the clocks say."""
    return max(wall_ms, newest[0] + 1), node


def read_stamp(raw: Any) -> Stamp:
    """A stamp as ops and snapshots carry it, ``[ms, node]`` (None: none, a node of an older
    version). TypeError or ValueError when malformed: the sender's bug."""
    if raw is None:
        return NO_STAMP
    ms, node = raw
    if type(ms) is not int or ms < 0 or not isinstance(node, str):
        raise TypeError(f"a stamp is [ms, node id], not {raw!r}")
    return ms, node


def read_extra(user: int, raw: Any) -> dict[str, Any]:
    """A user's ref fields as a node tells them (None or {}: none). TypeError when no object."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise TypeError(f"the ref fields of user {user} are no object")
    return raw


class Refs:
    """Per user, the ref fields of the newest stamp told (see the module) and that stamp."""

    def __init__(self) -> None:
        self._extras: dict[int, dict[str, Any]] = {}  # user id → its fields, when it has any
        self._stamps: dict[int, Stamp] = {}  # user id → their stamp, when stamped

    def extra(self, user: int) -> dict[str, Any] | None:
        """The user's fields (None: none)."""
        return self._extras.get(user)

    def stamp(self, user: int) -> Stamp:
        """The stamp of the user's fields (NO_STAMP: none known)."""
        return self._stamps.get(user, NO_STAMP)

    def take(self, user: int, extra: dict[str, Any], stamp: Stamp, said: bool) -> bool:
        """A node tells the user's fields ``extra`` ({}: none) of sign-in ``stamp``; ``said``:
        in an op (a snapshot says nothing of unstamped fields: see the module). They are kept
        when newer than those known. → whether they changed the fields, to be said (RESTYLE)."""
        known = self._stamps.get(user, NO_STAMP)
        if stamp < known or (stamp == known and stamp != NO_STAMP):
            return False  # older; or the same sign-in, told again
        if stamp != NO_STAMP:
            self._stamps[user] = stamp
        if extra == self._extras.get(user, {}):
            return False
        if extra:
            self._extras[user] = extra
        else:
            self._extras.pop(user, None)
        return said or stamp != NO_STAMP

    def forget(self, user: int) -> dict[str, Any] | None:
        """The user is online on no other node: nothing kept of it. → its fields (None: none)."""
        self._stamps.pop(user, None)
        return self._extras.pop(user, None)


def online_op(user_id: int, name: str, extra: dict[str, Any], stamp: Stamp) -> list[Any]:
    """The ``online`` op of a user (``Peers.apply``): its fields and stamp last, when it has them."""
    if stamp != NO_STAMP:
        return ["online", user_id, name, extra, list(stamp)]
    return ["online", user_id, name, extra] if extra else ["online", user_id, name]
