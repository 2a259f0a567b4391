"""Signing in to the admin page, and out (docs/operations.md, "Administration").

    POST /admin/api/login        {"name", "password"}  an admin account (chatd admin create)
    POST /admin/api/login/chat   {"token"}             a chat user with the role admin or moderator
    GET  /admin/api/session      who is signed in, the CSRF token, when the session ends
    POST /admin/api/logout       ends the session (in the store: on every node)

Both logins answer ``{"actor": {...}, "csrf": token, "expires": ms}`` and set the
session cookie: HttpOnly (no script reads it), SameSite=Strict (no other site's
page sends it), Secure (only over https; browsers count http://localhost and
127.0.0.1 as secure, so loopback development works on plain http), Path=/admin.

The chat-account login takes the chat page's own resume token (the admin page
reads it from the same origin's localStorage). It is checked as a resume is
(signature, epoch, sign-in not signed out, generation), and the user's roles
as their last app token gave them must hold admin or moderator. The session it
makes stays bound to that sign-in: signing out of the chat, or losing the role,
ends it (``chatd.admin.sessions``), and so does a ban or a kick of the user; a
user banned now is refused (403 ``banned``, saying until when and why). The token goes in a JSON body, never a
cookie, so no other site can make a browser send it.

Every attempt is counted (``chatd.admin.logins``): too many from an address, or
for an account name, are refused with 429 and Retry-After before a password is
checked. Each login and each refused password or token writes an audit row
(``admin.login``, ``admin.login_failed``); logout writes ``admin.logout``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from chatd.abuse import address_key
from chatd.admin.base import API, AdminError, AdminHandler, AdminJson
from chatd.admin.logins import LOGIN_LIMIT
from chatd.admin.sessions import COOKIE
from chatd.audit import MODERATOR, Actor, anonymous, entry, target_of, user_roles
from chatd.auth.admins import PASSWORD_MAX, account_key, verify_password, waste_time
from chatd.auth.revocation import ACCOUNT_DELETED, USER_GONE, refusal
from chatd.auth.tokens import TOKEN_MAX, BadToken
from chatd.client_refusals import ROLE
from chatd.durations import duration_text
from chatd.sanctions import lasting
from chatd.store import UserDeleted
from chatd.store.userdata import DELETED
from chatd.worded import Worded

NAME_MAX = 200  # characters of a login name looked at (account names are shorter: chatd.auth.admins)
WRONG_LOGIN = "wrong name or password"


def shown(actor: Actor) -> dict[str, Any]:
    """An actor as the admin API shows it."""
    return {"kind": actor.kind, "id": actor.id, "name": actor.name, "roles": sorted(actor.roles)}


class Login(AdminJson):
    """What both logins do alike."""

    def _text(self, args: dict[str, Any], name: str, most: int) -> str:
        value = args.get(name)
        if not isinstance(value, str) or not value or len(value) > most:
            raise AdminError(400, "bad_request", f"{name!r} must be a string of 1 to {most} characters")
        return value

    async def _slowed(self, account: str | None) -> None:
        """AdminError 429 when this address, or ``account``, has tried too often (``chatd.admin.logins``)."""
        key = address_key(self.request.remote_ip or "", self.chat.config.address.ipv6_prefix)
        wait = await self.admin.logins.take(key, account)
        if wait:
            raise AdminError(429, "rate_limited", f"too many login attempts from this address or for this "
                                                  f"account; try again in {duration_text(wait)}", wait,
                             details={"limit": LOGIN_LIMIT})

    async def _failed(self, target: str, why: str, status: int, code: str, message: str,
                      details: dict[str, Any] | None = None) -> None:
        """Write the failed attempt's audit row and refuse it. Who acted is nobody signed in, named
        by the address (``chatd.audit.anonymous``); ``target`` is the account tried: a filter on
        the account's name as actor never shows attacks on it as its own doing."""
        await self.chat.store.audit.add(entry(anonymous(self.request.remote_ip), "admin.login_failed", target,
                                              detail={"address": self.request.remote_ip, "why": why}))
        raise AdminError(status, code, message, details=details)

    async def _signed_in(self, token: str, csrf: str, actor: Actor, via: str) -> None:
        await self.chat.store.audit.add(entry(actor, "admin.login", target_of(actor),
                                              detail={"address": self.request.remote_ip, "via": via}))
        self.set_cookie(COOKIE, token, path="/admin", httponly=True, secure=True, samesite="Strict")
        self.reply({"actor": shown(actor), "csrf": csrf, "expires": self.admin.sessions.new_expiry()})


