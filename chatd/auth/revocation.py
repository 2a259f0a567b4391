"""Which resume tokens a user's sign-ins still honour, and resumes under way. Pure: no I/O.

A user signs in on a browser or device once — with a name, or with a token
from before sign-ins — and every token renewed from then on carries that
**sign-in**'s id (``chatd.auth.tokens``). So (docs/protocol.md, "Signing out"):

- *sign out* revokes one sign-in: its tokens, the old ones too, are refused;
  the user's other sign-ins keep theirs;
- *sign out everywhere* raises the user's token generation: every token
  issued before, of every sign-in, is refused;
- the live sessions of what was signed out end, and a resume that was
  waiting for the store at that moment is refused (``Resumes``), so that no
  connection slips through between its check and the sign-out.

The rules hold for a cluster too, once the store is shared and the end of
sessions is published on the bus: nothing here is kept per process but
the resumes under way.

    >>> refusal(Claim(7, "e1", 3, 0, 1000), generation=1, stored=StoredSignIn(3, 7, None))
    'the user signed out everywhere after this token was issued'
"""

from __future__ import annotations

from typing import NamedTuple

from chatd.auth.tokens import Claim
from chatd.worded import Worded

# Each with its ``cause``, as a ``bad_token`` error says it (docs/protocol.md, "error").
SIGNED_OUT = Worded("this sign-in was signed out", cause="signed_out")
SIGNED_OUT_EVERYWHERE = Worded("the user signed out everywhere after this token was issued",
                               cause="signed_out_everywhere")
OTHER_USER = Worded("the token's sign-in is another user's: the token is from another database",
                    cause="other_database")
ACCOUNT_DELETED = Worded("the user's account was deleted", cause="account_deleted")
USER_GONE = Worded("the token's user no longer exists", cause="user_gone")


class StoredSignIn(NamedTuple):
    """A sign-in as the store keeps it."""

    id: int
    user_id: int
    revoked: int | None  # ms since the Unix epoch it was signed out; None while it holds


def refusal(claim: Claim, generation: int, stored: StoredSignIn | None, deleted: bool = False) -> Worded | None:
    """Why a token that verified (signature, time, epoch) proves nobody any more,
    or None when it holds. ``generation``: the user's token generation now;
    ``stored``: the token's sign-in as stored, None if this database has none
    (a token from before sign-ins, or from a database a restore replaced:
    the caller then stores one for it); ``deleted``: the user's account was
    deleted (``chatd.usercare``), which says why before the generation its
    deletion raised would."""
    if deleted:
        return ACCOUNT_DELETED
    if claim.generation < generation:
        return SIGNED_OUT_EVERYWHERE
    if stored is None:
        return None
    if stored.user_id != claim.user_id:
        return OTHER_USER
    if stored.revoked is not None:
        return SIGNED_OUT
    return None


class Resume:
    """One resume under way: a connection identifying with a token of ``user_id``
    whose sign-in is ``sign_in`` (None until known, for a token from before
    sign-ins). ``refused`` says why, once a sign-out has ended it (``everywhere``:
    a sign-out of every sign-in). ``session``: the session it attached, once it
    has, until its answer is sent: a sign-out then leaves its ending to the resume,
    which answers ``bad_token`` first."""

    __slots__ = ("user_id", "sign_in", "refused", "everywhere", "session")

    def __init__(self, user_id: int, sign_in: int | None):
        self.user_id = user_id
        self.sign_in = sign_in
        self.refused: Worded | None = None
        self.everywhere = False
        self.session: object | None = None


class Resumes:
    """The resumes under way, by user: a sign-out that commits while one waits
    for the store refuses it (the sessions already attached end otherwise)."""

    def __init__(self) -> None:
        self._by_user: dict[int, set[Resume]] = {}

    def begin(self, user_id: int, sign_in: int | None) -> Resume:
        resume = Resume(user_id, sign_in)
        self._by_user.setdefault(user_id, set()).add(resume)
        return resume

    def end(self, resume: Resume) -> None:
        waiting = self._by_user.get(resume.user_id)
        if waiting is not None:
            waiting.discard(resume)
            if not waiting:
                del self._by_user[resume.user_id]

    def sign_out(self, user_id: int, sign_in: int | None) -> list[Resume]:
        """Refuse the user's resumes under way of sign-in ``sign_in`` (None: every one); → those refused."""
        refused = []
        for resume in self._by_user.get(user_id, ()):
            if sign_in is None:
                resume.refused, resume.everywhere = SIGNED_OUT_EVERYWHERE, True
            elif resume.sign_in == sign_in:
                resume.refused = SIGNED_OUT
            else:
                continue
            refused.append(resume)
        return refused
