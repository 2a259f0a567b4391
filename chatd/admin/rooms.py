"""The rooms tab's endpoints (``chatd.roomcare``, ``chatd.retention``): rooms with their
flags, creating, changing and deleting them, reserved names, and retention. Admins only;
each change writes its audit row.

    GET    /admin/api/rooms                 → {"rooms": [room], "retention_days": global days}
    POST   /admin/api/rooms                 {name, topic?, members_only?, archived?, announcement?} → 201 room
    PATCH  /admin/api/rooms/{name}          {topic?, archived?, announcement?, members_only?, retention_days?,
                                             reason?} → room (each change its own audit row)
    DELETE /admin/api/rooms/{name}          {reason?} → {"deleted": name}: its members are told (``left``)
    GET    /admin/api/names                 → {"names": [{id, pattern, scope, reason}]}
    POST   /admin/api/names                 {pattern, scope, reason?} → 201 {"id"}
    DELETE /admin/api/names/{id}            → {"released": id}
    GET    /admin/api/retention             → {"channels": [what would go], "messages": total}  (a dry run)
    POST   /admin/api/retention             → {"rooms", "private", "messages"}: what was purged

A room is ``{id, name, topic, online, members_only, archived, announcement, retention_days}``
(``retention_days`` null: the global ``history.retention_days``).
"""

from __future__ import annotations

from typing import Any

from chatd.admin.base import API, AdminError, AdminHandler
from chatd.admin.refusals import refused
from chatd.protocol.codes import ProtocolError
from chatd.roomcare import CHANGES
from chatd.session import Room

FLAGS = ("members_only", "archived", "announcement")


def _fields(args: dict[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(args) - set(allowed))
    if unknown:
        raise AdminError(400, "bad_request", f"unknown field {unknown[0][:40]!r}; fields are {', '.join(allowed)}")


def _text(args: dict[str, Any], name: str, default: str = "") -> str:
    value = args.get(name, default)
    if not isinstance(value, str):
        raise AdminError(400, "bad_request", f"{name!r} must be a string")
    return value


def _flag(args: dict[str, Any], name: str) -> bool:
    value = args.get(name, False)
    if not isinstance(value, bool):
        raise AdminError(400, "bad_request", f"{name!r} must be true or false")
    return value


class RoomsHandler(AdminHandler):
    async def get(self) -> None:
        store = self.chat.store
        days = dict(await store.read(lambda: store.db.execute_sql("SELECT id, retention_days FROM room").fetchall()))
        rooms = [shown(room, days.get(room.id)) for room in self.chat.hub.rooms.values()]
        self.reply({"rooms": rooms, "retention_days": self.chat.config.history.retention_days})

    async def post(self) -> None:
        args = self.body(("name",))
        _fields(args, ("name", "topic", *FLAGS))
        try:
            room = await self.chat.room_care.create(self.actor, _text(args, "name"), _text(args, "topic"),
                                                    **{flag: _flag(args, flag) for flag in FLAGS})
        except ProtocolError as e:
            raise refused(e) from None
        self.reply(shown(room, None), 201)


class RoomHandler(AdminHandler):
    path_part = "room"

    async def patch(self, name: str) -> None:
        args = self.body()
        _fields(args, (*CHANGES, "reason"))
        reason = _text(args, "reason")
        changes = [(change, args[change]) for change in CHANGES if change in args]
        if not changes:
            raise AdminError(400, "bad_request", f"say what to change: one of {', '.join(CHANGES)}")
        try:
            for change, value in changes:
                room = await self.chat.room_care.change(self.actor, name, change, value, reason)
        except ProtocolError as e:
            raise refused(e) from None
        days = await self.chat.store.read(lambda: self.chat.store.db.execute_sql(
            self.chat.store._q("SELECT retention_days FROM room WHERE id = ?"), (room.id,)).fetchone())
        self.reply(shown(room, days[0] if days else None))

    async def delete(self, name: str) -> None:
        args = self.body()
        _fields(args, ("reason",))
        try:
            await self.chat.room_care.delete(self.actor, name, _text(args, "reason"))
        except ProtocolError as e:
            raise refused(e) from None
        self.reply({"deleted": name})


class NamesHandler(AdminHandler):
    async def get(self) -> None:
        self.reply({"names": [e.shown() for e in await self.chat.store.reserved.load()]})

    async def post(self) -> None:
        args = self.body(("pattern", "scope"))
        _fields(args, ("pattern", "scope", "reason"))
        try:
            entry_id = await self.chat.room_care.reserve(self.actor, args.get("pattern"), args.get("scope"),
                                                         args.get("reason", ""))
        except ProtocolError as e:
            raise refused(e) from None
        self.reply({"id": entry_id}, 201)


class NameHandler(AdminHandler):
    async def delete(self, entry_id: str) -> None:
        try:
            await self.chat.room_care.release(self.actor, int(entry_id))
        except ProtocolError as e:
            raise AdminError(404, "not_found", e.message) from None
        self.reply({"released": int(entry_id)})


class RetentionHandler(AdminHandler):
    async def get(self) -> None:
        channels = await self.chat.retention.plan()
        self.reply({"channels": [c.shown() for c in channels], "messages": sum(c.count for c in channels),
                    "retention_days": self.chat.config.history.retention_days})

    async def post(self) -> None:
        self.reply(await self.chat.retention.purge(self.actor))


def shown(room: Room, retention_days: int | None) -> dict:
    """A room as the tab shows it."""
    return {"id": room.id, "name": room.name, "topic": room.topic, "online": room.online,
            "members_only": room.members_only, **room.flags(), "retention_days": retention_days}


def routes() -> list[tuple[str, type]]:
    return [(rf"{API}/rooms", RoomsHandler), (rf"{API}/rooms/([^/]+)", RoomHandler),
            (rf"{API}/names", NamesHandler), (rf"{API}/names/([0-9]{{1,18}})", NameHandler),
            (rf"{API}/retention", RetentionHandler)]
