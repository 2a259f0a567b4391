"""Writes on a user's behalf that race its deletion (``chatd.store.living``), and writes to a
deleted user, on a real server with real clients: each is checked in the transaction that
writes it, so it either commits before the erasure (which then takes it back) or is refused,
``user_deleted`` / ``recipient_deleted``, with nothing written.

Each race is made certain, not likely: the server's writer is held by a job that waits, the
erasure is queued behind it, then the request — whose earlier checks (the user online, not
deleted) still pass — is queued after the erasure; then the writer goes on."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

from chatd.store.userdata import erase_identity
from tests.adminclient import ROOT
from tests.apiclient import api_call, api_key

HOLD_SECONDS = 30  # the held job's bound, should a test fail before releasing it


def uid(client) -> int:
    return client.welcome["user"]["id"]


def called(obj: Any, name: str, monkeypatch) -> asyncio.Event:
    """An event set when ``obj.name`` is called (the store's writes submit their job in the call)."""
    event, original = asyncio.Event(), getattr(obj, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        event.set()
        return original(*args, **kwargs)

    monkeypatch.setattr(obj, name, wrapper)
    return event


@contextlib.asynccontextmanager
async def erasure_queued(server, user_id: int) -> AsyncIterator[None]:
    """The writer held, the user's erasure (a deletion's first step) queued; the block's requests
    are queued after it, then the writer goes on (what they wrote after the erasure stays to be seen)."""
    released = threading.Event()
    held = server.store.writer.run(lambda: released.wait(HOLD_SECONDS))
    erasure = server.store.writer.run(lambda: erase_identity(server.store, user_id))
    try:
        yield
    finally:
        released.set()
        await held
        await erasure


@contextlib.asynccontextmanager
async def erased_first(server, user_id: int) -> AsyncIterator[None]:
    """``erasure_queued``, then the deletion is finished (kicks, tombstones)."""
    async with erasure_queued(server, user_id):
        yield
    await server.chat.user_care.delete(ROOT, user_id)  # the rest of the deletion (and its audit row)


async def raced(server, user_id: int, start: Callable[[], Any], queued: asyncio.Event) -> Any:
    """``start()``'s request (a coroutine), queued in the writer after the user's erasure; → its answer."""
    async with erased_first(server, user_id):
        answer = asyncio.ensure_future(start())
        await queued.wait()
    return await answer


async def count(server, sql: str, *args: Any) -> int:
    return await server.store.read(lambda: server.store.db.execute_sql(sql, args).fetchone()[0])


async def test_a_message_posted_as_a_user_while_it_is_deleted_is_refused_and_nothing_is_stored(
        server, user, monkeypatch):
    gone = await user("gone", "lobby")
    key = api_key(server, "publish")
    queued = called(server.store, "save_message", monkeypatch)
    status, body, _ = await raced(server, uid(gone), lambda: api_call(
        server, "POST", "/messages", {"room": "lobby", "text": "last words", "as": uid(gone)}, key=key), queued)
    assert (status, body["error"]["code"]) == (410, "user_deleted"), body
    assert await count(server, "SELECT count(*) FROM message") == 0


async def test_a_say_reaction_and_room_of_a_user_being_deleted_are_refused_and_nothing_is_written(
        server, user, monkeypatch):
    gone, bob = await user("gone", "lobby"), await user("bob", "lobby")
    said = await bob.say("lobby", "react to me")

    saving = called(server.store, "save_message", monkeypatch)
    refused = await raced(server, uid(gone), lambda: gone.request("say", room="lobby", text="boo"), saving)
    assert (refused["code"], refused["user"]) == ("user_deleted", uid(gone)), refused

    gone = await user("gone2", "lobby")
    reacting = called(server.store.changes, "react", monkeypatch)
    refused = await raced(server, uid(gone), lambda: gone.request("react", id=said["id"], emoji="\N{THUMBS UP SIGN}"),
                          reacting)
    assert refused["code"] == "user_deleted", refused

    gone = await user("gone3", "lobby")
    creating = called(server.store, "create_room", monkeypatch)
    refused = await raced(server, uid(gone), lambda: gone.request("create", room="haunt"), creating)
    assert refused["code"] == "user_deleted", refused

    assert await count(server, "SELECT count(*) FROM message WHERE deleted IS NULL") == 1, "bob's alone"
    assert await count(server, "SELECT count(*) FROM reaction") == 0
    assert await count(server, "SELECT count(*) FROM room WHERE name = ?", "haunt") == 0


async def test_a_private_message_to_a_deleted_user_is_refused_over_websocket_and_the_api(server, user):
    gone, bob = await user("gone"), await user("bob")
    gid = uid(gone)
    await server.chat.user_care.delete(ROOT, gid)
    refused = await bob.request("say", to=gid, text="are you there?")
    assert refused["type"] == "error" and (refused["code"], refused["user"]) == ("recipient_deleted", gid), refused
    assert refused["message"] == f"user {gid} was deleted: nothing can be sent to it"
    status, body, _ = await api_call(server, "POST", "/messages", {"to": gid, "text": "hello?", "as": uid(bob)},
                                     key=api_key(server, "publish"))
    assert (status, body["error"]["code"]) == (410, "recipient_deleted"), body
    assert await count(server, "SELECT count(*) FROM message") == 0


async def test_a_notification_stored_for_a_user_while_it_is_deleted_is_refused_and_not_kept(
        server, user, monkeypatch):
    gone = await user("gone")
    saving = called(server.store.events, "save", monkeypatch)
    status, body, _ = await raced(server, uid(gone), lambda: api_call(
        server, "POST", "/events", {"to": uid(gone), "name": "order.shipped", "store": True},
        key=api_key(server, "publish")), saving)
    assert (status, body["error"]["code"]) == (410, "recipient_deleted"), body
    assert await count(server, "SELECT count(*) FROM event") == 0
