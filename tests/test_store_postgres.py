"""The PostgreSQL store (a real server, tests/services.py): several nodes writing
the same database keep, per channel, ids in commit order with a complete
``prev`` chain; what PostgreSQL does differently from SQLite; a whole chatd
server on it. The tests both stores pass are in tests/test_store.py."""

from __future__ import annotations

import asyncio
import collections
import random
import threading

import psycopg
import pytest

from chatd.store import Draft, RoomExists
from chatd.store.base import READ_THREADS
from chatd.store.postgres import PostgresStore
from tests.stores import new_user, save

pytestmark = pytest.mark.postgres

NODES = 3
ROUNDS = 60  # per node: each a small burst, committed as one or a few batches
BURST_MAX = 5


async def open_nodes(url: str, count: int) -> list[PostgresStore]:
    """``count`` stores on one database, opened at the same moment (as nodes starting together)."""
    loop = asyncio.get_running_loop()
    stores = [PostgresStore(url, batch_max=8) for _ in range(count)]
    await asyncio.gather(*[asyncio.to_thread(store.open, loop) for store in stores])
    return stores


@pytest.fixture
async def nodes(postgres_url):
    stores = await open_nodes(postgres_url, NODES)
    yield stores
    for store in stores:
        store.close()


async def test_nodes_writing_the_same_channels_keep_id_order_equal_to_commit_order(nodes):
    """The check that fails if ordering breaks: in each channel (2 rooms, 3 users'
    inboxes, with conversations between every pair and to oneself) every message's
    ``prev`` is the message right before it by id, so a node that has seen a
    message's ``prev`` has seen everything before it in that channel."""
    first = nodes[0]
    users = [await new_user(first, name) for name in ("ann", "ben", "cat")]
    first.ensure_rooms(["red", "blue"])
    rooms = first.rooms()
    rng = random.Random(9)
    stored = []

    async def node_writes(store: PostgresStore, node: int) -> None:
        for round_ in range(ROUNDS):
            drafts = []
            for i in range(rng.randint(1, BURST_MAX)):
                sender = rng.choice(users)
                text = f"n{node} r{round_} {i}"
                if rng.random() < 0.5:
                    room_id, name, _ = rng.choice(rooms)
                    drafts.append(Draft(sender, "x", text, room_id=room_id, room_name=name))
                else:
                    drafts.append(Draft(sender, "x", text, recipient_id=rng.choice(users)))
            stored.extend(await asyncio.gather(*[save(store, d) for d in drafts]))

    await asyncio.gather(*[node_writes(store, n) for n, store in enumerate(nodes)])

    chains: dict[str, list[tuple[int, int]]] = collections.defaultdict(list)  # channel → [(id, prev)]
    for result in stored:
        assert not result.duplicate and len(result.prev) == len(result.channels)
        for channel, prev in zip(result.channels, result.prev, strict=True):
            chains[channel].append((result.row.id, prev))
    assert set(chains) == {f"room:{r[0]}" for r in rooms} | {f"user:{u}" for u in users}
    for channel, chain in chains.items():
        chain.sort()
        ids = [0] + [message_id for message_id, _ in chain]
        assert [prev for _, prev in chain] == ids[:-1], f"{channel}: a prev is not the message before it"
    page = await first.room_history(rooms[0][0], before=None, after=0, limit=10_000)
    assert [row.id for row in page.rows] == [i for i, _ in chains[f"room:{rooms[0][0]}"]], "the store agrees"
    assert len({result.row.id for result in stored}) == len(stored)


async def test_every_node_knows_the_ids_another_handed_out(nodes):
    a, b, _ = nodes
    uid = await new_user(a, "ann")
    a.ensure_rooms(["red"])
    room_id = a.rooms()[0][0]
    result = await save(a, Draft(uid, "ann", "hi", room_id=room_id, room_name="red"))
    assert await b.newest(at_least=result.row.id) == result.row.id
    page = await b.room_history(room_id, before=None, after=None, limit=10)
    assert [(row.id, row.text, row.room) for row in page.rows] == [(result.row.id, "hi", "red")]


async def test_look_alike_room_names_are_refused_and_names_are_unique_ignoring_case(postgres_url):
    (store,) = await open_nodes(postgres_url, 1)
    try:
        await store.create_room("Lobby", "")
        for name in ("lobby", "L\u043ebby"):  # another case; a Cyrillic о
            with pytest.raises(RoomExists) as refused:
                await store.create_room(name, "")
            assert refused.value.existing == "Lobby"
        # Under the room keys, the database itself refuses another case.
        with psycopg.connect(postgres_url) as conn, pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute("INSERT INTO room (name, topic, created) VALUES ('LOBBY', '', 0)")
    finally:
        store.close()


