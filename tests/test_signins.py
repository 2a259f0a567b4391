"""Signing out, end to end on a real server (docs/protocol.md, "Signing out"):
tokens of a signed-out sign-in are refused, and the connections that were
online with it end with close code 4401; tokens from the future or made
for another purpose prove nobody."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from chatd.auth.tokens import CLOCK_SKEW, TokenSigner
from chatd.protocol.codes import CloseCode
from chatd.server import Server
from tests.wsclient import TIMEOUT, ChatClient


async def closed(client: ChatClient) -> tuple[int | None, str | None]:
    """The close code and reason the server ended the connection with."""
    async with asyncio.timeout(TIMEOUT):
        await client.ws.wait_closed()
    return client.ws.close_code, client.ws.close_reason


async def another_sign_in(server: Server, connect: Any, user_id: int) -> ChatClient:
    """The same user on another device: a sign-in of its own (as a token from before
    sign-ins, or a future way of signing in, makes), online."""
    stored = await server.store.sign_ins.ensure(user_id, None, legacy=f"device-of-{user_id}")
    client = await connect()
    client.welcome = await client.identify(token=server.chat.tokens.issue(user_id, server.store.epoch.id,
                                                                           stored.id, generation=0))
    assert client.welcome["type"] == "welcome", client.welcome
    return client


async def test_sign_out_ends_this_sign_in_its_tabs_and_its_tokens_only(server, user, connect):
    alice = await user("alice", "lobby")
    first_token = alice.welcome["token"]
    tab = await connect()  # a second tab of the same browser: the same sign-in
    renewed = (await tab.identify(token=first_token))["token"]
    phone = await another_sign_in(server, connect, alice.welcome["user"]["id"])
    assert (await phone.request("join", room="lobby"))["type"] == "joined"
    bob = await user("bob", "lobby")

    answer = await alice.request("sign_out")
    assert answer["type"] == "signed_out" and answer["everywhere"] is False
    assert await closed(alice) == (CloseCode.SIGNED_OUT, "signed out")
    assert await closed(tab) == (CloseCode.SIGNED_OUT, "signed out"), "a tab online with the sign-in ends too"
    for token in (first_token, renewed, alice.welcome["token"]):  # every token of the line, old and renewed
        refused = await (await connect()).identify(token=token)
        assert refused["code"] == "bad_token" and "signed out" in refused["message"], refused
    assert (await phone.say("lobby", "still here"))["type"] == "ack", "another sign-in is not signed out"
    assert (await (await connect()).identify(token=phone.welcome["token"]))["type"] == "welcome"
    assert (await bob.say("lobby", "bob is not affected"))["type"] == "ack"


async def test_sign_out_everywhere_from_another_device_ends_every_session_and_token(server, user, connect):
    alice = await user("alice", "lobby")
    phone = await another_sign_in(server, connect, alice.welcome["user"]["id"])
    bob = await user("bob", "lobby")

    answer = await phone.request("sign_out", everywhere=True)
    assert answer == {"type": "signed_out", "everywhere": True, "cid": answer["cid"]}
    assert await closed(phone) == (CloseCode.SIGNED_OUT, "signed out everywhere")
    assert await closed(alice) == (CloseCode.SIGNED_OUT, "signed out everywhere"), "online elsewhere: ended"
    for token in (alice.welcome["token"], phone.welcome["token"]):
        refused = await (await connect()).identify(token=token)
        assert refused["code"] == "bad_token" and "signed out everywhere" in refused["message"], refused
    assert (await bob.say("lobby", "bob is not affected"))["type"] == "ack"
    again = await connect()  # the name is free again for alice once she signs in anew
    assert (await again.identify(name="carol"))["type"] == "welcome"


async def test_a_resume_waiting_for_the_store_when_its_sign_in_signs_out_is_refused(server, user, connect):
    """No connection slips in between the check of its token and a sign-out."""
    alice = await user("alice")
    tab = await connect()
    sign_ins = server.store.sign_ins
    state, gate = sign_ins.state, asyncio.Event()

    async def slow_state(*args: Any) -> Any:  # the read of the resume, held until the sign-out is done
        result = await state(*args)
        await gate.wait()
        return result

    sign_ins.state = slow_state
    try:
        await tab.send({"type": "identify", "token": alice.welcome["token"], "cid": "late"})
        await alice.request("sign_out")
        gate.set()
        refused = await tab.expect_cid("late")
    finally:
        del sign_ins.state
    assert refused["code"] == "bad_token" and refused["message"] == "this sign-in was signed out", refused


async def test_sign_out_needs_an_identified_connection_and_a_boolean(user, connect):
    stranger = await connect()
    assert (await stranger.request("sign_out"))["code"] == "not_identified"
    alice = await user("alice")
    refused = await alice.request("sign_out", everywhere="yes")
    assert refused["code"] == "bad_frame" and "'everywhere'" in refused["message"]
    assert (await alice.request("rooms"))["type"] == "rooms", "a refused sign_out changes nothing"


async def test_a_token_from_the_future_or_for_another_purpose_proves_nobody(server, user, connect):
    alice = await user("alice")
    claim = server.chat.tokens.verify(alice.welcome["token"])
    ahead = server.chat.tokens.issue(claim.user_id, claim.epoch, claim.sign_in, claim.generation,
                                     now=time.time() + CLOCK_SKEW + 60)
    refused = await (await connect()).identify(token=ahead)
    assert refused["code"] == "bad_token" and "in the future" in refused["message"], refused
    upload = TokenSigner(server.store.secret(), 3600, purpose="chatd.upload")
    other = upload.issue(claim.user_id, claim.epoch, claim.sign_in, claim.generation)
    refused = await (await connect()).identify(token=other)
    assert refused["code"] == "bad_token" and "another purpose" in refused["message"], refused
