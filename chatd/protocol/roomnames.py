"""The rules a room name keeps (docs/protocol.md, "join", its ``room``): its length, the characters it may
hold, and the one it may start with; ``room_name_problem`` says which is broken, as data a client
words itself. The ``room`` field of requests (``chatd.protocol.fields``), the HTTP API, app
tokens and the settings all check names here.
"""

from __future__ import annotations

import unicodedata

from chatd.names import Problem, characters_problem, describe
from chatd.protocol.codes import ROOM_MAX

ROOM_PUNCTUATION = "_.-"
# Joiners Sinhala and Indic conjuncts need; where they may stand is characters_problem's rule.
ROOM_JOINERS = "\u200c\u200d"
# The rules of room names alone (``Problem.fields["rule"]``; the others are names': chatd.names):
# the length, a character no room name holds, and a character a room name holds but not first.
ROOM_LENGTH, ROOM_CHARACTERS, ROOM_START = "room_length", "room_characters", "room_start"
ROOM_RULES = (ROOM_LENGTH, ROOM_CHARACTERS, ROOM_START)


def _room_char(c: str) -> bool:
    """Letters, digits, ``ROOM_PUNCTUATION``, joiners, and the marks that scripts
    such as Devanagari write their vowels with (Unicode categories Mn, Mc)."""
    return c.isalnum() or c in ROOM_PUNCTUATION or c in ROOM_JOINERS or unicodedata.category(c) in ("Mn", "Mc")


def room_name_problem(name: str) -> Problem | None:
    """Why a room name is invalid, or None when it is fine. Whether it looks like
    another room's name is ``chatd.names.name_keys``' business."""
    if not 1 <= len(name) <= ROOM_MAX:
        return Problem(f"must be 1 to {ROOM_MAX} characters", ROOM_LENGTH, limit=ROOM_MAX)
    # Names' rules first, so an invisible or bidirectional character is refused as it is for a user
    # name, naming it (``char``); they also catch invisible letters such as U+3164 HANGUL FILLER.
    problem = characters_problem(name)
    if problem:
        return problem
    wrong = next((c for c in name if not _room_char(c)), None)
    if wrong is not None:
        return Problem(f"contains {describe(wrong)}: room names may hold only letters (with their marks), "
                       "digits, '_', '-' and '.'", ROOM_CHARACTERS, char=describe(wrong))
    if not name[0].isalnum():  # a character it may hold, in the one place it may not stand
        return Problem(f"starts with {describe(name[0])}: a room name must start with a letter or digit",
                       ROOM_START, char=describe(name[0]))
    return None
