"""The users tab's endpoints (``chatd.usercare``): find a user, export its data, delete it.
Admins only; each export and deletion writes its audit row. A deleted user is found by
its id (kind "deleted"): deleting it again finishes a deletion that was cut off.

    GET    /admin/api/users?q=ID|NAME       → {"users": [{id, name, kind, online}]}
    GET    /admin/api/users/{id}/export     → the JSON export, streamed as a download
    DELETE /admin/api/users/{id}            {reason?} → {"deleted": id, "tombstones": n}
"""

from __future__ import annotations

from chatd.admin.base import API, AdminError, AdminHandler
from chatd.admin.refusals import refused
from chatd.client_refusals import no_such_user
from chatd.names import NAME_MAX
from chatd.protocol.codes import ProtocolError
from chatd.store import USER_ID_MAX

ID_DIGITS = len(str(USER_ID_MAX))


def _user_id(text: str) -> int:
    """The user id in a path (ASCII digits: the route's), 404 ``no_such_user`` outside 1..USER_ID_MAX
    (with the id as ``user`` when it has at most ID_DIGITS digits: a longer one is said in part)."""
    if len(text) > ID_DIGITS:  # int() refuses over 4300 digits
        raise AdminError(404, "no_such_user", f"there is no user {text[:40]}")
    if not 1 <= int(text) <= USER_ID_MAX:
        raise AdminError.of(404, no_such_user(int(text)))
    return int(text)


class UsersHandler(AdminHandler):
    async def get(self) -> None:
        ref = self.query(("q",)).get("q", "")
        if not ref or len(ref) > NAME_MAX * 4:
            raise AdminError(400, "bad_request", f"q must be a user id or a name (1-{NAME_MAX} characters)")
        found = await self.chat.user_care.find(ref)
        cluster = self.chat.cluster
        self.reply({"users": [{"id": uid, "name": name, "kind": kind, "online": cluster.name_of(uid) is not None}
                              for uid, name, kind in found]})


class ExportHandler(AdminHandler):
    async def get(self, user_id: str) -> None:
        uid = _user_id(user_id)
        if not await self.chat.user_care.find(str(uid)):
            raise AdminError.of(404, no_such_user(uid))
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.set_header("Content-Disposition", f'attachment; filename="chatd-user-{uid}.json"')
        async for piece in self.chat.user_care.export(self.actor, uid):
            self.write(piece.encode())
            await self.flush()  # a page at a time: never the whole export in memory
        self.finish()


class UserHandler(AdminHandler):
    async def delete(self, user_id: str) -> None:
        args = self.body()
        if set(args) - {"reason"} or not isinstance(args.get("reason", ""), str):
            raise AdminError(400, "bad_request", "the only field is reason, a string")
        uid = _user_id(user_id)
        try:
            made = await self.chat.user_care.delete(self.actor, uid, args.get("reason", ""))
        except ProtocolError as e:
            raise refused(e) from None
        self.reply({"deleted": uid, "tombstones": made})


def routes() -> list[tuple[str, type]]:
    # Any number of digits: one too large for an id is no user's (404), not an unknown endpoint.
    return [(rf"{API}/users", UsersHandler), (rf"{API}/users/([0-9]+)/export", ExportHandler),
            (rf"{API}/users/([0-9]+)", UserHandler)]
