"""Names people can trust: which display names are accepted, and when two
names (of users, or of rooms) look alike. Pure: no I/O, no clock.

Accepted is what real people are called, in any script: letters with their
marks, digits, symbols, punctuation, single spaces; the zero-width joiner and
non-joiner between two visible characters (Persian needs ZWNJ, Sinhala and
Devanagari conjuncts need ZWJ after a virama, emoji ZWJ sequences such as 👩‍💻
are UTS #51 ED-16); variation selectors and emoji modifiers (skin tones);
emoji tag sequences (subdivision flags, UTS #51 ED-14a).

Refused is what only abuses: bidirectional controls (they reverse the text
around a name), other invisible or format characters, controls and line
breaks, private-use and unassigned code points, more than
``MARKS_PER_BASE_MAX`` combining marks on one character ("zalgo" that paints
over the lines around it), a mark with nothing visible under it, and names
with nothing visible at all.

Two names look alike when their key sets meet (``name_keys``): keys are
UTS #39 §4 skeletons (``chatd.confusables``) of the NFKC form — so fullwidth
``Ｍａｒｋ``, mathematical ``𝐌𝐚𝐫𝐤``, Cyrillic ``Mаrk`` and ``M‍ark`` with an
invisible joiner all meet ``Mark`` — combined with case folding, so ``MARK``
meets it too.

    >>> clean_name("  Ana\u3000María ")
    'Ana María'
    >>> bool(name_keys("Mark") & name_keys("𝐌𝐚𝐫𝐤"))
    True
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from typing import Any

from chatd.confusables import data_version, is_default_ignorable, skeleton
from chatd.worded import Worded

NAME_MAX = 32  # characters (code points), after normalisation
MARKS_PER_BASE_MAX = 4  # Vietnamese needs 2, vocalised Hebrew or Tibetan stacks 3–4; zalgo uses dozens
KEYS_REVISION = 1  # bump when name_keys changes for a reason other than the data version
# Names whose keys are kept: an identify asks the keys of one name six times (the name checks
# of this node and the others', before and after sign-up, the hub's user), most in one pass
# of the loop, so a few dozen serve a connection storm too.
KEYS_CACHED = 64

ZWNJ, ZWJ = "\u200c", "\u200d"
TAG_BASE = "\U0001f3f4"  # 🏴, the base of every RGI emoji tag sequence (UTS #51 ED-14a)
TAG_SPEC = range(0xE0020, 0xE007F)
TAG_END = "\U000e007f"
# Invisible on purpose and harmless: they only select a glyph. Keys drop them.
VARIATION_SELECTORS = (range(0xFE00, 0xFE10), range(0xE0100, 0xE01F0), range(0x180B, 0x180E), range(0x180F, 0x1810))
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Visible-looking blanks that are neither white space nor default-ignorable.
BLANKS = frozenset("\u2800")  # BRAILLE PATTERN BLANK
VISIBLE_CATEGORIES = ("L", "N", "S", "P")  # first letter of the general category
STACKING_MARKS = ("Mn", "Me")  # spacing marks (Mc) take room beside their base, not over other lines

_SPACES = re.compile("[\u0020\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")  # runs of Zs (space separators)
# Printable ASCII: letters, digits, punctuation, symbols and the space, none of which the rules
# refuse anywhere (no joiner, tag, mark or invisible among them). Most names are only that, and
# one C match answers for them all (profiled: the check character by character was a visible
# share of a connection storm, a name checked for every new guest).
_PLAIN = re.compile("[\x20-\x7e]*")
# Which rule a name breaks (``Problem.fields["rule"]``; docs/protocol.md, "error"): stable, clients switch on them.
EMPTY, TOO_LONG, NO_VISIBLE, TAGS, STACKED_MARKS = "empty", "too_long", "no_visible", "tags", "stacked_marks"
# ... and the rules that name the character (``char``).
BIDI, JOINER, CONTROL, UNASSIGNED, INVISIBLE, FORMAT = "bidi", "joiner", "control", "unassigned", "invisible", "format"
LONE_MARK = "lone_mark"
RULES = (EMPTY, TOO_LONG, NO_VISIBLE, TAGS, STACKED_MARKS, BIDI, JOINER, CONTROL, UNASSIGNED, INVISIBLE, FORMAT,
         LONE_MARK)


class Problem(Worded):
    """Why a name is refused: the English words (completing "name …") and, as ``fields``, its
    ``rule``, with ``char`` (the character, "U+202E RIGHT-TO-LEFT OVERRIDE") or ``limit`` where
    the rule names one (docs/protocol.md, "error": ``bad_name``, ``bad_room``)."""

    def __new__(cls, words: str, rule: str, **fields: Any) -> Problem:
        return super().__new__(cls, words, rule=rule, **fields)


class BadName(ValueError):
    """A name that is refused; ``str()`` says why, for the person who chose it, ``fields`` the
    same in data (``Problem``)."""

    def __init__(self, problem: Problem):
        super().__init__(problem)
        self.fields = problem.fields


def clean_name(raw: str) -> str:
    """The display name to keep for ``raw``, or BadName naming the problem.

    NFC, surrounding white space removed, inner runs of spaces made one
    U+0020; then the rules of the module docstring. The result is at most
    ``NAME_MAX`` code points.
    """
    name = _SPACES.sub(" ", unicodedata.normalize("NFC", raw).strip())
    if not name:
        raise BadName(Problem("name is empty", EMPTY))
    if len(name) > NAME_MAX:
        raise BadName(Problem(f"name is longer than {NAME_MAX} characters", TOO_LONG, limit=NAME_MAX))
    problem = characters_problem(name)
    if problem:
        raise BadName(Problem(f"name {problem}", **problem.fields))
    if not any(_visible(c) for c in name):
        raise BadName(Problem("name has no visible character", NO_VISIBLE))
    return name


def characters_problem(text: str) -> Problem | None:
    """Why ``text`` holds a character a name must not hold, or None.

    Shared by user and room names. The answer completes "name …", e.g.
    "contains U+202E RIGHT-TO-LEFT OVERRIDE, a bidirectional control …".
    """
    if _PLAIN.fullmatch(text):
        return None
    for i, c in enumerate(text):
        refused = _refused(c, text[i - 1] if i else "", text[i + 1] if i + 1 < len(text) else "")
        if refused:
            rule, why = refused
            return Problem(f"contains {describe(c)}, {why}", rule, char=describe(c))
    tags = _tag_problem(text)
    if tags:
        return tags
    return _marks_problem(unicodedata.normalize("NFD", text))


@functools.lru_cache(maxsize=KEYS_CACHED)
def name_keys(name: str) -> frozenset[str]:
    """Comparison keys of a name: two names look alike iff their key sets meet.

    With N = NFKC, F = case folding (then NFD) and S = the UTS #39 skeleton:
    F(S(N(x))) catches look-alikes whose case differs (``МАRK`` in Cyrillic
    capitals and ``mark``); S(F(N(x))) catches case pairs whose skeletons
    differ (``BILL``, whose ``I`` looks like ``l``, and ``bill``). Two keys
    rather than one because neither order alone catches both.
    """
    compat = unicodedata.normalize("NFKC", name)
    return frozenset((_fold(skeleton(compat)), skeleton(_fold(compat))))


def name_taken(name: str, holder: str, left_at: float | None, now: float, hold_seconds: float) -> str:
    """Why ``name`` cannot be had, for the person asking: the name ``holder``
    it looks like is online (``left_at`` None) or was let go at clock reading
    ``left_at`` and is held for ``hold_seconds`` (``now`` on the same clock)."""
    same = name == holder
    if left_at is None:
        return f"the name '{name}' is in use" if same else f"the name '{name}' looks like '{holder}', who is online"
    ago = max(0, math.floor(now - left_at))
    left = max(1, math.ceil(hold_seconds - (now - left_at)))
    which = f"the name '{name}'" if same else f"the name '{name}' looks like '{holder}', which"
    return f"{which} was in use {ago} s ago and is kept for its user for {left} s more"


def name_taken_fields(name: str, holder: str, left_at: float | None, now: float, hold_seconds: float) -> dict:
    """What ``name_taken`` says, as the error frame's fields (docs/protocol.md, "error"): ``name``,
    ``holder`` (the name in use it looks like), and for a name let go ``since_ms`` (how long ago)
    and ``kept_ms`` (how much longer it is kept), whole milliseconds."""
    fields: dict = {"name": name, "holder": holder}
    if left_at is not None:
        fields["since_ms"] = max(0, math.floor((now - left_at) * 1000))
        fields["kept_ms"] = max(1, math.ceil((hold_seconds - (now - left_at)) * 1000))
    return fields


def room_taken(name: str, existing: str) -> str:
    """Why a room ``name`` cannot be created while the room ``existing`` exists."""
    if name.casefold() == existing.casefold():
        return f"room '{existing}' exists already"
    return f"room '{name}' looks like the room '{existing}', which exists already"


def keys_version() -> str:
    """Names the key function and its data: stored keys made under another version are stale."""
    return f"uts39-{data_version()}.{KEYS_REVISION}"


def _fold(text: str) -> str:
    return unicodedata.normalize("NFD", text.casefold())


def _visible(c: str) -> bool:
    return unicodedata.category(c)[0] in VISIBLE_CATEGORIES and c not in BLANKS and not is_default_ignorable(c)


def _refused(c: str, before: str, after: str) -> tuple[str, str] | None:
    """(rule, why) character ``c``, between ``before`` and ``after`` ("" at an end), is refused."""
    category = unicodedata.category(c)
    if c in BIDI_CONTROLS:
        return BIDI, _bidi_why("name")
    if c in (ZWJ, ZWNJ):
        if before and after and (_visible(before) or unicodedata.category(before)[0] == "M") and _visible(after):
            return None
        return JOINER, "a zero-width joiner or non-joiner, which may only stand between two visible characters"
    if ord(c) in TAG_SPEC or c == TAG_END:
        return None  # checked as a sequence by _tag_problem
    if any(ord(c) in selectors for selectors in VARIATION_SELECTORS):
        return None  # a mark: counted by _marks_problem
    if category in ("Cc", "Zl", "Zp"):
        return CONTROL, "a control character or line break"
    if category in ("Co", "Cs", "Cn"):
        return UNASSIGNED, "a private-use, surrogate or unassigned code point"
    if is_default_ignorable(c) or c in BLANKS:
        return INVISIBLE, "an invisible character"
    if category == "Cf":
        return FORMAT, "a format character"
    return None


def _bidi_why(what: str) -> str:
    return f"a bidirectional control, which could reverse the text around the {what}"


def bidi_problem(text: str, what: str) -> str | None:
    """Why ``text``, shown by itself as ``what`` ("topic"), must not hold a bidirectional
    control (names' rule, ``characters_problem``: U+202E would show what follows reversed,
    beside the page's own text), or None. Completes "``what`` …", as names' problems do:
    "contains U+202E RIGHT-TO-LEFT OVERRIDE, a bidirectional control, which could reverse
    the text around the topic"."""
    found = next((c for c in text if c in BIDI_CONTROLS), None)
    return None if found is None else f"contains {describe(found)}, {_bidi_why(what)}"


def _tag_problem(text: str) -> Problem | None:
    """Tag characters only in emoji tag sequences: 🏴, tag specs, CANCEL TAG (UTS #51 ED-14a)."""
    for match in re.finditer(r"[\U000e0020-\U000e007f]+", text):
        run, start = match.group(), match.start()
        if not (start and text[start - 1] == TAG_BASE and len(run) >= 2 and run[-1] == TAG_END
                and TAG_END not in run[:-1]):
            return Problem("contains emoji tag characters that are not a flag's tag sequence", TAGS)
    return None


def _marks_problem(decomposed: str) -> Problem | None:
    """Combining marks need a visible character under them, and at most a few on each."""
    run, base = 0, ""
    for c in decomposed:
        category = unicodedata.category(c)
        if category[0] != "M":
            run, base = 0, (c if _visible(c) else "")
            continue
        if not base:
            return Problem(f"contains {describe(c)}, a combining mark with no visible character under it", LONE_MARK,
                           char=describe(c))
        if category in STACKING_MARKS:
            run += 1
            if run > MARKS_PER_BASE_MAX:
                return Problem(f"stacks more than {MARKS_PER_BASE_MAX} combining marks on one character",
                               STACKED_MARKS, limit=MARKS_PER_BASE_MAX)
    return None


def describe(c: str) -> str:
    """A character as messages and the `char` field name it: "U+202E RIGHT-TO-LEFT OVERRIDE"."""
    return f"U+{ord(c):04X} {unicodedata.name(c, '(unnamed)')}"
