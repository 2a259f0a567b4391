"""What kind of file an upload is, told by its content; its name made safe. Pure: no I/O.

A file's kind is decided by its bytes, never by its name or the Content-Type a
browser sent (a PNG named ``x.exe`` is a PNG; a script named ``x.png`` is text,
or refused). Images are told apart by their signature here and then proved by
Pillow (``chatd.imaging``); the other kinds have a signature, or for text, are
UTF-8 without control characters. The name a user gave is kept for people to
read, made safe (no path; no control or format character: nothing invisible,
nothing that reorders what is shown; bounded; something left to read) and
given the extension of its kind, so a saved file opens as what it is.

    >>> sniff(b"%PDF-1.7 ...")
    'application/pdf'
    >>> safe_name("../../etc/evil.exe", "image/png")
    'evil.png'
    >>> disposition("attachment", "résumé.pdf")
    'attachment; filename="r_sum_.pdf"; filename*=UTF-8\\'\\'r%C3%A9sum%C3%A9.pdf'
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

JPEG, PNG, GIF, WEBP = "image/jpeg", "image/png", "image/gif", "image/webp"
PDF, ZIP, TEXT = "application/pdf", "application/zip", "text/plain"
IMAGE_TYPES = (JPEG, PNG, GIF, WEBP)
# Every kind chatd can tell (``uploads.types`` names the ones allowed), with the extensions
# a name of that kind may keep; the first is the one given to a name with another.
EXTENSIONS: dict[str, tuple[str, ...]] = {
    JPEG: (".jpg", ".jpeg"), PNG: (".png",), GIF: (".gif",), WEBP: (".webp",),
    PDF: (".pdf",),
    # Office documents and e-books are zip files too: they keep their own extension.
    ZIP: (".zip", ".docx", ".xlsx", ".pptx", ".odt", ".ods", ".odp", ".epub"),
    TEXT: (".txt", ".md", ".csv", ".log"),
}
UPLOAD_TYPES = tuple(EXTENSIONS)

NAME_MAX = 120  # characters of a stored name: a user ref's worth, and room for the extension
TEXT_SNIFF_BYTES = 1 << 20  # text is checked over its first MiB (uploads may be larger)
_SIGNATURES = (
    (b"\xff\xd8\xff", JPEG), (b"\x89PNG\r\n\x1a\n", PNG), (b"GIF87a", GIF), (b"GIF89a", GIF),
    (b"%PDF-", PDF), (b"PK\x03\x04", ZIP), (b"PK\x05\x06", ZIP),
)
# Characters no file name needs, by Unicode category: controls (Cc), format characters (Cf:
# those that reorder what is shown — RLO makes "gpj.exe" look like "exe.jpg" — and invisible
# ones, zero-width space and joiners, soft hyphen, byte order mark), line and paragraph
# separators (Zl, Zp), lone surrogates (Cs).
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
# What a name needs one of to be read: a letter, a digit or a symbol (an emoji); marks, spaces
# and punctuation alone show nothing, or only dots and dashes.
_READABLE = frozenset("LNS")
_TEXT_CONTROLS = re.compile(rb"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f\x7f]")


def sniff(head: bytes) -> str | None:
    """The kind the bytes ``head`` (a file's start, at least its first MiB when it is that large)
    are, one of ``UPLOAD_TYPES``, or None for none chatd knows. An image kind is only claimed
    here: ``chatd.imaging`` proves it."""
    for signature, kind in _SIGNATURES:
        if head.startswith(signature):
            return kind
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if _is_text(head[:TEXT_SNIFF_BYTES]):
        return TEXT
    return None


def _is_text(data: bytes) -> bool:
    """UTF-8 (a character cut at the end of ``data`` is allowed) with no control character
    but tab, line breaks, form feed and escape; not empty."""
    if not data or _TEXT_CONTROLS.search(data):
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        return e.start >= len(data) - 3 and e.reason == "unexpected end of data"
    return True


def safe_name(name: str, kind: str) -> str:
    """``name`` as stored and shown: its last path part, NFC, without unsafe characters or
    leading dots, at most NAME_MAX characters, ending in an extension of ``kind`` (the
    kind's first replaces another: ``x.exe`` of a PNG is ``x.png``); "file" + extension
    when no letter, digit or symbol is left before it."""
    name = unicodedata.normalize("NFC", re.split(r"[/\\]", name)[-1])
    name = "".join(c for c in name if unicodedata.category(c) not in _UNSAFE_CATEGORIES)
    name = name.strip().lstrip(".").strip()
    stem, dot, ext = name.rpartition(".")
    allowed = EXTENSIONS[kind]
    if not dot:
        stem = name
    if f".{ext.lower()}" not in allowed:
        ext = allowed[0][1:]
    stem = stem.rstrip(". ")[:NAME_MAX - len(ext) - 1]
    if not any(unicodedata.category(c)[0] in _READABLE for c in stem):
        stem = "file"
    return f"{stem}.{ext}"


def disposition(kind: str, name: str) -> str:
    """A Content-Disposition of ``kind`` ("inline" or "attachment") naming ``name``: an ASCII
    ``filename`` for old clients and the exact name as ``filename*`` (RFC 6266 §4.3, RFC 8187)."""
    fallback = "".join(c if " " <= c < "\x7f" and c not in '"\\%' else "_" for c in name)
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
