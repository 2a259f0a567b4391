"""The rules of room names (chatd.protocol.roomnames), without a server."""

from __future__ import annotations

import pytest

from chatd.protocol.roomnames import room_name_problem


@pytest.mark.parametrize("name", ["lobby", "Room-2", "a.b_c", "café", "x" * 32, "中文", "हिन्दी", "ශ්\u200dරී",
                                  "فارسی", "தமிழ்"])
def test_good_room_names(name):
    """Scripts that write vowels as combining marks (Devanagari, Tamil) and join with ZWJ (Sinhala) too."""
    assert room_name_problem(name) is None


@pytest.mark.parametrize("name", ["", "-x", ".hidden", "_x", "a b", "x" * 33, "a/b", "@me", "#x", "lobby\n", "a\x00",
                                  "a\ufffe", "\u3164", "lo\u3164bby", "a\u202eb", "a\u200bb",
                                  "\u0301x", "a" + "\u0301" * 5, "a\u200d", "\u200dab"])
def test_bad_room_names(name):
    assert room_name_problem(name)  # \u3164 HANGUL FILLER is a letter to \w, but shows nothing
