"""What ``chatd restore`` keeps from the database it replaces: every revocation and every
sanction in it, so that a restore never lets back in what was shut out after the backup was
taken (docs/operations.md, "Restoring a backup"). SQLite only, as ``chatd restore`` is.

Run on the prepared copy (``chatd.store.restore``, step 3), with the replaced database
attached read as it is (checkpointed in step 2, and never written), in one transaction:

- **API keys** revoked there stay revoked (matched by public id and secret hash); a key the
  backup has and it lacks was deleted after the backup: revoked.
- **Admin accounts** it lacks (matched by id and case-folded name) were removed: removed, with
  their sessions. The others take its password hash: the current password wins.
- **Admin sessions**: every one ends. The replaced database's logouts and expiries cannot be
  matched one by one to the backup's sessions, and signing in again costs an admin one login.
- **Users** deleted there (kind ``deleted``) are erased again (``erase_identity``: name, app id,
  roles, keys, bans, files); the server makes their messages tombstones when it starts, as it
  finishes any cut-off deletion (``chatd.usercare``). The others take its roles: the app's last word.
- **Members-only rooms**: a membership the backup has and it lacks (the room matched by name)
  was ended: ended (one it has and the backup lacks is not made: a restore grants nothing).
- **Bots** it lacks were deleted: no longer bots (their keys were revoked with them). The others
  take its webhook URL and signing secret.
- **Bans and mutes** in force there are kept: added where the backup has none for the same user,
  address or network (a mute: the same user and room, by name), and the one that lasts longer
  (for good outlasts any time) wins where it has one.
- **Reserved names** it has are added (a pattern reserved for users in one and for rooms in the
  other holds back both: "any").

What the backup has and the replaced database no longer has, other than the above, comes back
with the backup: a ban or mute lifted, a name no longer reserved after the backup is in force
again — the safe side; lift it again.

Only when the replaced database is the backup's own (``_related``: the same token secret, or an
epoch that descends from the backup's) does a user id mean the same user and an absence say
something. A database made anew (a lost disk, a wrong path) says nothing of the
backup's users, accounts and keys: then only what names itself is kept — revoked keys (by their
hash), address bans and reserved names — and every admin session ends all the same.

    kept, own = carry_over("/var/lib/chatd/chatd.db.restoring", "/var/lib/chatd/chatd.db")
    kept  # {"api_keys": 1, "admins": 1, "admin_sessions": 3, "bans": 2, ...}: rows changed per KEPT
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass

from peewee import Database, SqliteDatabase

from chatd.epoch import PRE_EPOCH, Epoch
from chatd.store.schema import now_ms
from chatd.store.userdata import DELETED, erase_identity

# What carry_over counts (its keys) and how ``chatd restore`` names one and several of each.
KEPT = {
    "users": ("deleted user erased again", "deleted users erased again"),
    "roles": ("user's roles as the app last gave them", "users' roles as the app last gave them"),
    "api_keys": ("revoked or deleted API key", "revoked or deleted API keys"),
    "admins": ("removed admin account", "removed admin accounts"),
    "passwords": ("admin password as changed", "admin passwords as changed"),
    "admin_sessions": ("admin session ended", "admin sessions ended"),
    "members": ("room membership ended", "room memberships ended"),
    "bots": ("deleted bot", "deleted bots"),
    "bot_secrets": ("bot webhook or secret as changed", "bot webhooks or secrets as changed"),
    "bans": ("ban", "bans"),
    "mutes": ("mute", "mutes"),
    "reserved": ("reserved name", "reserved names"),
}
OLD = "replaced"  # the schema name the replaced database is attached as
FOREVER = 2 ** 62  # ms: how long a sanction without an end lasts, to compare it with one that has one
MISSING = ("no such table", "no such column")  # a replaced database of an older schema: nothing of that kind
TOKEN_SECRET = "token_secret"  # the meta row of the secret that signs resume tokens (chatd.store.base, Store.secret)


@dataclass
class _CopyStore:
    """What ``erase_identity`` uses of a Store — its database and its SQL as written ("?") — for
    the copy being prepared, which has no Store (no writer, no reader pool)."""

    db: Database
    update_user = ""  # SQLite: one writer at a time, no row to lock (chatd.store.living)

    @staticmethod
    def _q(sql: str) -> str:
        return sql


def carry_over(copy: str, replaced: str) -> tuple[dict[str, int], bool]:
    """Apply to the database file ``copy`` what the one at ``replaced`` revoked and sanctioned
    (see the module); → (rows changed per ``KEPT`` key, zeros left out; whether ``replaced`` was
    the backup's own, ``_related``). sqlite3 and peewee errors other than an older schema's missing
    tables and columns propagate: the restore then fails, nothing installed."""
    db = SqliteDatabase(copy, pragmas={"foreign_keys": 1})  # removing an account or a bot: theirs go with it
    with db.connection_context():
        conn = db.connection()
        conn.execute(f"ATTACH DATABASE ? AS {OLD}", (replaced,))
        try:
            related = _related(conn)
            with db.atomic():
                kept = _apply(conn, _CopyStore(db), related, now_ms())
        finally:
            conn.execute(f"DETACH DATABASE {OLD}")
    return {what: count for what, count in kept.items() if count}, related


def _related(conn: sqlite3.Connection) -> bool:
    """Whether the replaced database is the backup's own: the same token secret, made with a
    database and never changed (made at the first start, unless ``identity.secret`` is set: then
    perhaps in neither); else its epoch descends from the backup's (``Epoch.descends_from``)."""
    mine, theirs = (_meta(conn, schema) for schema in ("main", OLD))
    if TOKEN_SECRET in mine and TOKEN_SECRET in theirs:
        return mine[TOKEN_SECRET] == theirs[TOKEN_SECRET]
    try:
        backup, replaced = Epoch.from_meta(mine), Epoch.from_meta(theirs)
    except (KeyError, ValueError):  # one from before epochs, or a damaged record: nothing says they are one
        return False
    return replaced.descends_from(backup.id) or PRE_EPOCH in backup.trusted and replaced.descends_from(PRE_EPOCH)


def _meta(conn: sqlite3.Connection, schema: str) -> dict[str, str]:
    with _older_schema():
        return dict(conn.execute(f"SELECT key, value FROM {schema}.meta").fetchall())
    return {}


def _apply(conn: sqlite3.Connection, store: _CopyStore, related: bool, now: int) -> dict[str, int]:
    kept = dict.fromkeys(KEPT, 0)
    _credentials(conn, store, related, now, kept)
    _sanctions(conn, related, now, kept)
    return kept


def _credentials(conn: sqlite3.Connection, store: _CopyStore, related: bool, now: int, kept: dict[str, int]) -> None:
    """Users, roles, API keys, admin accounts and sessions, room memberships, bots: counted into ``kept``."""
    if related:  # first: an erased user's keys, bans and mutes are gone before the rules below look
        kept["users"] = sum(erase_identity(store, user_id) is not None for (user_id,) in _rows(conn, (
            f'SELECT o.id FROM {OLD}."user" o JOIN main."user" u ON u.id = o.id WHERE o.kind = ? AND u.kind <> ?'),
            (DELETED, DELETED)))
        kept["roles"] = _run(conn, f'UPDATE "user" SET roles = o.roles FROM {OLD}."user" o WHERE o.id = "user".id '
                                   'AND o.roles IS NOT "user".roles AND "user".kind <> ?', (DELETED,))
    kept["api_keys"] = _run(conn, f"UPDATE api_key SET revoked = o.revoked FROM {OLD}.api_key o "
                                  "WHERE api_key.revoked IS NULL AND o.public_id = api_key.public_id "
                                  "AND o.secret_hash = api_key.secret_hash AND o.revoked IS NOT NULL")
    if related:
        kept["api_keys"] += _run(conn, f"UPDATE api_key SET revoked = ? WHERE revoked IS NULL AND NOT EXISTS "
                                       f"(SELECT 1 FROM {OLD}.api_key o WHERE o.public_id = api_key.public_id)", (now,))
        kept["admins"] = _run(conn, f"DELETE FROM admin_account WHERE NOT EXISTS (SELECT 1 FROM {OLD}.admin_account "
                                    "o WHERE o.id = admin_account.id AND o.key = admin_account.key)")
        kept["passwords"] = _run(conn, f"UPDATE admin_account SET password_hash = o.password_hash, changed = o.changed "
                                       f"FROM {OLD}.admin_account o WHERE o.id = admin_account.id AND "
                                       "o.key = admin_account.key AND o.password_hash <> admin_account.password_hash")
        # Rooms by name, in both (ids of rooms made after the backup may mean others here).
        kept["members"] = _run(conn, f"DELETE FROM room_member WHERE room_id IN (SELECT r.id FROM room r "
                                     f"JOIN {OLD}.room o ON o.name = r.name) AND NOT EXISTS (SELECT 1 FROM "
                                     f"{OLD}.room_member m JOIN {OLD}.room o ON o.id = m.room_id JOIN room r "
                                     "ON r.name = o.name WHERE r.id = room_member.room_id "
                                     "AND m.user_id = room_member.user_id AND m.source = room_member.source)")
        kept["bots"] = _run(conn, f"DELETE FROM bot WHERE NOT EXISTS "
                                  f"(SELECT 1 FROM {OLD}.bot o WHERE o.user_id = bot.user_id)")
        kept["bot_secrets"] = _run(conn, f"UPDATE bot SET webhook_url = o.webhook_url, secret = o.secret "
                                         f"FROM {OLD}.bot o WHERE o.user_id = bot.user_id "
                                         "AND (o.webhook_url <> bot.webhook_url OR o.secret <> bot.secret)")
    kept["admin_sessions"] = _run(conn, "DELETE FROM admin_session")


def _sanctions(conn: sqlite3.Connection, related: bool, now: int, kept: dict[str, int]) -> None:
    """Bans, mutes and reserved names: counted into ``kept``."""
    for user_id, network, until, reason, created in _rows(conn, (
            f"SELECT user_id, network, until, reason, created FROM {OLD}.ban WHERE until IS NULL OR until > ?"),
            (now,)):
        if network is not None or (related and _alive(conn, user_id)):
            subject = {"network": network} if network is not None else {"user_id": user_id}
            kept["bans"] += _keep_longer(conn, "ban", subject, until, reason, created)
    if related:
        for user_id, room, until, reason, created in _rows(conn, (
                f"SELECT m.user_id, r.name, m.until, m.reason, m.created FROM {OLD}.mute m "
                f"LEFT JOIN {OLD}.room r ON r.id = m.room_id WHERE m.until IS NULL OR m.until > ?"), (now,)):
            # The room by its name (ids of rooms made after the backup may mean others here); gone: no mute.
            found = None if room is None else conn.execute("SELECT id FROM room WHERE name = ?", (room,)).fetchone()
            if _alive(conn, user_id) and (room is None or found is not None):
                subject = {"user_id": user_id, "room_id": found and found[0]}
                kept["mutes"] += _keep_longer(conn, "mute", subject, until, reason, created)
    kept["reserved"] = _run(conn, f"INSERT INTO reserved_name (pattern, scope, reason, created) "
                                  f"SELECT pattern, scope, reason, created FROM {OLD}.reserved_name WHERE true "
                                  "ON CONFLICT (pattern) DO UPDATE SET scope = 'any' "
                                  "WHERE reserved_name.scope <> excluded.scope")


def _keep_longer(conn: sqlite3.Connection, table: str, subject: dict[str, int | str | None],
                 until: int | None, reason: str, created: int) -> int:
    """Keep a sanction in force in the replaced database: ``table``'s row for its ``subject``
    (column → value: the user, the network, the room) made to last as long as it (``until``
    None: for good) if it ends sooner, or a new row if there is none; → 1 if the copy changed,
    else 0. The ban and mute tables hold at most one row per subject (``chatd.store.moderation``)."""
    where = " AND ".join(f"{column} IS ?" for column in subject)
    found = conn.execute(f"SELECT id, until FROM {table} WHERE {where}", tuple(subject.values())).fetchone()
    if found is None:
        conn.execute(f"INSERT INTO {table} ({', '.join(subject)}, until, reason, created) "
                     f"VALUES ({', '.join('?' * len(subject))}, ?, ?, ?)", (*subject.values(), until, reason, created))
        return 1
    if (FOREVER if until is None else until) <= (FOREVER if found[1] is None else found[1]):
        return 0
    conn.execute(f"UPDATE {table} SET until = ?, reason = ?, created = ? WHERE id = ?",
                 (until, reason, created, found[0]))
    return 1


def _alive(conn: sqlite3.Connection, user_id: int) -> bool:
    """Whether the copy has the user, not deleted (a deleted user's sanctions went with it)."""
    return conn.execute('SELECT 1 FROM "user" WHERE id = ? AND kind <> ?', (user_id, DELETED)).fetchone() is not None


def _run(conn: sqlite3.Connection, sql: str, args: tuple = ()) -> int:
    """Run a change; → rows changed (none where the replaced database's older schema lacks a table)."""
    with _older_schema():
        return conn.execute(sql, args).rowcount
    return 0


def _rows(conn: sqlite3.Connection, sql: str, args: tuple) -> list[tuple]:
    """The rows of ``sql``, read whole before anything is changed; none from an older schema."""
    with _older_schema():
        return conn.execute(sql, args).fetchall()
    return []


@contextlib.contextmanager
def _older_schema() -> Iterator[None]:
    """Swallow the error of a table or column the replaced database (an older schema's) lacks."""
    try:
        yield
    except sqlite3.OperationalError as e:
        if not str(e).startswith(MISSING):
            raise


def kept_text(kept: dict[str, int]) -> str:
    """``carry_over``'s counts as ``chatd restore`` prints them: "1 revoked or deleted API key, 2 bans"."""
    return ", ".join(f"{count} {KEPT[what][count != 1]}" for what, count in kept.items())

