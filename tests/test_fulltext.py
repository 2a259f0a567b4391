"""What a search query means (``chatd.fulltext``), pure: the text the index is given, the
query turned into quoted tokens only, the snippet's segments, and the bound on their bytes."""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from chatd.fulltext import QUERY_MAX, SNIPPET_CHARS, fold, fts5_match, parse_query, prepare, snippet, tsquery
from chatd.paging import COSTLIEST_CHAR, REPLY_HEAD_MAX
from chatd.protocol.codes import CID_MAX
from chatd.protocol.frames import encode


def test_cjk_characters_stand_alone_and_cjk_punctuation_separates():
    assert prepare("今天的会议。deploy完成") == " 今  天  的  会  议  deploy 完  成 "
    assert prepare("会议，deploy") == " 会  议 ,deploy", "a full-width comma is a comma: it separates as well"
    assert prepare("plain English, folded") == "plain english, folded"


def test_width_case_and_compatibility_forms_fold_alike_in_the_index_and_the_query():
    assert prepare("ＤＥＰＬＯＹ ｎｏｗ") == prepare("deploy now") == "deploy now"
    assert prepare("ﾃｷｽﾄ") == prepare("テキスト") and prepare("ﾃﾞﾌﾟﾛｲ") == prepare("デプロイ")
    assert prepare("Straße") == prepare("STRASSE") and prepare("the ﬁle") == prepare("the file")
    assert parse_query("ＤＥＰＬＯＹ") == parse_query("deploy") == [("deploy",)]
    assert parse_query("ﾃｷｽﾄ") == parse_query("テキスト") == [("テ", "キ", "ス", "ト")]
    assert parse_query("Straße") == [("strasse",)]


@given(st.text(st.characters(max_codepoint=0x7F)))
def test_ascii_is_prepared_as_the_whole_preparation_would(text):
    """ASCII takes a short way (lower()): the same as folding by NFKC and case, and the CJK rules."""
    slow = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    assert prepare(text) == fold(text) == slow


def test_a_query_is_phrases_of_tokens_with_a_prefix_for_words_of_three_letters():
    assert parse_query("会议 DEPLOY ok") == [("会", "议"), ("deploy",), ("ok",)]
    assert fts5_match(parse_query("会议 DEPLOY ok")) == '"会 议" AND "deploy"* AND "ok"'
    assert tsquery(parse_query("会议 deploy")) == "('会' <-> '议') & ('deploy':*)"
    assert parse_query('"NEAR(a* -b)" OR') == [("near", "a"), ("b",), ("or",)]
    assert parse_query("***") == [] and parse_query("") == []
    assert parse_query("user_name") == [("user", "name")]


@given(st.text(max_size=QUERY_MAX))
def test_no_query_brings_syntax_into_the_databases_query(query):
    for phrase in parse_query(query):
        for token in phrase:  # letters, digits and private use only: never a quote, operator or space
            assert token and all(unicodedata.category(c)[0] in "LN" or unicodedata.category(c) == "Co"
                                 for c in token)


def test_the_snippet_marks_matches_around_the_first_one():
    assert snippet("今天的会议改到下午三点", parse_query("会议")) == ["今天的", "会议", "改到下午三点"]
    assert snippet("We deployed it", parse_query("deploy")) == ["We ", "deploy", "ed it"]
    long = "x" * 300 + " needle " + "y" * 300
    parts = snippet(long, parse_query("needle"))
    assert parts[1] == "needle" and parts[0].startswith("…") and parts[-1].endswith("…")
    assert len("".join(parts)) <= SNIPPET_CHARS + 2
    assert snippet("nothing here", parse_query("absent")) == ["nothing here"]
    assert snippet("ＤＥＰＬＯＹ done", parse_query("deploy")) == ["", "ＤＥＰＬＯＹ", " done"], "the text as written"
    assert snippet("the ﾃｷｽﾄ", parse_query("テキスト")) == ["the ", "ﾃｷｽﾄ", ""]
    assert snippet("Straße 5", parse_query("STRASSE")) == ["", "Straße", " 5"]


def test_a_results_reply_head_and_its_largest_snippet_fit_the_reply_head_bound():
    """A result is a message frame plus its snippet: the head of ``results`` and the snippet's
    bytes together stay within REPLY_HEAD_MAX, so chatd.paging's bound on replies holds."""
    text = (COSTLIEST_CHAR + "a") * 400
    parts = snippet(text, parse_query("a"))
    head = {"type": "results", "q": COSTLIEST_CHAR * QUERY_MAX, "more": True, "cid": COSTLIEST_CHAR * CID_MAX,
            "results": []}
    assert len(encode(head)) + len(encode({"snippet": parts})) <= REPLY_HEAD_MAX
