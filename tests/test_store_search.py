"""The search index and the filtered reads of messages (``chatd.store.search``) on a real
SQLite file and a real PostgreSQL database: Chinese and English, queries shaped like the
databases' query syntax, who finds what, the index following tombstones and deletes by
itself, keyset pages, time ranges, and the migration that builds the index."""

from __future__ import annotations

import asyncio

import pytest

from chatd.fulltext import prepare
from chatd.store import Draft
from chatd.store.migrations import MIGRATIONS, _v15_search_index
from chatd.store.schema import MODELS, now_ms
from chatd.store.search import Filters, Scope
from chatd.store.searchindex import WATERMARK, index_pending
from tests.stores import new_user, opened, save

EVERYTHING = Scope(private=True)


async def _say(store, room: tuple[int, str], user: tuple[int, str], text: str) -> int:
    return (await save(store, Draft(user[0], user[1], text, room_id=room[0], room_name=room[1]))).row.id


async def _texts(store, query: str, scope: Scope = EVERYTHING, **filters) -> list[str]:
    rows, _ = await store.search.find(scope, Filters(text=query, **filters), before=None, limit=50)
    return [row.text for row in rows]


@pytest.fixture
async def lobby_with_alice(any_store):
    alice = await new_user(any_store, "alice")
    lobby = await any_store.create_room("lobby", "", None)
    return (lobby, "lobby"), (alice, "alice")


async def test_chinese_two_characters_english_prefix_and_mixed_text_are_found(any_store, lobby_with_alice):
    lobby, alice = lobby_with_alice
    texts = ["今天的会议改到下午三点", "We deployed the new build", "部署 deploy 完成了，会后见", "unrelated chatter",
             "议会 is another word"]
    for text in texts:
        await _say(any_store, lobby, alice, text)
    assert await _texts(any_store, "会议") == ["今天的会议改到下午三点"], "two characters next to each other, in order"
    assert await _texts(any_store, "deploy") == ["部署 deploy 完成了，会后见", "We deployed the new build"]
    assert await _texts(any_store, "DEPLOYED") == ["We deployed the new build"], "case ignored"
    assert await _texts(any_store, "部署 deploy") == ["部署 deploy 完成了，会后见"], "mixed: every part must match"
    assert await _texts(any_store, "完成") == ["部署 deploy 完成了，会后见"], "CJK punctuation separates"
    assert await _texts(any_store, "会") == ["议会 is another word", "部署 deploy 完成了，会后见",
                                            "今天的会议改到下午三点"]
    assert await _texts(any_store, "三点 会议") == ["今天的会议改到下午三点"]
    assert await _texts(any_store, "会议 deploy") == []
    assert await _texts(any_store, "the") == ["We deployed the new build"]
    assert await _texts(any_store, "xyzzy") == []


@pytest.mark.parametrize(("written", "typed"), [
    ("deploy now", "ＤＥＰＬＯＹ"), ("ＤＥＰＬＯＹ ｎｏｗ", "deploy"), ("テキスト", "ﾃｷｽﾄ"), ("ﾃｷｽﾄ", "テキスト"),
    ("デプロイ", "ﾃﾞﾌﾟﾛｲ"), ("Straße", "STRASSE"), ("ΟΔΟΣ", "οδος"), ("the ﬁle", "file"), ("№①", "no1"),
])
async def test_width_case_and_compatibility_forms_are_one(any_store, lobby_with_alice, written, typed):
    lobby, alice = lobby_with_alice
    await _say(any_store, lobby, alice, written)
    await _say(any_store, lobby, alice, "unrelated")
    assert await _texts(any_store, typed) == [written]
    assert await _texts(any_store, written) == [written]


CORPUS = ["ＤＥＰＬＯＹ ﾃｷｽﾄ ﾃﾞﾌﾟﾛｲ", "Straße ẞ ΟΔΟΣ ᾼ ͅ ᲀ ꭰ Ꭰ", "ﬁle № ① ㍿ ㌔", "今天的会议，deploy完成！",
          "İstanbul ǅ Ω K Å", "plain English", "ΐ ΰ ǰ ŉ"]


