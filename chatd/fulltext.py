"""What full-text search means, for Chinese (Japanese, Korean) and English alike. Pure: no I/O.

Scripts written without spaces between words (Han, kana, Hangul) are indexed
one character per token; every other word is a token as the database's word
splitter finds it (letters and digits; punctuation splits). ``prepare`` turns
a message text into what the index tokenizes: folded (``fold``: compatibility
forms and case, so ＤＥＰＬＯＹ is deploy, ﾃｷｽﾄ is テキスト, Straße is STRASSE),
each CJK character alone, CJK punctuation a space. ``chatd.store.search`` runs
the same preparation inside the database (an SQLite function in the index's
triggers, a PostgreSQL SQL function, ``pg_prepare``, in its trigger), so the
index follows the rows by itself. A query is folded the same way.

A query is plain text, never syntax: ``parse_query`` keeps its letters and
digits and drops everything else (quotes, ``*``, ``-``, parentheses,
operators), so no user input reaches the database's query language except as
quoted tokens. Each run of non-space characters (a "chunk") must appear, its
tokens next to each other in that order (a phrase): ``会议`` is the phrase
会 议 and finds 今天的会议改到下午三点, never 会 … 议 apart. The last token of a
chunk, when a word of PREFIX_MIN or more letters, matches as a prefix:
``deploy`` finds "deployed", "deploys", "deployment" (prefix, not stemming:
it works the same for every language written with spaces, and on both
databases). All chunks must match (AND).

    >>> parse_query('会议 "deploy*')
    [('会', '议'), ('deploy',)]
    >>> fts5_match(parse_query('会议 "deploy*'))
    '"会 议" AND "deploy"*'
    >>> snippet("今天的会议改到下午三点", parse_query("会议"))
    ['今天的', '会议', '改到下午三点']
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata

QUERY_MAX = 200  # characters of a query; a longer one is refused (the cost grows with its tokens)
CHUNKS_MAX = 8  # chunks of a query that are searched: the rest are left out
PREFIX_MIN = 3  # letters a word needs to match as a prefix: "a"* would read a large part of the index
SNIPPET_CHARS = 120  # characters of context a snippet shows around the first match

# Han (with extensions A-F and compatibility ideographs), hiragana, katakana, Hangul syllables and jamo.
CJK_RANGES = ((0x1100, 0x11FF), (0x3040, 0x30FF), (0x3130, 0x318F), (0x3400, 0x4DBF), (0x4E00, 0x9FFF),
              (0xAC00, 0xD7AF), (0xF900, 0xFAFF), (0x20000, 0x2FA1F))
# CJK symbols and punctuation, and the punctuation of fullwidth forms: separators.
CJK_PUNCTUATION = ((0x3000, 0x303F), (0xFF01, 0xFF0F), (0xFF1A, 0xFF20), (0xFF3B, 0xFF40), (0xFF5B, 0xFF65))


def _class(ranges: tuple[tuple[int, int], ...]) -> str:
    return "".join(f"{chr(lo)}-{chr(hi)}" for lo, hi in ranges)


_CJK = re.compile(f"([{_class(CJK_RANGES)}])")
_CJK_PUNCT = re.compile(f"[{_class(CJK_PUNCTUATION)}]")


def _regex_class(ranges: tuple[tuple[int, int], ...]) -> str:
    """The ranges as a PostgreSQL regular expression class body (``\\uXXXX`` / ``\\UXXXXXXXX`` escapes)."""
    def esc(cp: int) -> str:
        return f"\\u{cp:04x}" if cp <= 0xFFFF else f"\\U{cp:08x}"
    return "".join(f"{esc(lo)}-{esc(hi)}" for lo, hi in ranges)


def fold(text: str) -> str:
    """``text`` with compatibility forms and case folded (Unicode's NFKC, full case folding, NFKC again
    for what folding decomposed): what the index holds and a query is matched as. Full-width and
    half-width forms, ligatures, circled digits are their plain characters; "ß" is "ss"."""
    if text.isascii():  # NFKC leaves ASCII as it is, and folds its case as lower() does
        return text.lower()
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


def prepare(text: str) -> str:
    """``text`` as the index tokenizes it: folded, CJK punctuation as spaces, each CJK character
    between spaces. (Every stored message goes through it, in the writer thread: ASCII, which
    holds neither, is only folded, 1.6 → 0.08 µs for a 60-character text.)"""
    if text.isascii():
        return text.lower()
    return _CJK.sub(r" \1 ", _CJK_PUNCT.sub(" ", fold(text)))


def _sql_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@functools.cache
def pg_prepare() -> str:
    """``prepare`` in PostgreSQL's SQL over ``$1``: the body of the index's IMMUTABLE function
    chatd_search_text(text) (PostgreSQL 13 or later: ``normalize``). PostgreSQL has no case
    folding, only ``lower``: it is made one by mapping, after ``lower``, each character that
    ``lower`` leaves as it is and folding changes ("ß" → "ss", "ς" → "σ"), as Python's Unicode
    tables say (computed once, a scan of every code point); and "İ", which ``lower`` may make
    one character and Python two, first. Equal to ``prepare`` where PostgreSQL's ``lower``
    follows Unicode (a UTF-8 locale; chatd's tests check it)."""
    long_lower, singles, multiples = {}, {}, {}
    for c in map(chr, range(sys.maxunicode + 1)):
        if 0xD800 <= ord(c) <= 0xDFFF:
            continue  # surrogates: no characters
        if len(c.lower()) > 1:
            long_lower[c] = c.lower()
        elif c.lower() == c != c.casefold():
            (singles if len(c.casefold()) == 1 else multiples)[c] = c.casefold()
    text = "normalize($1, NFKC)"
    for c, lowered in long_lower.items():
        text = f"replace({text}, {_sql_text(c)}, {_sql_text(lowered)})"
    text = f"translate(lower({text}), {_sql_text(''.join(singles))}, {_sql_text(''.join(singles.values()))})"
    for c, folded in multiples.items():
        text = f"replace({text}, {_sql_text(c)}, {_sql_text(folded)})"
    text = f"normalize({text}, NFKC)"
    return (f"regexp_replace(regexp_replace({text}, E'[{_regex_class(CJK_PUNCTUATION)}]', ' ', 'g'), "
            f"E'([{_regex_class(CJK_RANGES)}])', ' \\1 ', 'g')")


def is_cjk(char: str) -> bool:
    cp = ord(char)
    return any(lo <= cp <= hi for lo, hi in CJK_RANGES)


def _word_char(char: str) -> bool:
    """A character of a word, as SQLite's unicode61 tokenizer sees it: letters, digits, private use."""
    return unicodedata.category(char)[0] in "LN" or unicodedata.category(char) == "Co"


Phrase = tuple[str, ...]  # tokens that must stand next to each other, in order


def _tokens(chunk: str) -> Phrase:
    """The tokens of one chunk: CJK characters one by one, other words whole, separators dropped."""
    tokens: list[str] = []
    word = ""
    for char in chunk:
        if _word_char(char) and not is_cjk(char):
            word += char
            continue
        if word:
            tokens.append(word)
            word = ""
        if _word_char(char):  # a CJK letter: a token of its own
            tokens.append(char)
    if word:
        tokens.append(word)
    return tuple(tokens)


def parse_query(query: str) -> list[Phrase]:
    """The phrases a query searches for (at most CHUNKS_MAX); [] when it holds no letter
    or digit (nothing is found then). Raises ValueError for a query over QUERY_MAX characters."""
    if len(query) > QUERY_MAX:
        raise ValueError(f"is longer than {QUERY_MAX} characters")
    phrases: list[Phrase] = []
    for chunk in _CJK_PUNCT.sub(" ", fold(query)).split():
        tokens = _tokens(chunk)
        if tokens and tokens not in phrases:
            phrases.append(tokens)
    return phrases[:CHUNKS_MAX]


def _prefix(phrase: Phrase) -> bool:
    last = phrase[-1]
    return len(last) >= PREFIX_MIN and not is_cjk(last[0])


def fts5_match(phrases: list[Phrase]) -> str:
    """The phrases as an SQLite FTS5 MATCH expression: quoted strings only (tokens hold
    no quote: ``_tokens`` keeps letters and digits), ANDed; ``*`` for a prefix."""
    return " AND ".join(f'"{" ".join(p)}"' + ("*" if _prefix(p) else "") for p in phrases)


def tsquery(phrases: list[Phrase]) -> str:
    """The phrases as PostgreSQL ``to_tsquery('simple', …)`` text: each token quoted
    (single quotes doubled), ``<->`` within a phrase, ``:*`` for a prefix, ``&`` between."""
    def quoted(token: str) -> str:
        return "'" + token.replace("'", "''").replace("\\", "\\\\") + "'"
    return " & ".join("(" + " <-> ".join(map(quoted, p)) + (":*" if _prefix(p) else "") + ")" for p in phrases)


def _mark(char: str) -> bool:
    """Whether ``char`` goes with the character before it when folded (a combining mark, or a
    half-width voiced sound mark: ﾃﾞ folds to デ)."""
    folded = unicodedata.normalize("NFKC", char)
    return bool(folded) and unicodedata.combining(folded[0]) != 0


def _folded_with_origins(text: str) -> tuple[str, list[int], list[int]]:
    """``text`` folded a character (with its marks) at a time, and for each folded character
    where its source starts and ends in ``text``: a match in the folded text is shown in the
    text as written."""
    parts, starts, ends = [], [], []
    start = 0
    for i in range(1, len(text) + 1):
        if i < len(text) and _mark(text[i]):
            continue
        part = fold(text[start:i])
        parts.append(part)
        starts += [start] * len(part)
        ends += [i] * len(part)
        start = i
    return "".join(parts), starts, ends


def _match_spans(text: str, phrases: list[Phrase]) -> list[tuple[int, int]]:
    """Where the phrases' tokens appear in ``text`` (folded, as the index matches), merged, in order."""
    folded, starts, ends = _folded_with_origins(text)
    spans = []
    for phrase in phrases:
        for token in phrase:
            spans += [(starts[m.start()], ends[m.end() - 1]) for m in re.finditer(re.escape(token), folded)]
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def snippet(text: str, phrases: list[Phrase], width: int = SNIPPET_CHARS) -> list[str]:
    """Up to ``width`` characters of ``text`` around its first match, as segments:
    even indexes plain text, odd indexes matched text (for the page to build as DOM
    nodes, never HTML). An ellipsis marks text cut off at either end."""
    spans = _match_spans(text, phrases)
    first = spans[0][0] if spans else 0
    start = max(0, min(first - width // 3, len(text) - width))
    end = min(len(text), start + width)
    segments, at = [], start
    for s, e in spans:
        if e <= start or s >= end:
            continue
        s, e = max(s, start), min(e, end)
        segments += [text[at:s], text[s:e]]
        at = e
    segments.append(text[at:end])
    if start > 0:
        segments[0] = "…" + segments[0]
    if end < len(text):
        segments[-1] += "…"
    return segments
