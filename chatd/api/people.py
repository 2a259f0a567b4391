"""Naming users in the HTTP API: by chatd's user id, or by the web app's own id for them, the
``sub`` of its app tokens (``chatd.auth.apptokens``; stored as the user's ``external_id``). The
app knows its ids, not chatd's, so every argument that names a user takes either (docs/api.md,
"Naming users"):

- in a JSON body: ``X`` (a chatd id) or its twin ``X_sub`` (the app's id), at most one of the
  two: ``to``/``to_sub``, ``as``/``as_sub``, ``user_ids``/``subs`` (JSON keeps numbers and
  strings apart, and a schema says "this one or that one" of body fields);
- in a URL, path or query (and a batch item's path and query arguments): a chatd id, or ``sub:``
  and the app's id, URL-encoded (``/users/sub:shop-42/online``, ``?with=sub:shop-7``): a URL
  holds only strings, and OpenAPI cannot say "one of two query parameters".

A ``sub`` names a user once it has identified with an app token at least once; before that it
is ``no_such_user`` naming it.

    fields = named("to", "the user to send it to")        # {"to": Field, "to_sub": Field}
    user_id = await resolve(call, "to")                    # chatd id, None if neither was given
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chatd.api.base import ApiError, Call
from chatd.api.fields import FREE_TEXT_PATTERN, USER_ID, Field, Kind, _whole, string, whole
from chatd.auth.apptokens import SUB_MAX
from chatd.client_refusals import no_such_sub
from chatd.protocol.codes import MAX_ID
from chatd.protocol.fields import _user_id

SUB = string(SUB_MAX)
SUB_PREFIX = "sub:"  # a user named in a URL by the app's id


@dataclass(frozen=True)
class Sub:
    """A user named by the app's id (``sub:…`` in a URL), resolved by ``resolve``."""

    value: str


def _url_user(v: Any) -> int | Sub:
    if isinstance(v, Sub):  # read from the URL already (_url_user_text)
        return v
    if isinstance(v, str):
        if not v.startswith(SUB_PREFIX):
            raise ValueError(f"must be a user id, or {SUB_PREFIX!r} and the app's user id")
        return Sub(SUB.check(v[len(SUB_PREFIX):]))
    return whole(_user_id)(v)


def _url_user_text(text: str) -> int | Sub:
    return _url_user(text if text.startswith(SUB_PREFIX) else _whole(text))


# A user in a URL: a chatd id, or "sub:" and the app's id.
URL_USER = Kind(_url_user, {"anyOf": [
    {"type": "integer", "minimum": 1, "maximum": MAX_ID},
    {"type": "string", "minLength": len(SUB_PREFIX) + 1, "maxLength": len(SUB_PREFIX) + SUB_MAX,
     "pattern": f"^{SUB_PREFIX}{FREE_TEXT_PATTERN[1:]}"}],
    "description": "a chatd user id, or 'sub:' and the app's user id (the sub of its app tokens)"}, _url_user_text)


def named(name: str, doc: str) -> dict[str, Field]:
    """The twin body fields naming one user: ``name`` (a chatd id) and ``name_sub`` (the app's id)."""
    return {name: Field(USER_ID, doc=f"{doc}: a chatd user id"),
            f"{name}_sub": Field(SUB, doc=f"{doc}: the app's user id (the sub of its app tokens)")}


def twins(name: str) -> tuple[str, str]:
    """The one_of / at_most_one group of ``named(name)``."""
    return name, f"{name}_sub"


async def resolve(call: Call, name: str) -> int | None:
    """The chatd id of the user the argument ``name`` (or ``name_sub``; in a URL, ``sub:…``) names;
    None when neither is given; ApiError ``no_such_user`` for a sub no user signed in with."""
    given = call.args.get(name)
    if isinstance(given, Sub):
        return (await resolve_subs(call, [given.value]))[0]
    if given is not None:
        return given
    sub = call.args.get(f"{name}_sub")
    return None if sub is None else (await resolve_subs(call, [sub]))[0]


async def resolve_subs(call: Call, subs: list[str]) -> list[int]:
    """The chatd ids of the users ``subs`` name, in order; ApiError naming the first unknown one."""
    found = await call.api.chat.store.members.users_by_sub(subs)
    missing = next((sub for sub in subs if sub not in found), None)
    if missing is not None:
        raise ApiError.of(no_such_sub(missing))
    return [found[sub] for sub in subs]
