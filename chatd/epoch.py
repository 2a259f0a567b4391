"""The database epoch: which database a token or a resume position belongs to.

Pure: no I/O. A database gets a random epoch id when it is created, and
``chatd restore`` gives the restored copy a new one. Ids are only
comparable within one epoch: after a restore, the backup's users and
messages keep their ids, but whatever the replaced database handed out
after the backup is gone — a token or a resume position from it must not
point at something new (DESIGN.md, "Guarantees"; Centrifugo's stream epoch
solves the same problem).

So an epoch knows
- ``trusted``: earlier epochs whose tokens still prove a user here, each
  with the highest user id that holds for (the backup's own users; ids in
  an epoch only grow, so every id up to it was in the backup). ``None``
  means every id: the same database under an earlier name (a database
  created before epochs existed, see ``PRE_EPOCH``);
- ``void``: ranges of message ids the replaced databases handed out that
  this database never had. A position in them comes from a database that
  is gone, whatever epoch the client claims.

    >>> backup = Epoch("aa")
    >>> restored = backup.restored(users=5, messages=100, replaced_messages=120)
    >>> restored.token_problem("aa", 5) is None, restored.same_database("aa"), restored.is_void(110)
    (True, False, True)
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

from chatd.worded import Worded

EPOCH_BYTES = 8  # 64 random bits: two databases never draw the same epoch
PRE_EPOCH = ""  # the epoch of tokens and positions from a chatd that had no epochs

# meta table keys (chatd.store.schema.Meta)
META_EPOCH = "epoch"
META_TRUSTED = "epoch_trusted"
META_VOID = "epoch_void_ids"
META_RESTORED = "restored"  # JSON record of the restore that made this epoch (chatd.store.restore)


@dataclass(frozen=True)
class Epoch:
    id: str
    trusted: Mapping[str, int | None] = field(default_factory=dict)
    void: tuple[tuple[int, int], ...] = ()  # (first, last) message ids, inclusive

    @classmethod
    def create(cls, trusted: Mapping[str, int | None] | None = None,
               void: tuple[tuple[int, int], ...] = ()) -> Epoch:
        """A new epoch with a fresh random id."""
        return cls(secrets.token_hex(EPOCH_BYTES), dict(trusted or {}), void)

    def same_database(self, epoch: str) -> bool:
        """Whether ids from ``epoch`` mean the same users and messages here, all of them."""
        return epoch == self.id or (epoch in self.trusted and self.trusted[epoch] is None)

    def descends_from(self, epoch: str) -> bool:
        """Whether this database went on from the database of ``epoch``: it is that one, or was
        restored from a backup of it or of one restored from it (a restore trusts the epochs its
        backup and the database it replaced trusted, ``restored``), or both come from a database
        of before epochs."""
        return epoch == self.id or epoch in self.trusted

    def token_problem(self, epoch: str, user_id: int) -> Worded | None:
        """Why a token of ``epoch`` for ``user_id`` proves nobody here (with its ``cause``: a
        ``bad_token``'s, docs/protocol.md), or None when it proves that user."""
        if self.same_database(epoch):
            return None
        cap = self.trusted.get(epoch)
        if cap is not None and user_id <= cap:
            return None
        if epoch in self.trusted:
            return Worded("the database was restored from a backup taken before this user signed up",
                          cause="restored_before")
        return Worded("the token belongs to another database (this one was restored from a backup, or replaced)",
                      cause="other_database")

    def is_void(self, message_id: int) -> bool:
        """Whether the id was handed out by a database a restore replaced, and never by this one."""
        return any(first <= message_id <= last for first, last in self.void)

    def stale(self, epoch: str | None, after: int | None, before: int | None, newest: int) -> bool:
        """Whether a client's resume positions cannot be used here (docs/protocol.md, "Epochs"):
        they come from another epoch (``epoch``; None: the client did not say), lie among the
        void ids, or ``after`` (a ``since``) is beyond ``newest``, the highest id handed out."""
        if epoch is not None and not self.same_database(epoch):
            return True
        if any(p is not None and self.is_void(p) for p in (after, before)):
            return True
        return after is not None and after > newest

    def restored(self, users: int, messages: int, replaced_messages: int, replaced: Epoch | None = None) -> Epoch:
        """The epoch for this database — a backup — once a restore installs it.

        ``users``, ``messages``: the highest user and message ids the backup
        had handed out; ``replaced_messages``: the highest message id the
        replaced database had handed out (0 if unknown); ``replaced``: its
        epoch, if known. The new epoch trusts this one's tokens up to
        ``users`` (and, capped the same, the epochs this one trusted). It
        trusts the replaced epoch's tokens as far as both trust a common
        epoch — the case of a database restored twice, whose users hold
        tokens of the first restore. It voids the message ids the replaced
        database had beyond the backup.
        """
        trusted: dict[str, int | None] = {e: users if cap is None else min(cap, users)
                                          for e, cap in self.trusted.items()}
        trusted[self.id] = users
        if replaced is not None and replaced.id not in trusted:
            common = [min(users if cap is None else cap, trusted[e])  # every value in trusted is an int
                      for e, cap in {**replaced.trusted, replaced.id: None}.items() if e in trusted]
            if common:
                trusted[replaced.id] = max(common)
        void = self.void
        if replaced_messages > messages:
            void = (*void, (messages + 1, replaced_messages))
        return Epoch.create(trusted, void)

    def to_meta(self) -> dict[str, str]:
        """The meta table rows that store this epoch."""
        return {META_EPOCH: self.id, META_TRUSTED: json.dumps(dict(self.trusted), sort_keys=True),
                META_VOID: json.dumps([list(r) for r in self.void])}

    @classmethod
    def from_meta(cls, rows: Mapping[str, str]) -> Epoch:
        """Read back what ``to_meta`` wrote; KeyError/ValueError if it is missing or damaged."""
        trusted = json.loads(rows.get(META_TRUSTED, "{}"))
        void = json.loads(rows.get(META_VOID, "[]"))
        if not isinstance(trusted, dict) or not isinstance(void, list):
            raise ValueError("damaged epoch record in the meta table")
        return cls(rows[META_EPOCH], {str(k): None if v is None else int(v) for k, v in trusted.items()},
                   tuple((int(a), int(b)) for a, b in void))
