"""The chat log tab's endpoints: every message, filtered, a keyset page at a time, and its export.

    GET /admin/api/log?room=NAME&user=ID|NAME&since=MS&until=MS&q=TEXT&before=ID&limit=N
    → {"messages": [message], "more": bool, "private": bool}
    GET /admin/api/log/export?format=csv|jsonl&(the same filters)   → the whole filtered set, streamed

A message is ``{"id", "ts", "room" | null, "from": {"id", "name"}, "to": {"id", "name"} | null,
"text", "deleted": bool}``, newest first; ``before`` is the last id of the page before. Each page
is one walk down an index from ``before`` (``chatd.store.search``), so the thousandth page costs
what the first does. ``q`` searches the text with the search index.

Who reads what (``scope``): a moderator what they may read as a moderator — open rooms and the
members-only rooms they are a member of (another members-only room is, to them, no room at all),
never a private message; an admin every room, and private messages when ``admin.read_private``
(off by default). ``private``: whether this reader is shown private messages.

The export writes EXPORT_CHUNK messages at a time and flushes each chunk before reading the next,
so memory stays bounded however many rows match. CSV cells that a spreadsheet would run as a
formula are prefixed with a quote (OWASP, "CSV injection"). Moderators may read the log and search
it (in their scope); the export is for admins.
"""

from __future__ import annotations

import csv
import io
import json
import time
from typing import Any

from tornado.iostream import StreamClosedError

from chatd.admin.base import API, AdminError, AdminHandler, whole_number
from chatd.audit import ADMIN
from chatd.fulltext import QUERY_MAX
from chatd.protocol.codes import MAX_ID
from chatd.store import MessageRow
from chatd.store.search import Filters, Scope

PAGE_DEFAULT = 50
PAGE_MAX = 200
EXPORT_CHUNK = 1000  # messages read, written and flushed at a time
USERS_PER_NAME = 100  # users one name may stand for (guests' names are not unique over time)
NAME_ARG_MAX = 200
FILTERS = ("room", "user", "since", "until", "q")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what makes a spreadsheet cell a formula
CSV_COLUMNS = ("id", "time_utc", "ts", "room", "from_id", "from", "to_id", "to", "text", "deleted")
FORMATS = {"csv": ("text/csv; charset=utf-8", "csv"), "jsonl": ("application/x-ndjson; charset=utf-8", "jsonl")}


def message_json(row: MessageRow) -> dict[str, Any]:
    """A stored message as the log shows it; a tombstone (its text removed) as deleted."""
    return {"id": row.id, "ts": row.ts, "room": row.room, "from": {"id": row.sender_id, "name": row.sender_name},
            "to": None if row.recipient_id is None else {"id": row.recipient_id, "name": row.recipient_name},
            "text": row.text, "deleted": row.deleted is not None}


def safe_cell(value: Any) -> Any:
    """A CSV cell a spreadsheet shows as text: a string starting like a formula gets a leading quote."""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def csv_rows(rows: list[MessageRow]) -> str:
    """The rows as CSV lines (no header), every text cell safe against formula injection."""
    out = io.StringIO()
    writer = csv.writer(out)
    for r in rows:
        when = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(r.ts / 1000)) + f".{r.ts % 1000:03d}Z"
        writer.writerow([safe_cell(v) for v in (r.id, when, r.ts, r.room or "", r.sender_id, r.sender_name,
                                                 r.recipient_id or "", r.recipient_name or "", r.text,
                                                 "true" if r.deleted is not None else "false")])
    return out.getvalue()