async def test_the_database_prepares_a_text_as_the_python_side_does(any_store):
    """The index's preparation runs in the database (chatd.store.searchindex): on PostgreSQL a SQL
    function that must give what ``chatd.fulltext.prepare`` gives, on which the queries rely."""
    placeholder = "%s" if any_store.__class__.__name__ == "PostgresStore" else "?"
    prepared = await any_store.read(lambda: [any_store.db.execute_sql(
        f"SELECT chatd_search_text({placeholder})", (text,)).fetchone()[0] for text in CORPUS])
    assert prepared == [prepare(text) for text in CORPUS]


DEPLOYED, NEAR = "We deployed the new build", "NEAR the door, AND OR NOT"


@pytest.mark.parametrize(("query", "expected"), [
    ('"', []), ('"deploy', [DEPLOYED]), ('deploy"', [DEPLOYED]), ("*", []), ("deploy*", [DEPLOYED]),
    ("NEAR(deploy build)", []), ("-deploy", [DEPLOYED]), ("deploy AND", []), ("OR deploy", []), ("AND", [NEAR]),
    ("NOT", [NEAR]), ("deploy -build", [DEPLOYED]), ("(deploy", [DEPLOYED]), ("body:deploy", []),
    ("deploy:*", [DEPLOYED]), ("deploy & !build", [DEPLOYED]), ("'deploy'", [DEPLOYED]),
    ("deploy <-> build", [DEPLOYED]), ("^deploy", [DEPLOYED]), ("\\", []), ("deploy'); DROP TABLE message; --", []),
    ("{deploy}", [DEPLOYED]), ("d", []), ("de", []), ("", []), ("   ", []), ("。，！", []), ("the", [NEAR, DEPLOYED]),
    ("door,", [NEAR]), ("\x00deploy", [DEPLOYED]), ("deploy\u200b", [DEPLOYED]),
])
async def test_a_query_shaped_like_query_syntax_is_plain_text(any_store, lobby_with_alice, query, expected):
    """Quotes, operators, column filters, prefixes, NUL: searched as the words they hold, never an error."""
    lobby, alice = lobby_with_alice
    await _say(any_store, lobby, alice, DEPLOYED)
    await _say(any_store, lobby, alice, NEAR)
    assert await _texts(any_store, query) == expected
    assert len((await any_store.room_history(lobby[0], before=None, after=None, limit=10)).rows) == 2


async def test_operators_words_are_words(any_store, lobby_with_alice):
    lobby, alice = lobby_with_alice
    await _say(any_store, lobby, alice, "NEAR the door, AND OR NOT")
    await _say(any_store, lobby, alice, "deployed")
    assert await _texts(any_store, "NEAR") == ["NEAR the door, AND OR NOT"]
    assert await _texts(any_store, "AND OR NOT") == ["NEAR the door, AND OR NOT"]
    assert await _texts(any_store, "deploy NOT") == []


async def test_a_tombstone_an_edit_and_a_deleted_row_leave_the_index_by_themselves(any_store, lobby_with_alice):
    """Each change made by plain SQL (any other code, or an operator), to messages indexed
    already and to messages not indexed yet (SQLite indexes new ones a moment later)."""
    lobby, alice = lobby_with_alice

    def change(gone: int, purged: int, edited: int) -> None:  # the index is not told
        q = any_store._q
        any_store.db.execute_sql(q("UPDATE message SET text = '' WHERE id = ?"), (gone,))
        any_store.db.execute_sql(q("DELETE FROM message WHERE id = ?"), (purged,))
        any_store.db.execute_sql(q("UPDATE message SET text = 'fixed secret' WHERE id = ?"), (edited,))

    for when in ("indexed", "just stored"):
        ids = [await _say(any_store, lobby, alice, text) for text in ("secret 会议 plans", "another secret 会议",
                                                                     "typo secrte")]
        if when == "indexed":
            assert len(await _texts(any_store, "secret")) == 2
        await any_store.writer.run(lambda ids=ids: change(*ids))
        assert await _texts(any_store, "secret") == ["fixed secret"] * (1 if when == "indexed" else 2), when
        assert await _texts(any_store, "会议") == [], when
        assert await _texts(any_store, "secrte") == [], when


async def test_a_room_deleted_with_its_messages_leaves_nothing_found(any_store, lobby_with_alice):
    _, alice = lobby_with_alice
    club = await any_store.create_room("club", "", None, members_only=True)
    await _say(any_store, (club, "club"), alice, "in the club")
    assert await _texts(any_store, "club") == ["in the club"]
    assert await any_store.members.delete_room(club)
    assert await _texts(any_store, "club") == []


