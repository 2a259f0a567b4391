"""Names people can trust, on their own: what is accepted, refused, and alike."""

from __future__ import annotations

import re

import pytest

from chatd import names
from chatd.names import NAME_MAX, BadName, characters_problem, clean_name, name_keys, name_taken, room_taken

ZWJ, ZWNJ = "\u200d", "\u200c"
SCOTLAND = "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f"

# What people are called: each is kept exactly (it is NFC already).
REAL_NAMES = [
    "Mark", "Ana María", "Zoë", "Nguyễn Văn An", "O'Brien", "Jean-Luc", "ß", "İlkay",
    "王伟", "张伟", "李娜", "佐藤 花子", "김민준",
    "Владимир", "Ελένη", "עִבְרִית", "אַהֲרֹן", "محمد", "علی",
    f"می{ZWNJ}خواهم",  # Persian: ZWNJ keeps the two parts of the word unjoined
    f"ශ්{ZWJ}රී",  # Sinhala: ZWJ after the virama makes the rakaransaya conjunct
    f"क्{ZWJ}ष",  # Devanagari: ZWJ after the virama asks for the half form
    "हिन्दी", "தமிழ்", "ไทย", "བསྒྲུབས",  # Tibetan stacks three marks on one letter
    f"👩{ZWJ}💻 Ana",  # emoji ZWJ sequence (UTS #51 ED-16)
    f"🏳\ufe0f{ZWJ}🌈 Sam",  # with a variation selector
    f"👨{ZWJ}👩{ZWJ}👧{ZWJ}👦",
    f"🧑🏽{ZWJ}🚀 Kim", "👍🏿", "🇫🇷 Zoé", "🇯🇵",  # skin tones, regional-indicator flags
    f"{SCOTLAND} Ian",  # an emoji tag sequence (UTS #51 ED-14a)
    "1\ufe0f\u20e3 One", "Ｍａｒｋ", "𝐌𝐚𝐫𝐤",  # keycap; fullwidth and maths letters are letters too
]


@pytest.mark.parametrize("name", REAL_NAMES)
def test_real_names_are_accepted_as_they_are(name):
    assert clean_name(name) == name


def test_printable_ascii_passes_the_character_rules_as_it_would_one_by_one(monkeypatch):
    """characters_problem answers at once for printable ASCII: the rules themselves,
    character by character, accept each such character next to any other."""
    printable = [chr(c) for c in range(0x20, 0x7F)]
    pairs = [a + b for a in printable for b in printable]
    assert all(characters_problem(pair) is None for pair in pairs)
    monkeypatch.setattr(names, "_PLAIN", re.compile("(?!)"))  # matches nothing: the rules one by one
    assert all(characters_problem(pair) is None for pair in pairs)


@pytest.mark.parametrize(("raw", "kept"), [
    ("  Ame\u0301lie ", "Amélie"),  # NFC, trimmed
    ("Ana\u3000\u00a0 María", "Ana María"),  # a run of spaces of any kind: one space
    ("x" * NAME_MAX, "x" * NAME_MAX),
])
def test_names_are_normalised(raw, kept):
    assert clean_name(raw) == kept