class PasswordLogin(Login):
    async def post(self) -> None:
        args = self.body(("name", "password"))
        name = self._text(args, "name", NAME_MAX)
        password = self._text(args, "password", PASSWORD_MAX)
        key = account_key(name)
        await self._slowed(key)
        account = await self.chat.store.admins.account(key)
        loop = asyncio.get_running_loop()
        if account is None:  # as slow as a real check: no telling names that exist by the time taken
            await loop.run_in_executor(None, waste_time, password)
            await self._failed(f"admin:{name}", "no such account", 401, "bad_login", WRONG_LOGIN)
        account_id, account_name, stored = account
        if not await loop.run_in_executor(None, verify_password, password, stored):
            await self._failed(f"admin:{account_name}", "wrong password", 401, "bad_login", WRONG_LOGIN)
        token, csrf, actor = await self.admin.sessions.open_account(account_id, account_name,
                                                                    self.request.remote_ip or "")
        await self._signed_in(token, csrf, actor, "password")


class ChatLogin(Login):
    async def post(self) -> None:
        args = self.body(("token",))
        token = self._text(args, "token", TOKEN_MAX)
        await self._slowed(None)
        store = self.chat.store
        try:
            claim = self.chat.tokens.verify(token)
        except BadToken as e:
            await self._failed("user:?", str(e), 401, "bad_token",
                               f"the chat sign-in is not valid ({e}): sign in to the chat again", e.why.fields)
        problem = store.epoch.token_problem(claim.epoch, claim.user_id)
        state = await store.sign_ins.state(claim.user_id, claim.sign_in, claim.legacy)
        who = Actor("user", claim.user_id, state.name or "?", user_roles(state.roles))
        if problem is None:
            problem = (USER_GONE if state.name is None
                       else refusal(claim, state.generation, state.sign_in, state.kind == DELETED)
                       or (None if state.sign_in else "the chat sign-in is from an older chatd"))
        if problem:
            await self._failed(f"user:{claim.user_id}", problem, 401, "bad_token",
                               f"the chat sign-in is not valid ({problem}): sign in to the chat again",
                               problem.fields if isinstance(problem, Worded) else None)  # its cause
        ban = self.chat.moderation.ban_of(claim.user_id, None)
        if ban is not None:
            why = f" ({ban.reason})" if ban.reason else ""
            await self._failed(f"user:{claim.user_id}", "banned", 403, "banned",
                               f"this chat account is banned {lasting(ban, self.chat.moderation.wall())}{why}: "
                               "it may not sign in to the admin page", {"reason": ban.reason, "until": ban.until})
        if not who.roles:
            await self._failed(f"user:{claim.user_id}", "no role", 403, "forbidden",
                               "this chat account has neither the role admin nor moderator",
                               {"reason": ROLE, "role": MODERATOR})  # the least role that signs in
        try:
            token, csrf, actor = await self.admin.sessions.open_user(
                claim.user_id, who.name, who.roles, state.sign_in.id, state.generation, self.request.remote_ip or "")
        except UserDeleted:  # deleted since its state was read
            await self._failed(f"user:{claim.user_id}", ACCOUNT_DELETED, 401, "bad_token",
                               f"the chat sign-in is not valid ({ACCOUNT_DELETED}): sign in to the chat again")
        await self._signed_in(token, csrf, actor, "chat")


class SessionHandler(AdminHandler):
    role = MODERATOR

    def get(self) -> None:
        self.reply({"actor": shown(self.actor), "csrf": self.session.row.csrf,
                    "expires": self.admin.sessions.expires(self.session)})


class LogoutHandler(AdminHandler):
    role = MODERATOR

    async def post(self) -> None:
        await self.admin.sessions.end(self.session)
        await self.chat.store.audit.add(entry(self.actor, "admin.logout", target_of(self.actor),
                                              detail={"address": self.request.remote_ip}))
        self.clear_cookie(COOKIE, path="/admin", httponly=True, secure=True, samesite="Strict")
        self.reply({})


def routes() -> list[tuple[str, type]]:
    return [(rf"{API}/login", PasswordLogin), (rf"{API}/login/chat", ChatLogin),
            (rf"{API}/session", SessionHandler), (rf"{API}/logout", LogoutHandler)]
