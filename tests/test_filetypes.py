"""chatd.filetypes: a file's kind from its bytes, and its name made safe."""

from __future__ import annotations

import pytest

from chatd.filetypes import NAME_MAX, disposition, safe_name, sniff


@pytest.mark.parametrize(("head", "kind"), [
    (b"\xff\xd8\xff\xe0rest", "image/jpeg"), (b"\x89PNG\r\n\x1a\nrest", "image/png"), (b"GIF89a..", "image/gif"),
    (b"RIFF\x10\x00\x00\x00WEBPVP8 ", "image/webp"), (b"%PDF-1.7\n", "application/pdf"),
    (b"PK\x03\x04\x14\x00", "application/zip"), ("notes, 笔记 ✓\n".encode(), "text/plain"),
    ("cut in the middle: é".encode()[:-1], "text/plain"),  # a character cut at the end of the sniffed part
    (b"<script>alert(1)</script>", "text/plain"),  # served as a text download, never as HTML
    (b"\x7fELF\x02\x01", None), (b"MZ\x90\x00\x03\x00", None), (b"text\x00with NUL", None), (b"\xff\xfe\xfd", None),
    (b"", None),
])
def test_the_kind_is_told_by_the_bytes(head, kind):
    assert sniff(head) == kind


@pytest.mark.parametrize(("name", "kind", "safe"), [
    ("holiday.exe", "image/png", "holiday.png"), ("cat.PNG", "image/png", "cat.PNG"),
    ("a.jpeg", "image/jpeg", "a.jpeg"),
    ("../../etc/passwd", "text/plain", "passwd.txt"), ("C:\\Users\\me\\report.pdf", "application/pdf", "report.pdf"),
    ("\u202egpj.exe", "image/jpeg", "gpj.jpg"),  # a right-to-left override would make it look like exe.jpg
    ("...hidden", "text/plain", "hidden.txt"), ("", "application/zip", "file.zip"),
    ("..", "application/pdf", "file.pdf"),
    ("thesis.docx", "application/zip", "thesis.docx"), ("tab\tand\nnewline.txt", "text/plain", "tabandnewline.txt"),
    # Format characters show nothing, or change what is shown: zero-width space, joiner and non-joiner,
    # word joiner, byte order mark, soft hyphen, the Arabic letter mark; line and paragraph separators.
    ("file\u200bname.txt", "text/plain", "filename.txt"),
    ("a\u200c\u200d\u2060\ufeff\u00ad\u061cb\u2028\u2029c.txt", "text/plain", "abc.txt"),
    # Nothing left to read (no letter, digit or symbol): the default name.
    ("\u0301\u0302\u0303.txt", "text/plain", "file.txt"), (" \u0301 . \u0308 .pdf", "application/pdf", "file.pdf"),
    ("\u200b\u200d", "image/png", "file.png"), ("-_-.txt", "text/plain", "file.txt"),
    ("e\u0301te\u0301.txt", "text/plain", "\u00e9t\u00e9.txt"), ("🎂.png", "image/png", "🎂.png"),
    ("笔记.txt", "text/plain", "笔记.txt"), ("٣.txt", "text/plain", "٣.txt"),
])
def test_a_name_is_made_safe_with_the_extension_of_its_kind(name, kind, safe):
    assert safe_name(name, kind) == safe


def test_a_long_name_keeps_its_extension_within_the_bound():
    name = safe_name("x" * 500 + ".pdf", "application/pdf")
    assert len(name) == NAME_MAX and name.endswith(".pdf")


def test_disposition_names_the_file_for_old_and_new_clients():
    assert disposition("attachment", '报告 "v2".pdf') == (
        "attachment; filename=\"__ _v2_.pdf\"; filename*=UTF-8''%E6%8A%A5%E5%91%8A%20%22v2%22.pdf")
