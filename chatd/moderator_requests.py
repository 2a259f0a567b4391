"""Moderators' requests over the WebSocket (docs/protocol.md, "Moderation"):
``mute``, ``unmute``, ``kick`` and ``ban``, each answered with
``{"type": "done", "cid": …}`` (with ``kept`` when a mute or ban left a longer
one in force) or an error frame (``delete``, which authors
may send too, is ``chatd.changes``'). The user acts as an
``Actor`` of kind "user" with the roles of its app token: ``forbidden`` to
anyone without "moderator" or "admin" (``chatd.moderation`` has the rules).

    requests = ModeratorRequests(moderation)
    chat._requests.update(requests.handlers())
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from chatd.audit import Actor, user_roles
from chatd.moderation import Moderation
from chatd.protocol.requests import Request
from chatd.replies import Connection, answer
from chatd.store.moderation import Placed

Handler = Callable[[Connection, Request], Awaitable[None]]


def actor_of(conn: Connection) -> Actor:
    """The identified user of ``conn`` as the actor of a moderation."""
    user = conn.session.user
    return Actor("user", user.id, user.name, user_roles(user.roles))


class ModeratorRequests:
    def __init__(self, moderation: Moderation):
        self.moderation = moderation

    def handlers(self) -> dict[str, Handler]:
        """Request type → handler, for ``chatd.chat.Chat``'s dispatch."""
        return {"mute": self._mute, "unmute": self._unmute, "kick": self._kick,
                "ban": self._ban}

    async def _mute(self, conn: Connection, req: Request) -> None:
        f = req.fields
        _done(conn, req, await self.moderation.mute(actor_of(conn), f["user"], f.get("room"), f.get("seconds"),
                                                    f.get("reason", "")))

    async def _unmute(self, conn: Connection, req: Request) -> None:
        await self.moderation.unmute(actor_of(conn), req.fields["user"], req.fields.get("room"))
        _done(conn, req)

    async def _kick(self, conn: Connection, req: Request) -> None:
        await self.moderation.kick(actor_of(conn), req.fields["user"], req.fields.get("reason", ""))
        _done(conn, req)

    async def _ban(self, conn: Connection, req: Request) -> None:
        f = req.fields
        _done(conn, req, await self.moderation.ban_user(actor_of(conn), f["user"], f.get("seconds"),
                                                        f.get("reason", "")))


def _done(conn: Connection, req: Request, placed: Placed | None = None) -> None:
    """Answer ``done``; for a mute or ban that left a longer one in force (``placed.kept``), with
    that one's end and reason: ``"kept": {"until": ms | null, "reason": …}`` (docs/protocol.md, "done")."""
    if conn.closed:
        return
    frame: dict = {"type": "done"}
    if placed is not None and placed.kept:
        frame["kept"] = {"until": placed.sanction.until, "reason": placed.sanction.reason}
    answer(conn, req, frame)
