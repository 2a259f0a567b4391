"""The pages' catalogues (static/i18n/*.json, read by static/i18n.js, and the admin
page's own, static/i18n/admin/*.json): both languages hold the same keys, every key
a page uses exists, and every error code and value the server can send has words in
both languages."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from chatd import abuse, audit, bots, client_refusals, names, reserved, session
from chatd.admin import handler_classes
from chatd.admin.base import STATUS_CODES
from chatd.admin.logins import LOGIN_LIMIT
from chatd.admin.rooms import FLAGS
from chatd.client_refusals import ATTACHMENT_CAUSES, FORBIDDEN_REASONS, UNAVAILABLE_CAUSES
from chatd.protocol.codes import LIMIT_CONNECTION, LIMIT_SEARCHES, LIMIT_UPLOADS, LIMIT_USER, Code
from chatd.protocol.roomnames import ROOM_RULES
from chatd.store.userdata import DELETED

STATIC = Path(__file__).resolve().parent.parent / "static"
ADMIN = STATIC / "admin"
LANGUAGES = ["en", "zh-CN"]
CATALOGUES = ["", "admin"]  # the shared one (static/i18n/), the admin page's own (static/i18n/admin/)
# t('key' …) and plural('key', …) calls with a literal key; data-i18n*="key" in the page.
CALL = re.compile(r"""\b(t|plural)\(\s*['"]([a-z0-9_.-]+)['"]""")
ATTRIBUTE = re.compile(r"""\bdata-i18n(?:-[a-z-]+)?="([^"]+)\"""")
HAN = re.compile(r"[\u4e00-\u9fff]")


def catalogue(lang: str, name: str = "") -> dict[str, str]:
    return json.loads((STATIC / "i18n" / name / f"{lang}.json").read_text(encoding="utf-8"))


def admin_catalogue(lang: str) -> dict[str, str]:
    """What the admin page reads: the shared catalogue and its own, merged (static/i18n.js)."""
    return {**catalogue(lang), **catalogue(lang, "admin")}


@pytest.mark.parametrize("name", CATALOGUES)
@pytest.mark.parametrize("lang", LANGUAGES)
def test_catalogue_is_a_sorted_flat_object_of_strings(lang, name):
    entries = catalogue(lang, name)
    assert all(isinstance(v, str) and v.strip() for v in entries.values())
    assert list(entries) == sorted(entries), "keep the keys sorted"


@pytest.mark.parametrize("name", CATALOGUES)
def test_both_languages_have_the_same_keys(name):
    en, zh = catalogue("en", name), catalogue("zh-CN", name)
    assert sorted(set(en) - set(zh)) == [], "in en.json only"
    assert sorted(set(zh) - set(en)) == [], "in zh-CN.json only"


@pytest.mark.parametrize("name", CATALOGUES)
def test_chinese_is_chinese_and_placeholders_match(name):
    en, zh = catalogue("en", name), catalogue("zh-CN", name)
    def words(text: str) -> bool:  # English words left once the placeholders are out
        return bool(re.search("[A-Za-z]{3}", re.sub(r"\{\w+\}", "", text)))

    assert [k for k, v in zh.items() if words(v) and (v == en[k] or not HAN.search(v))] == []
    for key in en:
        assert set(re.findall(r"\{\w+\}", en[key])) == set(re.findall(r"\{\w+\}", zh[key])), key


def test_every_server_error_code_has_words_in_both_languages():
    for lang in LANGUAGES:
        missing = [code.value for code in Code if f"error.{code.value}" not in catalogue(lang)]
        assert missing == [], f"{lang}.json lacks error.<code> for these codes"


def test_every_value_a_refusal_is_worded_from_has_words_in_both_languages():
    """The page builds these refusals from their fields (static/refusals.js): each value of a closed
    set the server may send has its words, or a Chinese page would show the English message."""
    keys = {f"refusal.name_rule_{rule}" for rule in (*names.RULES, *ROOM_RULES, *reserved.PATTERN_RULES, bots.ONE_WORD)}
    worded_apart = {client_refusals.ROLE, client_refusals.RANK}  # by the role or rank too: below
    keys |= {f"refusal.forbidden_{reason}" for reason in set(FORBIDDEN_REASONS) - worded_apart}
    keys |= {f"refusal.forbidden_role_{role}" for role in (audit.MODERATOR, audit.ADMIN)}
    keys |= {f"refusal.rank_{role}" for role in (audit.MODERATOR, audit.ADMIN)}
    keys |= {f"refusal.unavailable_{cause}" for cause in UNAVAILABLE_CAUSES}
    keys |= {f"refusal.attachment_{cause}" for cause in ATTACHMENT_CAUSES}
    keys |= {f"refusal.rate_{limit}" for limit in (LIMIT_CONNECTION, LIMIT_USER, LIMIT_SEARCHES, LIMIT_UPLOADS,
                                                   LOGIN_LIMIT, *abuse.LIMITS.values())}
    for lang in LANGUAGES:
        assert sorted(keys - set(catalogue(lang))) == [], lang


def used_keys(directory: Path = STATIC) -> set[str]:
    keys = set()
    for path in directory.glob("*.js"):
        for kind, key in CALL.findall(path.read_text(encoding="utf-8")):
            keys |= {f"{key}.one", f"{key}.other"} if kind == "plural" else {key}
    keys |= set(ATTRIBUTE.findall((directory / "index.html").read_text(encoding="utf-8")))
    return keys


def test_every_key_the_page_uses_is_in_the_catalogues():
    assert used_keys(), "the pattern finds the page's keys"
    assert sorted(used_keys() - set(catalogue("en"))) == []


def test_every_key_the_admin_page_uses_is_in_its_catalogues():
    """Literal keys (t('admin.save'), a tab's title: 'admin.audit.title'), and the words for the
    values the admin API sends, which the page looks up by value (t(`admin.role.${role}`))."""
    literal = re.compile(r"""(?<!plural\()['"]((?:admin|error|moderation)\.[a-z0-9_.-]+)['"]""")  # plural's: used_keys
    keys = used_keys(ADMIN) | {key for path in ADMIN.glob("*.js")
                               for key in literal.findall(path.read_text(encoding="utf-8"))}
    assert keys, "the patterns find the admin page's keys"
    keys |= {f"admin.role.{role}" for role in audit.ROLES}
    keys |= {f"admin.audit.kind.{kind}" for kind in audit.KINDS}
    keys |= {f"admin.users.kind.{kind}" for kind in (session.GUEST, session.APP, session.BOT, DELETED)}
    keys |= {f"admin.rooms.flag.{flag}" for flag in FLAGS} | {f"admin.rooms.scope.{s}" for s in reserved.SCOPES}
    keys |= {f"admin.dashboard.bus_{state}" for state in ("in-process", "connected", "disconnected")}
    for lang in LANGUAGES:
        assert sorted(keys - set(admin_catalogue(lang))) == [], lang


def test_every_admin_api_error_code_has_words_in_both_languages():
    """The codes chatd/admin/*.py refuse with (and those of the protocol it passes on, checked above)."""
    raised = re.compile(r'\b[45]\d\d, "([a-z_]+)"')  # AdminError(404, "not_found", …), _failed(…, 401, "bad_login", …)
    codes = set(STATUS_CODES.values()) | {"offline"}  # offline: the page's own, when chatd cannot be reached
    for module in {sys.modules[handler.__module__] for _, handler in handler_classes()}:
        codes |= set(raised.findall(Path(module.__file__).read_text(encoding="utf-8")))
    assert "bad_login" in codes, "the pattern finds the codes"
    for lang in LANGUAGES:
        assert sorted(c for c in codes if f"error.{c}" not in admin_catalogue(lang)) == [], lang