class LogRequest(AdminHandler):
    """What the log, search and export endpoints share: their query arguments, read strictly."""

    role = "moderator"
    extra: tuple[str, ...] = ("before", "limit")

    def args(self) -> dict[str, str]:
        """The query arguments, each once and known; AdminError 400 naming the problem."""
        return self.query(FILTERS + self.extra)

    async def filters(self, args: dict[str, str]) -> Filters:
        """The filters the arguments name: a room by name, a user by id or name (every user of that
        name), a time range in ms since the epoch (until exclusive), a text query."""
        room_id = senders = None
        if args.get("room"):
            room = self.chat.hub.room(args["room"][:NAME_ARG_MAX])
            if room is None or not (self.actor.may(ADMIN) or room.visible_to(self.actor.id)):
                raise AdminError(400, "bad_request", f"there is no room {args['room'][:NAME_ARG_MAX]!r}")
            room_id = room.id
        user = args.get("user", "")
        if user:
            if len(user) > NAME_ARG_MAX:
                raise AdminError(400, "bad_request", f"'user' may be at most {NAME_ARG_MAX} characters")
            senders = ((whole_number(user, "user", 1, MAX_ID),) if user.isascii() and user.isdigit()
                       else await self._users_named(user))
        since, until = self.number(args, "since", 0, MAX_ID), self.number(args, "until", 0, MAX_ID)
        if len(args.get("q", "")) > QUERY_MAX:
            raise AdminError(400, "bad_request", f"'q' may be at most {QUERY_MAX} characters")
        return Filters(text=args.get("q") or None, room_id=room_id, senders=senders, since=since, until=until)

    async def _users_named(self, name: str) -> tuple[int, ...]:
        store = self.chat.store

        def query() -> tuple[int, ...]:
            rows = store.db.execute_sql(store._q('SELECT id FROM "user" WHERE name = ? ORDER BY id LIMIT ?'),
                                        (name, USERS_PER_NAME)).fetchall()
            return tuple(uid for (uid,) in rows)

        return await store.read(query)

    def scope(self) -> Scope:
        """What this reader may read (see the module)."""
        if self.actor.may(ADMIN):
            return Scope(private=self.chat.config.admin.read_private)
        return Scope(reader=self.actor.id)

    def private(self) -> bool:
        """Whether private messages are shown to this reader."""
        return self.scope().private

    async def page(self) -> tuple[list[MessageRow], bool, Filters]:
        """The page the arguments ask for: (rows, more, filters)."""
        args = self.args()
        filters = await self.filters(args)
        limit = self.number(args, "limit", 1, PAGE_MAX) or PAGE_DEFAULT
        before = self.number(args, "before", 1, MAX_ID)
        rows, more = await self.chat.store.search.find(self.scope(), filters, before, limit)
        return rows, more, filters


class LogHandler(LogRequest):
    async def get(self) -> None:
        rows, more, _ = await self.page()
        self.reply({"messages": [message_json(r) for r in rows], "more": more, "private": self.private()})


class ExportHandler(LogRequest):
    role = "admin"
    extra = ("format",)

    async def get(self) -> None:
        args = self.args()
        kind = args.get("format", "csv")
        if kind not in FORMATS:
            raise AdminError(400, "bad_request", f"'format' must be one of {', '.join(FORMATS)}")
        filters = await self.filters(args)
        content_type, extension = FORMATS[kind]
        self.set_header("Content-Type", content_type)
        self.set_header("Content-Disposition", f'attachment; filename="chatd-log.{extension}"')
        if kind == "csv":
            self.write(",".join(CSV_COLUMNS) + "\r\n")
        before, scope = None, self.scope()
        while True:
            rows, more = await self.chat.store.search.find(scope, filters, before, EXPORT_CHUNK)
            if kind == "csv":
                self.write(csv_rows(rows))
            else:
                self.write("".join(json.dumps(message_json(r), ensure_ascii=False) + "\n" for r in rows))
            try:
                await self.flush()
            except StreamClosedError:
                return  # the browser went away: read no more
            if not more:
                break
            before = rows[-1].id
        self.finish()


def routes() -> list[tuple[str, type]]:
    return [(rf"{API}/log", LogHandler), (rf"{API}/log/export", ExportHandler)]
