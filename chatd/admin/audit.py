"""The audit tab's endpoint: the audit log, newest first, read-only (no endpoint changes it).

    GET /admin/api/audit?before=ID&limit=N&action=A&actor=NAME&target=T
    → {"entries": [{id, ts, actor: {kind, id, name}, action, target, reason, detail}], "more": bool,
       "actions": [every action name]}

Keyset paging: ``before`` is the last id of the previous page (each filter is an
index walk, ``chatd.store.schema.AuditLog``), so a page costs the same however old.
For admins only: login rows carry addresses.
"""

from __future__ import annotations

from chatd.admin.base import API, AdminError, AdminHandler
from chatd.audit import ACTIONS, NAME_MAX, TARGET_MAX
from chatd.protocol.codes import MAX_ID

PAGE_DEFAULT = 50
PAGE_MAX = 200


class AuditHandler(AdminHandler):
    async def get(self) -> None:
        args = self.query(("before", "limit", "action", "actor", "target"))
        before = self.number(args, "before", 1, MAX_ID)
        limit = self.number(args, "limit", 1, PAGE_MAX) or PAGE_DEFAULT
        for name, most in (("action", 64), ("actor", NAME_MAX), ("target", TARGET_MAX)):
            if len(args.get(name, "")) > most:
                raise AdminError(400, "bad_request", f"{name!r} may be at most {most} characters")
        page = await self.chat.store.audit.page(before, limit, args.get("action") or None, args.get("actor") or None,
                                                args.get("target") or None)
        self.reply({"entries": page.rows, "more": page.more, "actions": list(ACTIONS)})


def routes() -> list[tuple[str, type]]:
    return [(rf"{API}/audit", AuditHandler)]