async def test_users_find_the_rooms_they_can_read_and_their_own_private_messages(any_store, lobby_with_alice):
    lobby, (alice, _) = lobby_with_alice
    bob, carol = await new_user(any_store, "bob"), await new_user(any_store, "carol")
    club = await any_store.create_room("club", "", None, members_only=True)
    await any_store.members.add(club, [alice], "api")
    await _say(any_store, lobby, (alice, "alice"), "open plans")
    await _say(any_store, (club, "club"), (alice, "alice"), "club plans")
    await save(any_store, Draft(alice, "alice", "alice to bob plans", recipient_id=bob))
    await save(any_store, Draft(carol, "carol", "carol to alice plans", recipient_id=alice))
    await save(any_store, Draft(bob, "bob", "bob to carol plans", recipient_id=carol))
    assert await _texts(any_store, "plans", Scope(viewer=alice)) == [
        "carol to alice plans", "alice to bob plans", "club plans", "open plans"]
    assert await _texts(any_store, "plans", Scope(viewer=bob)) == [
        "bob to carol plans", "alice to bob plans", "open plans"], "no members-only room, no other pair's"
    assert await _texts(any_store, "plans", Scope(viewer=alice), with_user=bob) == ["alice to bob plans"]
    assert await _texts(any_store, "plans", Scope(viewer=bob), room_id=club) == []
    assert await _texts(any_store, "plans", Scope()) == ["club plans", "open plans"], "operators: no private"
    assert len(await _texts(any_store, "plans", EVERYTHING)) == 5
    for reader, rooms in ((alice, ["club plans", "open plans"]), (bob, ["open plans"])):
        assert await _texts(any_store, "plans", Scope(reader=reader)) == rooms, "a moderator: no private"
        assert await _texts(any_store, "plans", Scope(reader=reader, private=True)) == rooms
    assert await _texts(any_store, "plans", Scope(reader=bob), room_id=club) == []
    assert await _texts(any_store, None, Scope(reader=bob), room_id=club) == [], "the log alike"


@pytest.mark.parametrize("window", [10_000, 5])
async def test_keyset_pages_cover_every_match_once_in_order(any_store, lobby_with_alice, monkeypatch, window):
    """``window``: how many of the newest messages PostgreSQL tests one by one before it asks the
    GIN index for the rest (chatd.store.search._postgres_text): pages are exact either way."""
    monkeypatch.setattr("chatd.store.search.RECENT_WINDOW", window)
    lobby, alice = lobby_with_alice
    ids = [await _say(any_store, lobby, alice, f"会议 number {n}" if n % 3 else f"other {n}") for n in range(40)]
    expected = [i for n, i in enumerate(ids) if n % 3][::-1]
    for filters in (Filters(text="会议"), Filters(room_id=lobby[0]), Filters()):
        seen, before, more = [], None, True
        while more:
            rows, more = await any_store.search.find(EVERYTHING, filters, before=before, limit=7)
            seen += [row.id for row in rows]
            before = rows[-1].id if rows else None
        assert seen == (expected if filters.text else ids[::-1])


async def test_filters_by_author_and_time_range(any_store, lobby_with_alice):
    lobby, alice = lobby_with_alice
    bob = (await new_user(any_store, "bob"), "bob")
    first = await _say(any_store, lobby, alice, "early")
    await _say(any_store, lobby, bob, "by bob")
    start = now_ms()

    def age(message_id: int, ms: int) -> None:
        any_store.db.execute_sql(any_store._q("UPDATE message SET ts = ? WHERE id = ?"), (ms, message_id))

    await any_store.writer.run(lambda: age(first, start - 3_600_000))
    late = await _say(any_store, lobby, alice, "late")
    rows, _ = await any_store.search.find(EVERYTHING, Filters(senders=(alice[0],)), before=None, limit=10)
    assert [r.text for r in rows] == ["late", "early"]
    rows, _ = await any_store.search.find(EVERYTHING, Filters(since=start - 1_800_000), before=None, limit=10)
    assert [r.text for r in rows] == ["late", "by bob"]
    rows, _ = await any_store.search.find(EVERYTHING, Filters(until=start - 1_800_000), before=None, limit=10)
    assert [r.text for r in rows] == ["early"]
    rows, _ = await any_store.search.find(EVERYTHING, Filters(since=now_ms() + 3_600_000), before=None, limit=10)
    assert rows == []
    rows, _ = await any_store.search.find(EVERYTHING, Filters(senders=()), before=None, limit=10)
    assert rows == [], "no such author: nothing"
    assert late


