"""Mentions: which users a message's ``@name`` tokens name (docs/protocol.md, "Mentions"). Pure: no I/O.

The rule, which the page's @-completion follows when it inserts a name:

- ``@`` starts a mention where it opens the text or follows a character that is neither
  a word character nor ``@`` (``a@b.org`` and ``@@ann`` mention nobody), as bots' mentions
  (``chatd.bots``).
- Then comes the user's current display name as it is shown, spaces and all (``@Ana María``),
  followed by the end of the text or a character that is not a word character (``@ann,`` and
  ``(@ann)`` mention ann; ``@anna`` does not mention ann).
- Names compare as chatd compares them everywhere (``chatd.names.name_keys``: case-folded
  confusable skeletons): ``@ANN`` and ``@Аnn`` with a Cyrillic А mention ann. Where several
  names fit at one ``@`` (``ann`` and ``ann lee``), the longest wins.
- Only the candidates are mentioned: for a room message, the users who follow the room (joined
  it and did not leave: ``chatd.store.readstate``); a name nobody there has mentions nobody.
  Several candidates whose names look alike (one let a name go, another took it) are all mentioned.
- The sender is never mentioned by its own message; at most ``MENTIONS_MAX`` users, and only the
  first ``STARTS_MAX`` ``@`` signs are looked at, so the cost per message is bounded.

    >>> resolve("hi @Ann, see @bob", [(3, "ann"), (4, "Bob")], sender_id=9)
    [3, 4]
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

from chatd.names import NAME_MAX, name_keys

MENTIONS_MAX = 20  # users one message may mention
STARTS_MAX = 50  # "@" signs of one message looked at
KEYS_CACHED = 8192  # names whose keys are kept: a room's followers are looked up again at each mention

_START = re.compile(r"(?<![\w@])@")
_WORD = re.compile(r"\w")


@functools.lru_cache(maxsize=KEYS_CACHED)
def _keys(name: str) -> frozenset[str]:
    return name_keys(name)


def resolve(text: str, candidates: Iterable[tuple[int, str]], sender_id: int | None = None) -> list[int]:
    """The ids of the ``candidates`` ((user id, current name)) that ``text`` mentions, in the order
    their mentions first appear, the sender left out; the module's rule."""
    if "@" not in text:
        return []
    by_key: dict[str, list[int]] = {}
    for user_id, name in candidates:
        if user_id != sender_id:
            for key in _keys(name):
                by_key.setdefault(key, []).append(user_id)
    found: list[int] = []
    for n, start in enumerate(_START.finditer(text)):
        if n == STARTS_MAX or len(found) >= MENTIONS_MAX:
            break
        for user_id in _longest(text, start.end(), by_key):
            if user_id not in found and len(found) < MENTIONS_MAX:
                found.append(user_id)
    return found


def _longest(text: str, at: int, by_key: dict[str, list[int]]) -> list[int]:
    """The users whose name is the longest that fits at ``at`` (just after an ``@``), or []."""
    for end in range(min(len(text), at + NAME_MAX), at, -1):
        if text[end - 1].isspace() or (end < len(text) and _WORD.match(text, end)):
            continue  # a name never ends in a space; a mention ends where a word does
        ids = [user_id for key in _keys(text[at:end]) for user_id in by_key.get(key, ())]
        if ids:
            return ids
    return []


def stored(user_ids: list[int]) -> str | None:
    """How ``message.mentions`` keeps them: ",3,17," (None for nobody), so that SQL finds a user's
    with ``LIKE '%,3,%'`` (``like``)."""
    return f",{','.join(map(str, user_ids))}," if user_ids else None


def like(user_id: int) -> str:
    """The LIKE pattern that matches a ``stored`` value mentioning ``user_id``."""
    return f"%,{user_id},%"


def listed(value: str | None) -> list[int]:
    """The user ids of a ``stored`` value, as message frames carry them."""
    return [int(part) for part in value.strip(",").split(",")] if value else []
