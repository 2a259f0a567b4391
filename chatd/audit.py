"""Who acts, and the audit log's entries: every admin and moderator action, from
the admin page, the chat page or the CLI, writes one row (``chatd.store.audit``).

An ``Actor`` is who did it: an admin account (kind "admin"), a chat user whose
app token gave them a role (kind "user"), the ``chatd`` command line ("cli"),
the server itself ("system", e.g. a retention purge), or someone not signed in
("anonymous", named by their address: a failed login, whose target is the
account tried, so attempts on ``root`` are never taken for ``root`` acting).
Roles nest: "admin" may do everything a "moderator" may.

    actor = Actor("user", 42, "alice", frozenset({"moderator"}))
    actor.may("moderator")   # True
    actor.may("admin")       # False
    row = entry(actor, "user.mute", "user:7", reason="spam", detail={"seconds": 600})
    await store.audit.add(row)                 # its own write
    store.audit.insert(row)                    # inside a writer job: committed with the action

Pure: no I/O here.
"""

from __future__ import annotations

import getpass
import json
from dataclasses import dataclass, field
from typing import Any

ADMIN = "admin"
MODERATOR = "moderator"
# Each role with the roles it includes (the issue: "admin" (everything) ⊇ "moderator").
ROLES: dict[str, frozenset[str]] = {ADMIN: frozenset({ADMIN, MODERATOR}), MODERATOR: frozenset({MODERATOR})}
# How a message names one holding a role, with its article ("only an admin may do this").
TITLES = {ADMIN: "an admin", MODERATOR: "a moderator"}

KINDS = ("admin", "user", "cli", "system", "anonymous")

# The actions, dotted "<what it acts on>.<verb>". A new action is added here (docs/operations.md lists them).
ACTIONS = (
    "message.delete",
    "user.mute", "user.unmute", "user.kick", "user.ban", "user.unban", "user.export", "user.delete",
    "address.ban", "address.unban",
    "room.create", "room.topic", "room.delete", "room.archive", "room.unarchive", "room.announce",
    "room.members_only", "room.retention",
    "name.reserve", "name.release",
    "retention.purge",
    "admin.login", "admin.login_failed", "admin.logout", "admin.create", "admin.remove", "admin.passwd",
)

TARGET_MAX = 200  # characters of a target kept
REASON_MAX = 500  # characters of a reason kept
NAME_MAX = 200  # characters of an actor's name kept


def staff_rank(roles: frozenset[str]) -> str | None:
    """The highest of ADMIN and MODERATOR that ``roles`` hold, or None (docs/protocol.md, "Moderation": ranks)."""
    return next((role for role in ROLES if holds(roles, role)), None)


def holds(roles: frozenset[str], role: str) -> bool:
    """Whether ``roles`` (a user's or an actor's) hold ``role``, directly or by a role including it."""
    return any(role in ROLES.get(held, ()) for held in roles)


@dataclass(frozen=True)
class Actor:
    """Who acts. ``id``: the admin account's or the user's id (0 for "cli", "system" and "anonymous")."""

    kind: str
    id: int
    name: str
    roles: frozenset[str] = field(default_factory=frozenset)

    def may(self, role: str) -> bool:
        """Whether this actor holds ``role`` ("admin" or "moderator"), directly or by a role including it."""
        return holds(self.roles, role)

    def describe(self) -> str:
        """How a log line names the actor: "admin root", "user alice (42)"."""
        return f"{self.kind} {self.name}" if self.kind != "user" else f"user {self.name} ({self.id})"


def target_of(actor: Actor) -> str:
    """How an audit row names ``actor`` as its target (a login, a logout): a chat user by id
    ("user:42", as every user target is: a name may change hands), anyone else by kind and
    name ("admin:root": an admin account's name is its key, ``chatd admin``)."""
    return f"user:{actor.id}" if actor.kind == "user" else f"{actor.kind}:{actor.name}"


def cli_actor() -> Actor:
    """The ``chatd`` command line, named after the operating-system user running it."""
    try:
        who = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container)
        who = "unknown"
    return Actor("cli", 0, f"cli:{who}", frozenset({ADMIN}))


SYSTEM = Actor("system", 0, "chatd", frozenset({ADMIN}))  # what the server does by itself (a retention purge)


def anonymous(address: str | None) -> Actor:
    """Someone not signed in, named by the address they came from (a failed login): no role."""
    return Actor("anonymous", 0, address or "unknown")


def user_roles(roles: frozenset[str] | set[str] | list[str]) -> frozenset[str]:
    """The roles of a chat user that matter here ("admin", "moderator"), out of all its app token gave."""
    return frozenset(role for role in roles if role in ROLES)


def entry(actor: Actor, action: str, target: str, reason: str = "", detail: dict[str, Any] | None = None,
          ts: int | None = None) -> dict[str, Any]:
    """The audit row of ``actor`` doing ``action`` (one of ACTIONS; ValueError otherwise) to ``target``
    (text: "message:1207", "user:42", "room:lobby", "address:203.0.113.0/24"), with the ``reason`` they
    gave and ``detail`` (a JSON-able dict: durations, counts). ``ts``: ms since the epoch; None = when
    stored. Long texts are cut (TARGET_MAX, REASON_MAX): a row is bounded whatever an admin typed."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}: add it to chatd.audit.ACTIONS")
    if actor.kind not in KINDS:
        raise ValueError(f"unknown actor kind {actor.kind!r}")
    return {"ts": ts, "actor_kind": actor.kind, "actor_id": actor.id, "actor_name": actor.name[:NAME_MAX],
            "action": action, "target": target[:TARGET_MAX], "reason": reason[:REASON_MAX],
            "detail": json.dumps(detail or {}, ensure_ascii=False, separators=(",", ":"), default=str)}