async def test_the_migration_indexes_the_messages_already_stored(any_store, lobby_with_alice, monkeypatch):
    """The step itself on both dialects: a database without the index gets it, with
    the messages stored before (in batches), and it follows rows from then on."""
    monkeypatch.setattr("chatd.store.searchindex.FILL_BATCH", 5)
    lobby, alice = lobby_with_alice
    for n in range(12):
        await _say(any_store, lobby, alice, f"旧的会议 {n}")
    db = any_store.db

    def drop_and_migrate() -> None:
        if any_store.__class__.__name__ == "PostgresStore":
            for statement in ("DROP TRIGGER message_search ON message", "ALTER TABLE message DROP COLUMN search",
                              "DROP FUNCTION chatd_message_search()", "DROP FUNCTION chatd_search_text(text)"):
                db.execute_sql(statement)
        else:
            for statement in ("DROP TRIGGER message_search_update", "DROP TRIGGER message_search_delete",
                              "DROP TABLE message_search", "DELETE FROM meta WHERE key = 'search_indexed'"):
                db.execute_sql(statement)
        with db.bind_ctx(MODELS), db.atomic():
            _v15_search_index(db)

    await any_store.writer.run(drop_and_migrate)
    assert len(await _texts(any_store, "会议")) == 12
    await any_store.writer.run(lambda: db.execute_sql("DELETE FROM message"))
    assert await _texts(any_store, "会议") == []
    assert _v15_search_index in MIGRATIONS


async def test_sqlite_indexes_new_messages_by_itself_a_moment_after_storing_them(tmp_path):
    """Off the hot path (chatd.store.searchindex): no search needed to set it going, and a
    store closed before it got to them indexes them at the next start."""
    store = opened(str(tmp_path / "chatd.db"))
    alice = await new_user(store, "alice")
    lobby = await store.create_room("lobby", "", None)
    ids = [await _say(store, (lobby, "lobby"), (alice, "alice"), f"会议 {n}") for n in range(3)]

    def indexed() -> list[int]:
        with store.db.connection_context():
            return [r for (r,) in store.db.execute_sql("SELECT rowid FROM message_search ORDER BY rowid")]

    found: list[int] = []

    async def poll() -> bool:
        found[:] = await store.read(indexed)
        return found == ids

    deadline = asyncio.get_running_loop().time() + 15
    while not await poll():
        assert asyncio.get_running_loop().time() < deadline, f"indexed {found}, not {ids}"
        await asyncio.sleep(0.05)
    store.search.indexer.stop()  # the next ones are left for the next start
    later = await _say(store, (lobby, "lobby"), (alice, "alice"), "会议 later")
    store.close()
    store = opened(str(tmp_path / "chatd.db"))
    try:
        assert [r.id for r in (await store.search.find(EVERYTHING, Filters(text="会议"), None, 10))[0]] == [
            later, *ids[::-1]]
    finally:
        store.close()


async def test_sqlite_indexes_again_what_it_finds_indexed_above_its_watermark(tmp_path):
    """The indexer's plain INSERT finds rows indexed already (an index kept from before its
    watermark): those are replaced, none is refused, each is found once."""
    store = opened(str(tmp_path / "chatd.db"))
    try:
        alice = await new_user(store, "alice")
        lobby = await store.create_room("lobby", "", None)
        ids = [await _say(store, (lobby, "lobby"), (alice, "alice"), f"会议 {n}") for n in range(3)]
        await store.search.indexer.caught_up()
        store.search.indexer.stop()
        db = store.db
        await store.writer.run(lambda: db.execute_sql(f"UPDATE meta SET value = '0' WHERE key = '{WATERMARK}'"))
        assert await store.writer.run(lambda: index_pending(db, 10)) == (ids[-1], False)
        assert [r.id for r in (await store.search.find(EVERYTHING, Filters(text="会议"), None, 10))[0]] == ids[::-1]
    finally:
        store.close()
