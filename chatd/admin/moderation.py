"""The moderation tab's endpoints (``chatd.moderation`` has the rules; each action writes its
audit row). For moderators and admins; banning an address, and deleting a private message, for
admins only.

    GET    /admin/api/moderation                 → {"mutes": [Mute], "bans": [Ban]} in force now
                                                   (address bans to admins only)
    POST   /admin/api/moderation/delete          {id, reason?}                       → {"message": {id, deleted}}
    POST   /admin/api/moderation/mutes           {user, room?, seconds?, reason?}    → {"mute": Mute, "kept": bool}
    DELETE /admin/api/moderation/mutes/{id}                                          → {"mute": Mute}
    POST   /admin/api/moderation/bans            {user | address, seconds?, reason?} → {"ban": Ban, "kept": bool}
    DELETE /admin/api/moderation/bans/{id}                                           → {"ban": Ban}
    POST   /admin/api/moderation/kick            {user, reason?}                     → {"sessions_here": n,
                                                                                        "other_nodes": bool}

Mute: ``{id, user: {id, name}, room: name | null (everywhere), until: ms | null, reason, created}``;
Ban: ``{id, user: {id, name} | null, address: network | null, until: ms | null (for good), reason,
created}``. A new mute or ban never shortens one in force (``chatd.store.moderation``): ``kept``
true says the one answered is the longer one that was in force, left as it was. Fields are
checked as the WebSocket's moderator requests check them (``seconds`` 1 to ten years, ``reason``
at most 200 characters; ``address`` an address or CIDR network, neither too wide nor holding the
address the request comes from: ``chatd.sanctions.checked_network``). Errors:
400 ``bad_frame`` naming the field, 403 ``forbidden``, 404 ``no_such_user`` / ``no_such_room`` /
``no_such_message`` / ``not_found``, 410 ``recipient_deleted`` (a mute or ban of a deleted user).
"""

from __future__ import annotations

from typing import Any

from chatd.admin.base import API, AdminError, AdminHandler
from chatd.admin.refusals import STATUS
from chatd.audit import ADMIN
from chatd.protocol.codes import ProtocolError
from chatd.protocol.fields import SCHEMAS
from chatd.protocol.requests import checked_fields
from chatd.store.moderation import Ban, Mute


# A ban names a user or an address (a string checked by chatd.sanctions.checked_network).
def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a string: an address or CIDR network")
    return value


BAN_FIELDS = {**SCHEMAS["ban"], "user": (SCHEMAS["ban"]["user"][0], False), "address": (_text, False)}


class ModerationHandler(AdminHandler):
    role = "moderator"

    def fields(self, kind: str, schema: dict[str, tuple[Any, bool]]) -> dict[str, Any]:
        """The body's fields as ``schema`` checks them; AdminError 400 naming an unknown or bad one."""
        body = self.body([name for name, (_, required) in schema.items() if required])
        unknown = sorted(set(body) - set(schema))
        if unknown:
            raise AdminError(400, "bad_frame", f"unknown field {unknown[0][:40]!r} for {kind}")
        try:
            return checked_fields(kind, schema, body)
        except ProtocolError as e:
            raise AdminError.of(400, e) from None

    async def act(self, action: Any) -> Any:
        """Await a ``chatd.moderation`` action; its refusals as AdminErrors."""
        try:
            return await action
        except ProtocolError as e:
            raise AdminError.of(STATUS.get(e.code, 400), e) from None  # bad_frame as it is: a field named

    async def shown(self, mutes: list[Mute], bans: list[Ban]) -> tuple[list[dict], list[dict]]:
        """Mutes and bans as the API shows them, with the users' names."""
        ids = {m.user_id for m in mutes} | {b.user_id for b in bans if b.user_id is not None}
        names = await self.chat.store.moderation.names(ids) if ids else {}
        rooms = self.chat.hub.rooms_by_id

        def user(uid: int) -> dict:
            return {"id": uid, "name": names.get(uid, "")}

        return ([{"id": m.id, "user": user(m.user_id),
                  "room": None if m.room_id is None else rooms[m.room_id].name if m.room_id in rooms else "",
                  "until": m.until, "reason": m.reason, "created": m.created} for m in mutes],
                [{"id": b.id, "user": user(b.user_id) if b.user_id is not None else None, "address": b.network,
                  "until": b.until, "reason": b.reason, "created": b.created} for b in bans])


