"""What the other nodes of a cluster have: their users online and who is in
which of their rooms, each node's as last heard. Pure: no I/O; clock readings
are the caller's (seconds).

A node tells the others what changes on it (``apply``: ops in publish order)
and, every ``cluster.heartbeat_interval``, its whole state (``replace``: a
snapshot), so that a node that joined late or missed ops converges by the next
heartbeat. A node silent for ``cluster.node_timeout`` is dropped (``expire``),
and so is one that says it stops (``drop``).

    peers = Peers(hub.elsewhere)
    changes = peers.apply("n2", [["online", 4, "bob", {"rank": "moderator"}, [1764745200123, "n2"]], ["join", 4, 7]],
                          now)
    changes = peers.replace("n2", {"users": [[4, "bob"]], "rooms": [[7, [4]]], "refs": [[4, {"rank": "moderator"}]],
                                   "stamps": [[4, 1764745200123, "n2"]]}, now)
    peers.ref(4)                                         # {"id": 4, "name": "bob", "rank": "moderator"}
    dropped, changes = peers.expire(now - node_timeout, now)
    peers.name_holder("Bob", None, now, hold_seconds)   # a Holder: bob is online on n2

Each call returns the ``Change``s of the union of the other nodes: a user
in a room on some other node where it was on none (``join``) or on none any
more (``leave``), online on some other node (``online``) or on none
(``offline``), under another name (``rename``), or with other ref fields
(``restyle``: see "Refs"). The caller merges these with its
own node (``chatd.cluster.node``).

**Rooms** are kept in ``elsewhere`` (room id → {user id: number of other
nodes where the user is in the room}), a mapping the caller shares with the
hub (``Hub.elsewhere``), so that a room's online count reads it directly.
The per-room dicts are made with ``setdefault`` and never replaced, so either
side may make one first.

**Names** of users online elsewhere are taken here as on the node itself
(``chatd.hub``'s rules): a user that went offline everywhere else leaves its
name held for it for ``hold_seconds``, as does a user renamed elsewhere.
Several users may be online with names alike (users the web app vouches for:
``chatd.hub``, "Names"); each holds the name against guests.

**Refs.** A user online elsewhere is named in frames as its own node names it
(``User.ref``: ``avatar``, ``bot``, ``rank`` besides id and name), so that a
member list or ``presence`` carries the same fields whichever node the user is
on (a moderator's page offers only what the server lets it do). Those fields
(``extra``) come with each ``online`` op, as its fourth element, and in a
snapshot's ``refs``, each with the stamp of the sign-in that gave them (the
op's fifth element; a snapshot's ``stamps``): the newest stamp's hold, and a
change of them is a ``restyle``, from an op or a snapshot (``chatd.cluster.refs``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from chatd.cluster.refs import NO_STAMP, Refs, Stamp, read_extra, read_stamp
from chatd.hub import Holder
from chatd.names import name_keys

JOIN, LEAVE, ONLINE, OFFLINE, RENAME, RESTYLE = "join", "leave", "online", "offline", "rename", "restyle"


class Change(NamedTuple):
    """One change of what the other nodes have, together."""

    kind: str  # JOIN, LEAVE (room_id set), ONLINE, OFFLINE, RENAME, RESTYLE
    user_id: int
    room_id: int | None = None
    name: str = ""  # the user's name (its new one for RENAME)
    extra: dict[str, Any] | None = None  # its ref's other fields (see the module), if any
    stamp: Stamp = NO_STAMP  # the stamp of the sign-in that gave them (ONLINE, RENAME, RESTYLE; see the module)

    def ref(self) -> dict[str, Any]:
        """The user as frames name it (``User.ref``'s fields)."""
        return {"id": self.user_id, "name": self.name, **(self.extra or {})}


@dataclass
class Node:
    heard: float  # clock reading of the last item from it
    users: dict[int, str] = field(default_factory=dict)  # online there: user id → name
    rooms: dict[int, set[int]] = field(default_factory=dict)  # room id → user ids in it there


class Peers:
    def __init__(self, elsewhere: dict[int, dict[int, int]]):
        self.nodes: dict[str, Node] = {}
        self.elsewhere = elsewhere  # room id → user id → other nodes where it is in the room (see module)
        self._online: dict[int, int] = {}  # user id → other nodes where it is online
        self._names: dict[int, str] = {}  # user id → its name, for users online elsewhere
        self._refs = Refs()  # the ref's other fields of users online elsewhere, and their stamps
        # Name key → user ids online elsewhere with that key (users the web app vouches for may share one).
        self._keys: dict[str, set[int]] = {}
        self._let_go: dict[str, Holder] = {}  # name key → who let it go and when, oldest first

    # Reading

    def name(self, user_id: int) -> str | None:
        """The name of a user online on another node, else None."""
        return self._names.get(user_id)

    def ref(self, user_id: int) -> dict[str, Any] | None:
        """A user online on another node as frames name it (see the module), else None."""
        name = self._names.get(user_id)
        return None if name is None else {"id": user_id, "name": name, **(self._refs.extra(user_id) or {})}

    def online_users(self) -> set[int]:
        """The users online on some other node."""
        return set(self._online)

    def nodes_online(self, user_id: int) -> int:
        """Other nodes where the user is online."""
        return self._online.get(user_id, 0)

    def name_holder(self, name: str, user_id: int | None, now: float, hold_seconds: float) -> Holder | None:
        """Who, on another node, keeps user ``user_id`` (None: a new user) from
        taking ``name``: a user online there whose name looks alike, or one who
        let such a name go less than ``hold_seconds`` before ``now``."""
        self._expire_names(now - hold_seconds)
        keys = name_keys(name)
        for key in keys:
            holder = next((uid for uid in self._keys.get(key, ()) if uid != user_id), None)
            if holder is not None:
                return Holder(holder, self._names[holder])
        for key in keys:
            held = self._let_go.get(key)
            if held is not None and held.user_id != user_id:
                return held
        return None

    # Hearing from nodes

    def heard(self, node: str, now: float) -> bool:
        """Note that ``node`` was heard at ``now``; → whether it was unknown (ask it for its state)."""
        known = self.nodes.get(node)
        if known is None:
            self.nodes[node] = Node(now)
            return True
        known.heard = now
        return False

    def apply(self, node: str, ops: list[list[Any]], now: float) -> list[Change]:
        """Ops of ``node``, in the order it made them: ``["online", user, name]``, or with
        ``extra`` and ``[ms, node id]``, its stamp, after ``name`` (also a rename; see "Refs"),
        ``["offline", user]``, ``["join", user, room]``, ``["leave", user, room]``.
        Malformed ops are the sender's bug: KeyError/ValueError."""
        self.heard(node, now)
        state, changes = self.nodes[node], []
        for op in ops:
            kind, user = op[0], int(op[1])
            if kind == ONLINE:
                told = (read_extra(user, op[3]) if len(op) > 3 else {}), read_stamp(op[4] if len(op) > 4 else None)
                self._online_told(state, user, str(op[2]), told, True, now, changes)
            elif kind == OFFLINE:
                self._offline_at(state, user, now, changes)
            elif kind == JOIN:
                self._join_at(state, user, int(op[2]), changes)
            elif kind == LEAVE:
                self._leave_at(state, user, int(op[2]), changes)
            else:
                raise ValueError(f"unknown op {kind!r}")
        return changes

    def replace(self, node: str, snapshot: dict[str, Any], now: float) -> list[Change]:
        """``node``'s whole state (``snapshot(...)`` of that node): → the changes
        from what was known of it (nothing, for a node heard first)."""
        self.heard(node, now)
        state, changes = self.nodes[node], []
        users = {int(u): str(n) for u, n in snapshot["users"]}
        rooms = {int(r): {int(u) for u in members} for r, members in snapshot["rooms"]}
        extras = {int(u): read_extra(int(u), extra) for u, extra in snapshot.get("refs", ())}
        stamps = {int(u): read_stamp([ms, stamp_node]) for u, ms, stamp_node in snapshot.get("stamps", ())}
        for room_id, members in list(state.rooms.items()):
            for user in members - rooms.get(room_id, set()):
                self._leave_at(state, user, room_id, changes)
        for user in state.users.keys() - users.keys():
            self._offline_at(state, user, now, changes)
        for user, name in users.items():
            self._online_told(state, user, name, (extras.get(user, {}), stamps.get(user, NO_STAMP)), False, now,
                              changes)
        for room_id, members in rooms.items():
            for user in members:
                self._join_at(state, user, room_id, changes)
        return changes

    def drop(self, node: str, now: float) -> list[Change]:
        """Forget ``node`` (it stopped, or went silent): its users leave."""
        if node not in self.nodes:
            return []
        changes = self.replace(node, {"users": [], "rooms": []}, now)
        del self.nodes[node]
        return changes

    def expire(self, before: float, now: float) -> tuple[list[str], list[Change]]:
        """Drop every node last heard at or before ``before``; → (their ids, changes)."""
        silent = [node for node, state in self.nodes.items() if state.heard <= before]
        return silent, [change for node in silent for change in self.drop(node, now)]

    def told(self, user: int, extra: dict[str, Any], stamp: Stamp) -> None:
        """The user, online elsewhere too, has these ref fields of sign-in ``stamp`` on the caller's node
        (signed in there, or newer there than here): kept if newer, as the other nodes will keep them
        (``chatd.cluster.node``)."""
        if user in self._names:
            self._refs.take(user, extra, stamp, said=False)

    def stamp(self, user: int) -> Stamp:
        """The newest stamp told of the user online elsewhere (NO_STAMP: none)."""
        return self._refs.stamp(user)

    # One node's changes, and the union they change

    def _online_told(self, state: Node, user: int, name: str, told: tuple[dict[str, Any], Stamp], said: bool,
                     now: float, changes: list[Change]) -> None:
        """The user is online on ``state``'s node as ``name``, with the ref fields and stamp ``told``
        (``said``: in an op; see "Refs")."""
        restyled, before = self._refs.take(user, *told, said=said), len(changes)
        self._online_at(state, user, name, now, changes)
        if restyled and len(changes) == before and user in self._names:  # no ONLINE or RENAME says it
            changes.append(self._change(RESTYLE, user, self._names[user]))

    def _change(self, kind: str, user: int, name: str) -> Change:
        """An ONLINE, RENAME or RESTYLE change: with the user's ref fields and their stamp."""
        return Change(kind, user, None, name, self._refs.extra(user), self._refs.stamp(user))

    def _online_at(self, state: Node, user: int, name: str, now: float, changes: list[Change]) -> None:
        known = state.users.get(user)
        if known == name:
            return
        state.users[user] = name
        if known is None:
            self._online[user] = self._online.get(user, 0) + 1
            if self._online[user] == 1:
                self._set_name(user, name, now)
                changes.append(self._change(ONLINE, user, name))
                return
        if self._names.get(user) != name:
            self._set_name(user, name, now)
            changes.append(self._change(RENAME, user, name))

    def _offline_at(self, state: Node, user: int, now: float, changes: list[Change]) -> None:
        for room_id, members in list(state.rooms.items()):
            if user in members:
                self._leave_at(state, user, room_id, changes)
        if state.users.pop(user, None) is None:
            return
        self._online[user] -= 1
        if self._online[user]:
            return
        del self._online[user]
        name = self._names.pop(user)
        self._release(user, name, now)
        changes.append(Change(OFFLINE, user, None, name, self._refs.forget(user)))

    def _join_at(self, state: Node, user: int, room_id: int, changes: list[Change]) -> None:
        members = state.rooms.setdefault(room_id, set())
        if user in members:
            return
        members.add(user)
        counts = self.elsewhere.setdefault(room_id, {})
        counts[user] = counts.get(user, 0) + 1
        if counts[user] == 1:
            changes.append(Change(JOIN, user, room_id, self._names.get(user, state.users.get(user, "")),
                                  self._refs.extra(user)))

    def _leave_at(self, state: Node, user: int, room_id: int, changes: list[Change]) -> None:
        members = state.rooms.get(room_id)
        if not members or user not in members:
            return
        members.discard(user)
        if not members:
            del state.rooms[room_id]
        counts = self.elsewhere[room_id]
        counts[user] -= 1
        if not counts[user]:
            del counts[user]
            changes.append(Change(LEAVE, user, room_id, self._names.get(user, state.users.get(user, "")),
                                  self._refs.extra(user)))

    # Names

    def _set_name(self, user: int, name: str, now: float) -> None:
        old = self._names.get(user)
        if old is not None:
            self._release(user, old, now)
        self._names[user] = name
        for key in name_keys(name):
            self._keys.setdefault(key, set()).add(user)
            if key in self._let_go and self._let_go[key].user_id == user:
                del self._let_go[key]  # a name this user let go, taken back

    def _release(self, user: int, name: str, now: float) -> None:
        """``user`` no longer has ``name`` anywhere else: it is held for it from ``now``."""
        for key in name_keys(name):
            holders = self._keys.get(key)
            if holders is not None and user in holders:
                holders.discard(user)
                if not holders:
                    del self._keys[key]
            self._let_go.pop(key, None)  # re-inserted at the end: the dict stays in time order
            self._let_go[key] = Holder(user, name, now)

    def _expire_names(self, before: float) -> None:
        while self._let_go:
            key, held = next(iter(self._let_go.items()))
            if held.left_at > before:
                return
            del self._let_go[key]


def snapshot(users: dict[int, str], rooms: dict[int, Any], extras: dict[int, dict] | None = None,
             stamps: dict[int, Stamp] | None = None) -> dict[str, Any]:
    """A node's state as ``Peers.replace`` takes it: ``users`` online (id →
    name), ``rooms`` (id → the user ids in it: any iterable), ``extras`` (id → its
    ref's other fields, for the users that have any: see "Refs"), ``stamps`` (id →
    the stamp of those fields, for the users stamped). Stamps go apart from ``refs``,
    which a node of an older version reads as pairs."""
    return {"users": [[u, n] for u, n in users.items()], "rooms": [[r, list(m)] for r, m in rooms.items() if m],
            "refs": [[u, extra] for u, extra in (extras or {}).items() if extra],
            "stamps": [[u, *stamp] for u, stamp in (stamps or {}).items() if stamp != NO_STAMP]}
