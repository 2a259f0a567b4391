"""UTS #39 skeletons: the form in which strings that look alike are equal.

Unicode Technical Standard #39 (Unicode Security Mechanisms), §4
"Confusable Detection", defines::

    skeleton(X) = NFD(map each character of (NFD(X) without Default_Ignorable_Code_Point
                      characters) to its prototype in confusables.txt)

and two strings are confusable when their skeletons are equal: ``Mаrk``
(Cyrillic а) and ``Mark`` both have the skeleton ``Mark``. A skeleton is a
comparison key only, never something to show.

The mappings are Unicode's own ``confusables.txt``, vendored in
``chatd/data`` (see its README for version, source and licence) and read
once, on first use.

    >>> skeleton("Mаrk") == skeleton("Mark")
    True
"""

from __future__ import annotations

import functools
import re
import unicodedata
from importlib.resources import files

DATA_PACKAGE = "chatd"
DATA_FILE = "data/confusables.txt"

# Default_Ignorable_Code_Point, from DerivedCoreProperties.txt (the same set in
# Unicode 14 to 17): characters that show nothing by themselves.
DEFAULT_IGNORABLE: tuple[tuple[int, int], ...] = (
    (0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160), (0x17B4, 0x17B5),
    (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x206F), (0x3164, 0x3164),
    (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A), (0xE0000, 0xE0FFF),
)


# DEFAULT_IGNORABLE as one character class: matched in C, not range by range in Python
# (profiled: the per-character test was ~5% of a connection storm's CPU, names being
# checked and keyed for every new guest).
_IGNORABLE = re.compile("[" + "".join(f"{re.escape(chr(lo))}-{re.escape(chr(hi))}" for lo, hi in DEFAULT_IGNORABLE)
                        + "]")


def is_default_ignorable(char: str) -> bool:
    """Whether one character has the Default_Ignorable_Code_Point property."""
    return _IGNORABLE.match(char) is not None


@functools.cache
def _table() -> tuple[str, dict[int, str]]:
    """(data version, {source code point: prototype string}: a ``str.translate`` table) from confusables.txt.

    A data line is ``SOURCE ; PROTOTYPE ; MA # comment``, code points in hex,
    the prototype one or more code points separated by spaces.
    """
    text = files(DATA_PACKAGE).joinpath(*DATA_FILE.split("/")).read_text(encoding="utf-8-sig")
    version = ""
    prototypes: dict[int, str] = {}
    for line in text.splitlines():
        if line.startswith("# Version:"):
            version = line.partition(":")[2].strip()
        data = line.partition("#")[0].strip()
        if not data:
            continue
        source, prototype, _kind = (field.strip() for field in data.split(";"))
        prototypes[int(source, 16)] = "".join(chr(int(cp, 16)) for cp in prototype.split())
    if not version or not prototypes:
        raise RuntimeError(f"{DATA_PACKAGE}/{DATA_FILE} is not a UTS #39 confusables.txt")
    return version, prototypes


def data_version() -> str:
    """The Unicode version of the vendored confusables.txt, e.g. ``"17.0.0"``."""
    return _table()[0]


def skeleton(text: str) -> str:
    """The UTS #39 §4 skeleton of ``text`` (see the module docstring)."""
    prototypes = _table()[1]
    decomposed = unicodedata.normalize("NFD", text)
    mapped = _IGNORABLE.sub("", decomposed).translate(prototypes)
    return unicodedata.normalize("NFD", mapped)