class ListHandler(ModerationHandler):
    async def get(self) -> None:
        # Address bans are for admins only: the addresses are people's, and only admins ban or lift them.
        bans = [b for b in self.chat.moderation.bans() if b.network is None or self.actor.may(ADMIN)]
        mutes, bans = await self.shown(self.chat.moderation.mutes(), bans)
        self.reply({"mutes": mutes, "bans": bans})


class DeleteHandler(ModerationHandler):
    async def post(self) -> None:
        f = self.fields("delete", SCHEMAS["delete"])
        row = await self.act(self.chat.moderation.delete(self.actor, f["id"], f.get("reason", "")))
        self.reply({"message": {"id": row.id, "deleted": row.deleted}})


class MutesHandler(ModerationHandler):
    async def post(self) -> None:
        f = self.fields("mute", SCHEMAS["mute"])
        placed = await self.act(self.chat.moderation.mute(self.actor, f["user"], f.get("room"), f.get("seconds"),
                                                          f.get("reason", "")))
        self.reply({"mute": (await self.shown([placed.sanction], []))[0][0], "kept": placed.kept})


class MuteHandler(ModerationHandler):
    async def delete(self, mute_id: str) -> None:
        mute = await self.act(self.chat.moderation.unmute_id(self.actor, _id(mute_id)))
        if mute is None:
            raise AdminError(404, "not_found", f"there is no mute {mute_id} in force")
        self.reply({"mute": (await self.shown([mute], []))[0][0]})


class BansHandler(ModerationHandler):
    async def post(self) -> None:
        f = self.fields("ban", BAN_FIELDS)
        if ("user" in f) == ("address" in f):
            raise AdminError(400, "bad_frame", "a ban names exactly one of 'user' and 'address'")
        moderation, seconds, reason = self.chat.moderation, f.get("seconds"), f.get("reason", "")
        if "user" in f:
            placed = await self.act(moderation.ban_user(self.actor, f["user"], seconds, reason))
        else:
            placed = await self.act(moderation.ban_address(self.actor, f["address"], seconds, reason,
                                                           self.request.remote_ip))
        self.reply({"ban": (await self.shown([], [placed.sanction]))[1][0], "kept": placed.kept})


class BanHandler(ModerationHandler):
    async def delete(self, ban_id: str) -> None:
        ban = await self.act(self.chat.moderation.unban(self.actor, _id(ban_id)))
        if ban is None:
            raise AdminError(404, "not_found", f"there is no ban {ban_id} in force")
        self.reply({"ban": (await self.shown([], [ban]))[1][0]})


class KickHandler(ModerationHandler):
    async def post(self) -> None:
        f = self.fields("kick", SCHEMAS["kick"])
        ended = await self.act(self.chat.moderation.kick(self.actor, f["user"], f.get("reason", "")))
        # Sessions on other nodes (or workers) close there: the count is this node's, and the page says so.
        self.reply({"sessions_here": ended, "other_nodes": not self.chat.cluster.alone})


def _id(text: str) -> int:
    """An id from the URL (the route takes digits only); AdminError 404 when it is too large to be one."""
    if len(text) > 19 or int(text) > 2**63 - 1:
        raise AdminError(404, "not_found", "no such id")
    return int(text)


def routes() -> list[tuple[str, type]]:
    base = f"{API}/moderation"
    return [(base, ListHandler), (f"{base}/delete", DeleteHandler), (f"{base}/mutes", MutesHandler),
            (rf"{base}/mutes/([0-9]+)", MuteHandler), (f"{base}/bans", BansHandler),
            (rf"{base}/bans/([0-9]+)", BanHandler), (f"{base}/kick", KickHandler)]