@pytest.mark.parametrize(("raw", "why"), [
    ("", "empty"),
    (" \u3000 ", "empty"),
    ("x" * (NAME_MAX + 1), "longer than 32"),
    ("\u202eMark", "U+202E RIGHT-TO-LEFT OVERRIDE, a bidirectional control"),
    ("Mark\u202e", "bidirectional control"),
    ("\u2067Mark\u2069", "bidirectional control"),
    ("Ma\u200frk", "bidirectional control"),
    ("\u061cMark", "bidirectional control"),
    ("Z" + "\u0301\u0300\u0302\u0303\u0304", "more than 4 combining marks"),
    ("Mark" + "\u0489" * 8, "more than 4 combining marks"),  # enclosing marks stack too
    ("Z\u0336\u0337\u0338\u0334\u0335a", "more than 4 combining marks"),
    ("\u0301Mark", "combining mark with no visible character under it"),
    ("Mark \u0301", "combining mark with no visible character under it"),
    ("\u200b", "invisible"),
    ("\u200b\u200c\u200d", "invisible"),
    ("Ma\u200brk", "U+200B ZERO WIDTH SPACE, an invisible character"),
    ("\u3164", "invisible"),  # HANGUL FILLER: a "letter" that shows nothing
    ("\u3164\u3164", "invisible"),
    ("\u2800\u2800", "invisible"),  # BRAILLE PATTERN BLANK
    ("\u00ad", "invisible"),
    ("M\u2060ark", "invisible"),  # WORD JOINER
    ("\ufeffMark", "invisible"),
    ("\u180e", "invisible"),
    (ZWJ, "joiner"),
    (f"Mark{ZWJ}", "joiner"),
    (f"{ZWNJ}Mark", "joiner"),
    (f"Ma{ZWJ}{ZWJ}rk", "joiner"),
    (f"Ma {ZWJ}rk", "joiner"),
    ("Mark\U000e0041", "tag characters"),  # a tag without the flag it belongs to
    ("\U0001f3f4\U000e0067\U000e0062", "tag characters"),  # no CANCEL TAG
    ("a\x00b", "control"),
    ("a\nb", "control"),
    ("a\u2028b", "line break"),
    ("\ue000", "private-use"),
    ("\U000e0001Mark", "invisible"),
    ("\ufff9Mark", "format character"),  # INTERLINEAR ANNOTATION ANCHOR
    ("\u0378", "unassigned"),
    ("\u0600Mark", "format character"),
])
def test_abusive_names_are_refused_saying_why(raw, why):
    with pytest.raises(BadName, match="name ") as e:
        clean_name(raw)
    assert why in str(e.value)


def alike(a: str, b: str) -> bool:
    return bool(name_keys(clean_name(a)) & name_keys(clean_name(b)))


@pytest.mark.parametrize("imposter", [
    "Mark", "mark", "MARK", "mArK",  # case
    "M\u0430rk", "\u041c\u0410RK", "Μark", "Μαrk",  # Cyrillic, Greek
    "Ｍａｒｋ", "Ｍark",  # fullwidth
    "𝐌𝐚𝐫𝐤", "𝑴𝒂𝒓𝒌", "𝕄𝕒𝕣𝕜", "𝙼𝚊𝚛𝚔",  # mathematical alphanumerics
    f"M{ZWJ}ark", f"Ma{ZWNJ}rk",  # invisible joiners between letters
    "Mark\ufe0f",  # a variation selector
    "Marｋ",
])
def test_look_alikes_of_a_name_collide(imposter):
    assert alike("Mark", imposter)


@pytest.mark.parametrize(("a", "b"), [
    ("bill", "BILL"),  # case, where the capital I alone looks like l
    ("lobby", "l\u043ebby"),  # Cyrillic о
    ("paypal", "p\u0430yp\u0430l"),
    ("José", "Jose\u0301"),  # composed and decomposed
    ("Ana María", "Ana\u3000María"),
    ("Sam0", "SamO"),
    ("Il", "ll"),
    ("\u01c6", "d\u017e"),  # ǆ: NFKC first, as the skeleton alone keeps the caron apart (so does ICU)
])
def test_pairs_that_look_alike_collide(a, b):
    assert alike(a, b)


@pytest.mark.parametrize(("a", "b"), [
    ("Ana", "Anna"), ("Mark", "Marc"), ("Mark", "Marko"), ("Sam", "Sám"), ("Zoe", "Zoë"),
    ("张伟", "张薇"), ("王伟", "王芳"), ("李娜", "李雷"), ("김민준", "김민수"),
    ("محمد", "محمود"), ("Владимир", "Вадим"),
    ("🇫🇷 Zoé", "🇫🇮 Zoé"), ("👍🏿", "👍🏻"),
    (f"👩{ZWJ}💻 Ana", "👩 Ana"),
    ("Ana María", "AnaMaría"),
])
def test_pairs_that_look_different_do_not_collide(a, b):
    assert not alike(a, b)


def test_taken_messages_say_whose_name_and_till_when():
    assert name_taken("M\u0430rk", "Mark", None, 0, 300) == "the name 'M\u0430rk' looks like 'Mark', who is online"
    assert name_taken("Mark", "Mark", None, 0, 300) == "the name 'Mark' is in use"
    held = name_taken("mark", "Mark", 100.0, 130.2, 300)
    assert held == ("the name 'mark' looks like 'Mark', which was in use 30 s ago "
                    "and is kept for its user for 270 s more")
    assert room_taken("l\u043ebby", "lobby") == "room 'l\u043ebby' looks like the room 'lobby', which exists already"
    assert room_taken("LOBBY", "lobby") == "room 'lobby' exists already"
