"""UTS #39 skeletons over the vendored confusables.txt."""

from __future__ import annotations

import hashlib
import unicodedata
from importlib.resources import files

import pytest

from chatd.confusables import DATA_FILE, DATA_PACKAGE, data_version, is_default_ignorable, skeleton

# chatd/data/README.md records these; a new file means new stored room keys (names.keys_version).
VERSION = "17.0.0"
SHA256 = "ec88ecebcf89f63f813d460842b0cf8322744b40a0b2c06f88a2cea48c0351ea"


def test_the_vendored_data_is_the_recorded_file():
    data = files(DATA_PACKAGE).joinpath(*DATA_FILE.split("/")).read_bytes()
    assert hashlib.sha256(data).hexdigest() == SHA256
    assert data_version() == VERSION


@pytest.mark.parametrize(("a", "b"), [
    ("paypal", "pаypаl"),  # Cyrillic а
    ("Mark", "Μark"),  # Greek capital mu
    ("lobby", "Iobby"),  # capital I looks like small l
    ("Mark", "M\u200dark"),  # default-ignorable characters are dropped (UTS #39 §4, Unicode 15.1 on)
    ("e\u0301", "é"),  # NFD first: composed or not, the same
    ("rn", "m"),  # a prototype of more than one character
])
def test_look_alikes_have_the_same_skeleton(a, b):
    assert skeleton(a) == skeleton(b)


@pytest.mark.parametrize(("a", "b"), [("Ana", "Anna"), ("Mark", "Marc"), ("e", "é"), ("张伟", "张薇")])
def test_different_looking_strings_have_different_skeletons(a, b):
    assert skeleton(a) != skeleton(b)


def test_default_ignorables_are_invisible_or_format_characters():
    for cp in range(0x110000):
        c = chr(cp)
        if is_default_ignorable(c) and unicodedata.category(c) != "Cn":
            # Cf format, Mn variation selectors and the like, Lo Hangul fillers: all show nothing
            assert unicodedata.category(c) in ("Cf", "Mn", "Lo"), hex(cp)
