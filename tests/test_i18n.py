"""The page's catalogues (static/i18n/*.json, read by static/i18n.js): both
languages hold the same keys, every key the page uses exists, and every error
code the server can send has words in both languages."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from chatd.protocol import Code

STATIC = Path(__file__).resolve().parent.parent / "static"
LANGUAGES = ["en", "zh-CN"]
# t('key' …) and plural('key', …) calls with a literal key; data-i18n*="key" in the page.
CALL = re.compile(r"""\b(t|plural)\(\s*['"]([a-z0-9_.-]+)['"]""")
ATTRIBUTE = re.compile(r"""\bdata-i18n(?:-[a-z-]+)?="([^"]+)\"""")
HAN = re.compile(r"[\u4e00-\u9fff]")


def catalogue(lang: str) -> dict[str, str]:
    return json.loads((STATIC / "i18n" / f"{lang}.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("lang", LANGUAGES)
def test_catalogue_is_a_sorted_flat_object_of_strings(lang):
    entries = catalogue(lang)
    assert all(isinstance(v, str) and v.strip() for v in entries.values())
    assert list(entries) == sorted(entries), "keep the keys sorted"


def test_both_languages_have_the_same_keys():
    en, zh = catalogue("en"), catalogue("zh-CN")
    assert sorted(set(en) - set(zh)) == [], "in en.json only"
    assert sorted(set(zh) - set(en)) == [], "in zh-CN.json only"


def test_chinese_is_chinese_and_placeholders_match():
    en, zh = catalogue("en"), catalogue("zh-CN")
    def words(text: str) -> bool:  # English words left once the placeholders are out
        return bool(re.search("[A-Za-z]{3}", re.sub(r"\{\w+\}", "", text)))

    assert [k for k, v in zh.items() if words(v) and (v == en[k] or not HAN.search(v))] == []
    for key in en:
        assert set(re.findall(r"\{\w+\}", en[key])) == set(re.findall(r"\{\w+\}", zh[key])), key


def test_every_server_error_code_has_words_in_both_languages():
    for lang in LANGUAGES:
        missing = [code.value for code in Code if f"error.{code.value}" not in catalogue(lang)]
        assert missing == [], f"{lang}.json lacks error.<code> for these codes"


def used_keys() -> set[str]:
    keys = set()
    for path in STATIC.glob("*.js"):
        for kind, key in CALL.findall(path.read_text(encoding="utf-8")):
            keys |= {f"{key}.one", f"{key}.other"} if kind == "plural" else {key}
    keys |= set(ATTRIBUTE.findall((STATIC / "index.html").read_text(encoding="utf-8")))
    return keys


def test_every_key_the_page_uses_is_in_the_catalogues():
    assert used_keys(), "the pattern finds the page's keys"
    assert sorted(used_keys() - set(catalogue("en"))) == []
