"""How chatd words a length of time (chatd.durations): the time really left, to the second."""

from __future__ import annotations

import pytest

from chatd.durations import counted, duration_text, whole_seconds


@pytest.mark.parametrize(("seconds", "text"), [
    (0.2, "1 second"), (1, "1 second"), (3, "3 seconds"), (59.5, "1 minute"), (60, "1 minute"),
    (61, "1 minute 1 second"), (90, "1 minute 30 seconds"), (599.999, "10 minutes"), (3600, "1 hour"),
    (3601, "1 hour"), (3661, "1 hour 1 minute"), (5400, "1 hour 30 minutes"), (86400, "1 day"),
    (86401, "1 day"), (90061, "1 day 1 hour"), (86400 * 30, "30 days"), (1 / (2 / 3600), "30 minutes"),
])
def test_a_duration_says_its_two_largest_units_never_more_than_a_part_of_a_second_over(seconds, text):
    assert duration_text(seconds) == text


def test_whole_seconds_round_up_and_are_at_least_one():
    assert [whole_seconds(s) for s in (0.001, 1, 1.2, 1800.0000001)] == [1, 1, 2, 1800]


def test_a_count_says_its_noun_in_the_singular_for_one_only():
    assert [counted(n, "day") for n in (0, 1, 2)] == ["0 days", "1 day", "2 days"]
