"""Sign-ins: a new user with a name, a user again with a token, signing out.

Transport-free, for ``chatd.chat``: tokens (``chatd.auth.tokens``) checked
against the database epoch and the store's sign-ins and generations
(``chatd.auth.revocation``). Refusals raise ``ProtocolError`` with
``bad_token``. Names are the caller's business.

    sign_ins = SignIns(hub, store, tokens)
    who = await sign_ins.sign_up("alice")        # a Signed
    who = await sign_ins.app_sign_in(claims, "Alice")   # the user of a verified app token's sub
    who = await sign_ins.resume(token, cid)      # the same user again, or ProtocolError
    try:
        ...                                      # anything else identify waits for
        sign_ins.check(who, cid)                 # signed out meanwhile? ProtocolError
        hub.attach(session, ...)
        sign_ins.attached(who, session)          # a sign-out from now on leaves the session to identify
        ...                                      # the welcome read
        sign_ins.refused(who)                    # signed out meanwhile? answer bad_token, end the session
        token = sign_ins.token(who)              # for the welcome
    finally:
        sign_ins.settled(who)
    ended = await sign_ins.sign_out(session, everywhere=False)   # the sessions to close
    ended = sign_ins.signed_out(user_id, sign_in)   # a sign-out made on another node (None: everywhere)
"""

from __future__ import annotations

from typing import NamedTuple

from chatd.auth.apptokens import AppClaims
from chatd.auth.revocation import ACCOUNT_DELETED, USER_GONE, Resume, Resumes, refusal
from chatd.auth.tokens import BadToken, TokenSigner
from chatd.hub import Hub
from chatd.protocol.codes import Code, ProtocolError
from chatd.session import APP, GUEST, Session
from chatd.store import Store, UserDeleted
from chatd.store.userdata import DELETED
from chatd.worded import Worded


class Signed(NamedTuple):
    """Who a connection proved to be."""

    user_id: int
    name: str  # as stored (the caller may rename)
    epoch: str | None  # the epoch of the token it proved it with; None for a new user
    sign_in: int
    generation: int  # the user's token generation
    resume: Resume | None = None  # the resume under way; None for a new user
    kind: str = GUEST  # chatd.session: GUEST, APP, BOT
    roles: frozenset[str] = frozenset()  # as stored, or as the app token says
    avatar: str | None = None  # as stored, or as the app token says (whether it is shown is the caller's)
    claims: AppClaims | None = None  # the app token it signed in with (its `rooms`...); None: another way


class SignIns:
    def __init__(self, hub: Hub, store: Store, tokens: TokenSigner):
        self.hub = hub
        self.store = store
        self.tokens = tokens
        self._resumes = Resumes()

    async def sign_up(self, name: str) -> Signed:
        """A new user called ``name``, signed in."""
        user_id, sign_in = await self.store.sign_ins.sign_up(name)
        return Signed(user_id, name, None, sign_in, 0)

    async def app_sign_in(self, claims: AppClaims, name: str) -> Signed:
        """The user of the verified app token's ``sub``, called ``name`` (made if new; its
        name, avatar and roles replaced), signed in anew: one user however many devices."""
        up = await self.store.sign_ins.app_sign_in(claims.sub, name, claims.avatar, claims.roles)
        return Signed(up.user_id, name, None, up.sign_in, up.generation, None, APP, claims.roles, claims.avatar,
                      claims)

    async def resume(self, token: str, cid: str | None) -> Signed:
        """The user ``token`` proves, for ``check`` and ``settled`` later (see the module);
        ProtocolError(bad_token) saying why if it proves nobody."""
        try:
            claim = self.tokens.verify(token)
        except BadToken as e:
            raise bad_token(e.why, cid) from None
        problem = self.store.epoch.token_problem(claim.epoch, claim.user_id)
        if problem:
            raise bad_token(problem, cid)
        resume = self._resumes.begin(claim.user_id, claim.sign_in)
        try:
            state = await self.store.sign_ins.state(claim.user_id, claim.sign_in, claim.legacy)
            if state.name is None:
                raise bad_token(USER_GONE, cid)
            stored = state.sign_in
            problem = refusal(claim, state.generation, stored, state.kind == DELETED)
            if problem is None and stored is None:  # a token this database made no sign-in for
                try:
                    stored = await self.store.sign_ins.ensure(claim.user_id, claim.sign_in, claim.legacy)
                except UserDeleted:  # deleted since its state was read
                    raise bad_token(ACCOUNT_DELETED, cid) from None
                problem = refusal(claim, state.generation, stored, state.kind == DELETED)
            if problem:
                raise bad_token(problem, cid)
        except BaseException:
            self._resumes.end(resume)
            raise
        resume.sign_in = stored.id
        return Signed(claim.user_id, state.name, claim.epoch, stored.id, state.generation, resume, state.kind,
                      state.roles, state.avatar)

    def check(self, who: Signed, cid: str | None) -> None:
        """ProtocolError(bad_token) if ``who``'s sign-in was signed out since ``resume``."""
        problem = self.refused(who)
        if problem:
            raise bad_token(problem, cid)

    def refused(self, who: Signed) -> Worded | None:
        """Why ``who``'s sign-in was signed out since ``resume`` (the ``bad_token`` message, its
        ``cause`` as fields), or None."""
        return who.resume.refused if who.resume is not None else None

    def attached(self, who: Signed, session: Session) -> None:
        """``who``'s identify attached ``session`` and has yet to answer: a sign-out
        until ``settled`` does not end the session, but refuses the resume, whose
        identify then answers ``bad_token`` and ends it (docs/protocol.md, "Signing out")."""
        if who.resume is not None:
            who.resume.session = session

    def settled(self, who: Signed) -> None:
        """The identify of ``who`` is over: answered, or refused."""
        if who.resume is not None:
            self._resumes.end(who.resume)

    def token(self, who: Signed) -> str:
        """A fresh resume token of ``who``'s sign-in."""
        return self.tokens.issue(who.user_id, self.store.epoch.id, who.sign_in, who.generation)

    async def sign_out(self, session: Session, everywhere: bool) -> list[Session]:
        """Sign the session's sign-in out (``everywhere``: every sign-in of its user);
        → the live sessions that signed out, ``session`` included, for the caller to end."""
        user_id, sign_in = session.user.id, session.sign_in
        if everywhere:
            await self.store.sign_ins.raise_generation(user_id)
        else:
            await self.store.sign_ins.revoke(user_id, sign_in)
        return self.signed_out(user_id, None if everywhere else sign_in)

    def signed_out(self, user_id: int, sign_in: int | None) -> list[Session]:
        """The user's sign-in ``sign_in`` (None: every one) is signed out in the
        store: identifies with it under way are refused; → its live sessions
        here, but those whose identify is to answer (``attached``)."""
        answering = {resume.session for resume in self._resumes.sign_out(user_id, sign_in)}
        return [session for session in self.hub.sessions_of(user_id, sign_in) if session not in answering]


def close_reason(everywhere: bool) -> str:
    """The close reason of a session ended by a sign-out (with close code 4401)."""
    return "signed out everywhere" if everywhere else "signed out"


def bad_token(why: Worded, cid: str | None) -> ProtocolError:
    """The ``bad_token`` refusal saying ``why``, its ``cause`` as a field (docs/protocol.md, "error")."""
    return ProtocolError(Code.BAD_TOKEN, why, cid, details=why.fields)
