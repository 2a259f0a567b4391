"""Names nobody may take: user and room names the operator reserved or blocked.
Pure: no I/O (``chatd.store.reserved`` keeps them, each node holds them here).

An entry is a name or a pattern in which ``*`` stands for any run of
characters (``*admin*`` holds back "superadmin" and "admin2"); there is no
other wildcard. Names are compared as look-alikes are (``chatd.names.name_keys``,
UTS #39 skeletons with case folding), so reserving ``Admin`` also holds back
``ADMIN``, ``Admіn`` with a Cyrillic і and fullwidth ``Ａｄｍｉｎ``. An entry's
``scope`` says what it holds back: user names ("user"), room names ("room")
or both ("any").

Who is held back (docs/operations.md, "Names"): guests choosing or changing a
name (``name_reserved``) and users creating a room over the WebSocket. Not the
web app's users (app tokens): the app vouches for their names, as it does for
look-alikes (``chatd.hub``, "Names"); nor rooms the app or an admin creates:
they are who reserve names. A user who had the name before keeps it.

    names = ReservedNames([Reserved(1, "admin", "any", "staff only")])
    names.match("Admіn", "user")      # → that entry
    pattern_problem("**")             # → "has nothing but wildcards"
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

from chatd.names import EMPTY, NAME_MAX, TOO_LONG, Problem, characters_problem, name_keys
from chatd.protocol.codes import Code, ProtocolError

WILDCARD = "*"
SCOPES = ("user", "room", "any")
PATTERN_MAX = NAME_MAX * 2  # characters: a name, with room for wildcards
WILDCARDS_MAX = 4  # in one pattern: each literal part between them is keyed two ways (``_forms``)
REASON_MAX = 200  # characters of the note kept with an entry
# Which rule of patterns a pattern breaks (its ``Problem``'s ``rule``, besides those of names;
# docs/protocol.md, "error": ``bad_name``): stable, clients switch on them.
EDGE_SPACE, WILDCARDS_ONLY, WILDCARDS = "edge_space", "wildcards_only", "wildcards"
PATTERN_RULES = (EDGE_SPACE, WILDCARDS_ONLY, WILDCARDS)


@dataclass(frozen=True)
class Reserved:
    """One entry: ``pattern`` as the operator wrote it, its ``scope`` and why (``reason``)."""

    id: int
    pattern: str
    scope: str
    reason: str = ""
    _forms: tuple[re.Pattern, ...] = field(default=(), compare=False, repr=False)

    def matches(self, keys: Iterable[str]) -> bool:
        """Whether a name with these look-alike keys is held back by this entry."""
        forms = self._forms or _forms(self.pattern)
        return any(form.fullmatch(key) for form in forms for key in keys)

    def shown(self) -> dict:
        """The entry as the admin page and the API show it."""
        return {"id": self.id, "pattern": self.pattern, "scope": self.scope, "reason": self.reason}


def pattern_key(pattern: str) -> str:
    """The pattern as the list compares entries: NFKC, case folded. Entries compare names
    case-insensitively (the module), so ``*ADMIN*`` beside ``*admin*`` (or fullwidth
    ``＊ａｄｍｉｎ＊``) would hold back nothing more: it is a duplicate."""
    return unicodedata.normalize("NFKC", pattern).casefold()


def _forms(pattern: str) -> tuple[re.Pattern, ...]:
    """The pattern's look-alike forms as regular expressions: each literal part keyed as a name
    is (every combination of the parts' keys: at most 2 ** (WILDCARDS_MAX + 1)), the wildcards kept."""
    keyed = [sorted(name_keys(part)) if part else [""] for part in pattern.split(WILDCARD)]
    forms = {".*".join(map(re.escape, literal)) for literal in itertools.product(*keyed)}
    return tuple(re.compile(form, re.DOTALL) for form in sorted(forms))


def entry(entry_id: int, pattern: str, scope: str, reason: str = "") -> Reserved:
    """An entry with its forms made once (matching is then a few regex matches)."""
    return Reserved(entry_id, pattern, scope, reason, _forms(pattern))


def pattern_problem(pattern: object) -> str | None:
    """Why ``pattern`` cannot be an entry, completing "the pattern …", or None: for a string, a
    ``Problem`` (its words, and its ``rule``, with ``limit`` or ``char`` where the rule names one)."""
    if not isinstance(pattern, str):
        return "must be a string"
    if not pattern:
        return Problem("is empty or starts or ends with white space", EMPTY)
    if pattern != pattern.strip():
        return Problem("is empty or starts or ends with white space", EDGE_SPACE)
    if len(pattern) > PATTERN_MAX:
        return Problem(f"is longer than {PATTERN_MAX} characters", TOO_LONG, limit=PATTERN_MAX)
    if not pattern.replace(WILDCARD, ""):
        return Problem("has nothing but wildcards: it would hold back every name", WILDCARDS_ONLY)
    if pattern.count(WILDCARD) > WILDCARDS_MAX:
        return Problem(f"has more than {WILDCARDS_MAX} wildcards", WILDCARDS, limit=WILDCARDS_MAX)
    return characters_problem(pattern)


def scope_problem(scope: object) -> str | None:
    """Why ``scope`` is not one, or None."""
    return None if scope in SCOPES else f"the scope must be one of {', '.join(SCOPES)}"


class ReservedNames:
    """The entries in effect on this node (replaced whole when they change anywhere)."""

    def __init__(self, entries: Iterable[Reserved] = ()):
        self.entries: tuple[Reserved, ...] = tuple(entries)

    def replace(self, entries: Iterable[Reserved]) -> None:
        self.entries = tuple(entries)

    def match(self, name: str, scope: str) -> Reserved | None:
        """The first entry that holds ``name`` back as a ``scope`` ("user" or "room") name, or None."""
        if not self.entries:
            return None
        keys = name_keys(name)
        return next((e for e in self.entries if e.scope in (scope, "any") and e.matches(keys)), None)


def refusal(name: str, held: Reserved, cid: str | None = None) -> ProtocolError:
    """The ``name_reserved`` refusal of ``name``: why it cannot be had, for the person asking, in
    words and as the frame's ``name`` and ``reason`` fields (the pattern is the operator's: not shown)."""
    why = f": {held.reason}" if held.reason else ""
    return ProtocolError(Code.NAME_RESERVED, f"the name {name!r} is reserved on this server{why}; choose another",
                         cid, details={"name": name, "reason": held.reason})
