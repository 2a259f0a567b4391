"""Admin search: the chat log's filters with a text query, each result with its snippet.

    GET /admin/api/search?q=TEXT&room=NAME&user=ID|NAME&since=MS&until=MS&before=ID&limit=N
    → {"results": [message + "snippet"], "more": bool, "private": bool}

The same rules as the log (``chatd.admin.log``): a moderator finds what they may read as
one (open rooms, members-only rooms they are a member of); an admin every room, and private
messages with ``admin.read_private``; tombstones are never found. ``snippet`` as in the ``search``
frame (``chatd.fulltext.snippet``: even items plain, odd items matched). Moderators may use it.
"""

from __future__ import annotations

from chatd.admin.base import API, AdminError
from chatd.admin.log import LogRequest, message_json
from chatd.fulltext import parse_query, snippet


class SearchHandler(LogRequest):
    async def get(self) -> None:
        query = self.get_query_argument("q", "").strip()
        if not query:
            raise AdminError(400, "bad_request", "'q' is required: the text to search for")
        rows, more, filters = await self.page()
        phrases = parse_query(filters.text)
        self.reply({"results": [{**message_json(r), "snippet": snippet(r.text, phrases)} for r in rows],
                    "more": more, "private": self.private()})


def routes() -> list[tuple[str, type]]:
    return [(rf"{API}/search", SearchHandler)]
