"""The database epoch (pure): which tokens and positions a restored database still honours."""

from __future__ import annotations

import pytest

from chatd.epoch import PRE_EPOCH, Epoch


def test_a_new_epoch_is_random_and_trusts_nobody_else():
    a, b = Epoch.create(), Epoch.create()
    assert a.id != b.id and a.id.isalnum()
    assert a.token_problem(a.id, 10**9) is None
    assert a.token_problem(b.id, 1) and "another database" in a.token_problem(b.id, 1)
    assert a.token_problem(PRE_EPOCH, 1), "a new database is not the one tokens from before epochs came from"
    assert a.same_database(a.id) and not a.same_database(b.id)


def test_a_migrated_database_is_the_same_one_it_was_before_epochs():
    migrated = Epoch.create(trusted={PRE_EPOCH: None})
    assert migrated.token_problem(PRE_EPOCH, 12345) is None
    assert migrated.same_database(PRE_EPOCH)


def test_a_restore_trusts_the_backups_users_only_and_no_positions():
    backup = Epoch.create()
    restored = backup.restored(users=5, messages=100, replaced_messages=120)
    assert restored.id not in (backup.id, "")
    assert restored.token_problem(backup.id, 5) is None, "a user the backup has is the same user"
    assert "restored" in restored.token_problem(backup.id, 6), "a user who signed up after the backup is nobody"
    assert not restored.same_database(backup.id), "every position from before the restore is stale"
    assert [i for i in (100, 101, 120, 121) if restored.is_void(i)] == [101, 120]


def test_restores_chain_and_caps_what_was_trusted():
    before_epochs = Epoch.create(trusted={PRE_EPOCH: None})
    first = before_epochs.restored(users=10, messages=50, replaced_messages=60)
    assert first.token_problem(PRE_EPOCH, 10) is None and first.token_problem(PRE_EPOCH, 11)
    assert not first.same_database(PRE_EPOCH)
    # A backup of the restored database, restored in its turn, keeps what its epoch knew.
    second = first.restored(users=8, messages=70, replaced_messages=70)
    assert second.token_problem(first.id, 8) is None and second.token_problem(first.id, 9)
    assert second.token_problem(before_epochs.id, 8) is None and second.token_problem(before_epochs.id, 9)
    assert second.token_problem(PRE_EPOCH, 8) is None
    assert second.void == ((51, 60),), "nothing was handed out beyond the backup: no new void"


@pytest.mark.parametrize("epoch", [Epoch.create(), Epoch.create().restored(users=3, messages=9, replaced_messages=20),
                                   Epoch.create(trusted={PRE_EPOCH: None})])
def test_the_meta_rows_read_back_the_same(epoch: Epoch):
    assert Epoch.from_meta(epoch.to_meta()) == epoch


def test_damaged_meta_rows_are_refused():
    with pytest.raises(KeyError):
        Epoch.from_meta({})
    with pytest.raises(ValueError):
        Epoch.from_meta({"epoch": "ab", "epoch_trusted": "[]"})


def test_stale_positions():
    backup = Epoch.create()
    here = backup.restored(users=5, messages=100, replaced_messages=120)
    assert not here.stale(here.id, 130, None, newest=130) and not here.stale(None, 50, 60, newest=130)
    assert here.stale(backup.id, 50, None, newest=130), "another epoch: even an id the backup has"
    assert here.stale(here.id, None, 110, newest=130), "a void id is stale whatever the client says"
    assert here.stale(None, 131, None, newest=130), "beyond every id handed out"
    assert not here.stale(None, None, 10**9, newest=130), "`before` may lie beyond: it only bounds a page"
    assert here.stale(backup.id, None, None, newest=130), "another epoch, even without ids (welcome says reset)"


# Through the protocol, on a real server (docs/protocol.md, "Epochs"). A restore is in test_restore.py.


async def test_welcome_carries_the_epoch_and_tokens_are_of_it(user, server):
    alice = await user("alice")
    assert alice.welcome["epoch"] == server.store.epoch.id and "reset" not in alice.welcome
    assert server.chat.tokens.verify(alice.welcome["token"]).epoch == alice.welcome["epoch"]


async def test_positions_from_another_epoch_or_beyond_the_newest_id_are_reset(user, connect):
    alice = await user("alice", "lobby")
    ack = await alice.say("lobby", "one")
    epoch = alice.welcome["epoch"]
    again = await connect()
    welcome = await again.identify(token=alice.welcome["token"], since=ack["id"], epoch="0ther")
    assert welcome["reset"] is True and welcome["epoch"] == epoch
    assert (await again.request("join", room="lobby", since=ack["id"]))["reset"] is True, "the identify's epoch"
    same = await again.request("join", room="lobby", since=ack["id"], epoch=epoch)
    assert "reset" not in same and same["messages"] == []
    beyond = await again.request("join", room="lobby", since=ack["id"] + 1, epoch=epoch)
    assert beyond["reset"] is True and [m["id"] for m in beyond["messages"]] == [ack["id"]]
    page = await again.request("history", room="lobby", after=ack["id"] + 1, epoch=epoch)
    assert page["reset"] is True and [m["text"] for m in page["messages"]] == ["one"]
    newest = await again.request("history", room="lobby", before=ack["id"] + 10**6, epoch=epoch)
    assert "reset" not in newest, "`before` beyond the newest id only bounds a page"


async def test_a_resume_in_the_same_epoch_is_untouched(user, connect):
    alice = await user("alice", "lobby")
    bob = await user("bob")
    psst = await bob.request("say", to=alice.welcome["user"]["id"], text="psst")
    again = await connect()
    welcome = await again.identify(token=alice.welcome["token"], since=psst["id"] - 1)
    assert "reset" not in welcome and [m["id"] for m in welcome["messages"]] == [psst["id"]]


@pytest.mark.parametrize("epoch", ["", "a b", "é", "x" * 65, 7])
async def test_a_malformed_epoch_is_a_bad_frame(connect, epoch):
    client = await connect()
    answer = await client.identify(name="alice", epoch=epoch)
    assert answer["code"] == "bad_frame" and "'epoch'" in answer["message"]


def test_restoring_twice_keeps_the_tokens_of_the_first_restore_for_users_both_have():
    live = Epoch.create()
    first = live.restored(users=5, messages=100, replaced_messages=110, replaced=live)
    assert first.trusted == {live.id: 5}, "the replaced epoch is the backup's: nothing more to trust"
    # Users reconnected and hold tokens of `first`; then an older backup of `live` is restored.
    second = live.restored(users=3, messages=60, replaced_messages=120, replaced=first)
    assert second.token_problem(first.id, 3) is None, "user 3 is the same in both"
    assert second.token_problem(first.id, 4), "user 4 is not in the older backup"
    assert second.token_problem(live.id, 3) is None and second.token_problem(live.id, 4)
    unrelated = Epoch.create().restored(users=9, messages=9, replaced_messages=9, replaced=first)
    assert first.id not in unrelated.trusted, "a backup of another database shares no users"