async def test_ids_are_64_bit_and_times_are_milliseconds(postgres_url):
    (store,) = await open_nodes(postgres_url, 1)
    try:
        uid = await new_user(store, "ann")
        store.ensure_rooms(["red"])
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute("SELECT setval('message_id_seq', 5000000000)")
        result = await save(store, Draft(uid, "ann", "far", room_id=store.rooms()[0][0], room_name="red"))
        assert result.row.id == 5000000001 and result.row.ts > 2**31
        assert await store.newest(at_least=result.row.id) == 5000000001
    finally:
        store.close()


async def test_readers_and_the_writer_connect_again_at_once_after_their_backends_are_terminated(postgres_url):
    (store,) = await open_nodes(postgres_url, 1)
    try:
        uid = await new_user(store, "ann")
        store.ensure_rooms(["red"])
        room = store.rooms()[0]
        await asyncio.gather(*(store.user_name(uid) for _ in range(4 * READ_THREADS)))  # every reader connected
        with psycopg.connect(postgres_url, autocommit=True) as conn:  # as an admin or a server restart would
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        # The first use of each dead connection finds it dead: the read, or the batch (not yet
        # committed), runs again on a new one. Nothing fails.
        names = await asyncio.gather(*(store.user_name(uid) for _ in range(4 * READ_THREADS)))
        assert names == ["ann"] * (4 * READ_THREADS)
        stored = await save(store, Draft(uid, "ann", "after", room_id=room[0], room_name=room[1]))
        assert (await store.room_history(room[0], before=None, after=None, limit=5)).rows == [stored.row]
        assert store.health.down() is None
    finally:
        store.close()


async def test_a_lock_key_the_database_refuses_fails_its_job_alone(postgres_url):
    (store,) = await open_nodes(postgres_url, 1)
    try:
        uid = await new_user(store, "ann")
        store.ensure_rooms(["red"])
        room_id, room_name = store.rooms()[0][:2]
        loop = asyncio.get_running_loop()
        held, bad = threading.Event(), loop.create_future()
        store.writer.submit(held.wait, lambda *_: None)  # the writer waits: what follows is one batch
        saves = [save(store, Draft(uid, "ann", f"m{i}", cid=f"c{i}", room_id=room_id, room_name=room_name))
                 for i in range(3)]
        store.writer.submit(lambda: None, lambda result, error: bad.set_result(error), (2**63,))  # beyond bigint
        saves += [save(store, Draft(uid, "ann", f"m{i}", cid=f"c{i}", room_id=room_id, room_name=room_name))
                  for i in range(3, 6)]
        held.set()
        stored = await asyncio.gather(*saves)
        assert [s.row.text for s in stored] == [f"m{i}" for i in range(6)]
        assert isinstance(await bad, psycopg.errors.NumericValueOutOfRange)
    finally:
        store.close()


@pytest.fixture
def config_overrides(postgres_url):
    return {"database": postgres_url}


async def test_a_server_on_postgresql_chats_and_resumes(server, user, connect):
    assert isinstance(server.store, PostgresStore)
    alice = await user("alice", "lobby")
    bob = await user("bob", "lobby")
    said = await alice.say("lobby", "hello")
    assert (await bob.expect("message", id=said["id"]))["text"] == "hello"
    private = await alice.request("say", to=bob.welcome["user"]["id"], text="psst")
    await bob.close()
    missed = await alice.say("lobby", "while away")
    again = await connect()
    welcome = await again.identify(token=bob.welcome["token"], since=0)
    assert [m["id"] for m in welcome["messages"]] == [private["id"]]
    joined = await again.request("join", room="lobby", since=said["id"])
    assert [m["id"] for m in joined["messages"]] == [missed["id"]]
    stats = await server.stats()
    assert stats["messages_stored"] == 3 and stats["database_bytes"] > 0


async def test_a_recipient_no_user_can_be_is_no_such_user_and_fails_no_one_else(server, user):
    attacker = await user("mallory")
    senders = [await user(name, "lobby") for name in ("alice", "bob", "carol")]
    for round_ in range(10):  # pipelined: the attacker's says share batches with the others'
        await attacker.send({"type": "say", "cid": f"x{round_}", "to": 2**62, "text": "boom"})
        for sender in senders:
            await sender.send({"type": "say", "cid": f"s{round_}", "room": "lobby", "text": f"r{round_}"})
    for round_ in range(10):
        refused = await attacker.expect_cid(f"x{round_}")
        assert refused["code"] == "no_such_user", refused
        for sender in senders:
            assert (await sender.expect_cid(f"s{round_}"))["type"] == "ack"
