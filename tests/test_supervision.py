"""The supervisor's rules (chatd.supervision): when a dead worker starts
again, how its end is said, the figures of the whole set."""

from __future__ import annotations

from chatd.supervision import RESPAWN_FIRST, RESPAWN_MAX, combine, exit_reason, respawn_delay


def test_respawn_delay_doubles_from_the_second_quick_death_up_to_a_bound():
    assert respawn_delay(0) == 0
    delays = [respawn_delay(n) for n in range(1, 12)]
    assert delays[:3] == [RESPAWN_FIRST, 2 * RESPAWN_FIRST, 4 * RESPAWN_FIRST]
    assert delays == sorted(delays) and max(delays) == RESPAWN_MAX


def test_exit_reason():
    assert exit_reason(-9) == "was killed by SIGKILL"
    assert exit_reason(1) == "exited with status 1"
    assert exit_reason(-200) == "was killed by signal 200"


def test_combine_adds_counts_and_counts_each_user_once():
    own = {"version": "v", "pid": 1, "started_at": 0, "uptime_seconds": 5, "listen": "l", "database": "d",
           "rss_bytes": 100}

    def answer(connections: int, users: list[int]) -> dict:
        return {"connections": connections, "user_ids": users, "messages_since_start": 2, "messages_per_second": 0.5,
                "rss_bytes": 1000, "rooms": 3, "messages_stored": 10, "database_bytes": 4096, "epoch": "e",
                "restored": None, "database_unreachable": None}

    total = combine(own, [answer(3, [1, 2]), answer(2, [2, 3])])
    assert total["connections"] == 5 and total["users_online"] == 3, "user 2 is on both workers: once"
    assert total["rss_bytes"] == 2100 and total["messages_since_start"] == 4 and total["messages_per_second"] == 1.0
    assert total["messages_stored"] == 10 and total["rooms"] == 3 and total["epoch"] == "e"
    none = combine(own, [])
    assert none["connections"] == 0 and none["users_online"] == 0 and none["epoch"] is None
    assert none["messages_stored"] is None, "no worker answered: unknown, not 0"


def test_combine_reports_the_database_unreachable_when_a_worker_could_not_read_it():
    own = {"version": "v", "pid": 1, "started_at": 0, "uptime_seconds": 5, "listen": "l", "database": "d",
           "rss_bytes": 100}
    down = {"connections": 1, "user_ids": [1], "messages_since_start": 0, "messages_per_second": 0.0,
            "rss_bytes": 1000, "rooms": 2, "messages_stored": None, "database_bytes": None, "epoch": "e",
            "restored": None, "database_unreachable": "connection refused"}
    total = combine(own, [down, {**down, "messages_stored": 7, "database_bytes": 4096, "database_unreachable": None}])
    assert total["database_unreachable"] == "connection refused"
    assert total["messages_stored"] == 7 and total["database_bytes"] == 4096, "what one worker could read"
