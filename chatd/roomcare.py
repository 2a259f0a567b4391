"""What an admin does to rooms and names (the admin page; docs/operations.md,
"Rooms" and "Names"): each action carried out on every node, with its audit row
committed with it (``chatd.audit``).

**Archived** rooms are read-only: ``say`` (and the HTTP API's post) is refused
with ``room_archived``; joining and reading history still work. **Announcement**
rooms take ``say`` only from users whose roles hold "moderator" or "admin"
(others get ``moderators_only``); the web app (HTTP API) posts there as ever.
Room entries, ``joined`` and ``room`` events carry the flags (``chatd.session.Room``).
Changes reach every node through the room notices (``chatd.cluster.node``), and a
node that lost one gets it with the next resync of the rooms.

A room's **retention** (``retention_days``) overrides ``history.retention_days``:
a number of days, 0 (kept for ever), or ``RETENTION_GLOBAL`` (back to the global).

    care = RoomCare(chat)
    await care.create(actor, "news", topic="", announcement=True)
    await care.change(actor, "news", "archived", True)          # one change, one audit row
    await care.delete(actor, "news", reason="spam")
    entry_id = await care.reserve(actor, "admin", "any", "staff only")
    await care.release(actor, entry_id)
"""

from __future__ import annotations

import logging
from typing import Any

from chatd.audit import Actor, entry
from chatd.names import Problem
from chatd.protocol.codes import Code, ProtocolError
from chatd.reserved import REASON_MAX, pattern_problem, scope_problem
from chatd.session import Room
from chatd.store.members import RETENTION_GLOBAL
from chatd.store.reserved import NameExists

log = logging.getLogger("chatd.rooms")

RETENTION_MAX = 36500  # days, as history.retention_days allows
# What an admin may change on a room → (the audit action for a value, the check of the value).
CHANGES = ("topic", "archived", "announcement", "members_only", "retention_days")


def room_target(name: str) -> str:
    return f"room:{name}"


def _action(change: str, value: Any) -> str:
    """The audit action of one change (``chatd.audit.ACTIONS``)."""
    if change == "archived":
        return "room.archive" if value else "room.unarchive"
    return {"topic": "room.topic", "announcement": "room.announce", "members_only": "room.members_only",
            "retention_days": "room.retention"}[change]


def checked_change(change: object, value: object) -> tuple[str, Any]:
    """(change, value) if an admin may make it, else ProtocolError ``bad_frame`` saying why."""
    if change not in CHANGES:
        raise ProtocolError(Code.BAD_FRAME, f"a room change is one of {', '.join(CHANGES)}")
    if change == "topic":
        if not isinstance(value, str):
            raise ProtocolError(Code.BAD_FRAME, "topic must be a string")
    elif change == "retention_days":
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or not 0 <= value <= RETENTION_MAX):
            raise ProtocolError(Code.BAD_FRAME, f"retention_days must be a whole number of days from 0 (kept for "
                                                f"ever) to {RETENTION_MAX}, or null (history.retention_days)")
        value = RETENTION_GLOBAL if value is None else value
    elif not isinstance(value, bool):
        raise ProtocolError(Code.BAD_FRAME, f"{change} must be true or false")
    return str(change), value


class RoomCare:
    def __init__(self, chat: Any):
        """``chat``: the ``chatd.chat.Chat`` (its rooms, room admin, reserved names and store)."""
        self.chat = chat
        self.store = chat.store
        chat.cluster.reload_names = self.reload_names

    async def create(self, actor: Actor, name: str, topic: str = "", members_only: bool = False,
                     archived: bool = False, announcement: bool = False) -> Room:
        """Create a room (its name may be a reserved one: admins reserve them); then its flags."""
        room = await self.chat.room_admin.create(name, topic, members_only)
        await self.store.audit.add(entry(actor, "room.create", room_target(room.name),
                                         detail={"topic": room.topic, "members_only": members_only}))
        for flag, on in (("archived", archived), ("announcement", announcement)):
            if on:
                room = await self.change(actor, room.name, flag, True)
        return room

    async def change(self, actor: Actor, name: str, change: str, value: Any, reason: str = "") -> Room:
        """Make one change (``CHANGES``) to the room, everywhere, with its audit row."""
        change, value = checked_change(change, value)
        detail = {change: None if value == RETENTION_GLOBAL and change == "retention_days" else value}

        def audit(room: Room) -> dict:
            return entry(actor, _action(change, value), room_target(room.name), reason, detail)

        fields: dict[str, Any] = {change: value}
        room = await self.chat.room_admin.update(name, fields.pop("topic", None), fields.pop("members_only", None),
                                                 audit=audit, **fields)
        log.info("room %r: %s set to %r by %s", room.name, change, detail[change], actor.describe())
        return room

    async def delete(self, actor: Actor, name: str, reason: str = "") -> None:
        """Delete the room with its messages everywhere: those in it get ``left`` (reason ``deleted``)."""
        await self.chat.room_admin.delete(name, audit=lambda room: entry(actor, "room.delete",
                                                                         room_target(room.name), reason))

    # Reserved names

    async def reserve(self, actor: Actor, pattern: object, scope: object, reason: object = "") -> int:
        """Add a reserved name or pattern (``chatd.reserved``), in effect on every node at once;
        → its id. ProtocolError ``bad_name`` (with the ``pattern`` and, for a string, its
        ``Problem``'s fields) or ``bad_frame`` saying what is wrong; ``name_reserved`` (with the
        ``pattern`` and the entry ``listed`` as the operator wrote it) for a pattern listed already."""
        problem = pattern_problem(pattern)
        if problem:
            fields = {**problem.fields, "pattern": pattern} if isinstance(problem, Problem) else None
            raise ProtocolError(Code.BAD_NAME, f"the pattern {problem}", details=fields)
        problem = scope_problem(scope)
        if problem:
            raise ProtocolError(Code.BAD_FRAME, problem)
        if not isinstance(reason, str) or len(reason) > REASON_MAX:
            raise ProtocolError(Code.BAD_FRAME, f"the reason must be text of at most {REASON_MAX} characters")
        row = entry(actor, "name.reserve", f"name:{pattern}", reason, {"scope": scope})
        try:
            entry_id = await self.store.reserved.add(pattern, scope, reason, row)
        except NameExists as e:
            listed = "" if e.args[0] == pattern else f" as {e.args[0]!r} (names are compared whatever their case)"
            raise ProtocolError(Code.NAME_RESERVED, f"{pattern!r} is in the list already{listed}",
                                details={"pattern": pattern, "listed": e.args[0]}) from None
        await self._changed()
        return entry_id

    async def release(self, actor: Actor, entry_id: int) -> None:
        """Remove a reserved name, everywhere; ProtocolError ``bad_frame`` if no entry has the id."""
        gone = await self.store.reserved.remove(
            entry_id, lambda held: entry(actor, "name.release", f"name:{held.pattern}", detail={"scope": held.scope}))
        if gone is None:
            raise ProtocolError(Code.BAD_FRAME, f"there is no reserved name with id {entry_id}")
        await self._changed()

    async def _changed(self) -> None:
        self.chat.reserved.replace(await self.store.reserved.load())
        self.chat.cluster.names_changed()

    async def reload_names(self) -> None:
        """Read the reserved names again (another node changed them, or notices were lost);
        raises what the read raises (chatd.cluster.rereads tries again)."""
        self.chat.reserved.replace(await self.store.reserved.load())
