"""The docs are the contract: they fail the build when the code outgrows them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from chatd.api import operations
from chatd.api.base import STATUS
from chatd.api.openapi import openapi_document
from chatd.protocol.codes import CloseCode, Code
from chatd.protocol.fields import SCHEMAS
from chatd.settings import SETTINGS
from chatd.strictjson import NESTING_MAX

DOCS = Path(__file__).resolve().parent.parent / "docs"
PROTOCOL = (DOCS / "protocol.md").read_text()
CONFIGURATION = (DOCS / "configuration.md").read_text()
API = (DOCS / "api.md").read_text()


@pytest.mark.parametrize("key", [s.key for s in SETTINGS])
def test_every_setting_is_documented(key):
    assert re.search(rf"^\| `{re.escape(key)}` \|", CONFIGURATION, re.M), f"docs/configuration.md lacks {key}"


def test_no_documented_setting_is_gone():
    documented = set(re.findall(r"^\| `([a-z_.]+)` \|", CONFIGURATION, re.M))
    assert documented <= {s.key for s in SETTINGS}


@pytest.mark.parametrize("code", list(Code))
def test_every_error_code_is_documented(code):
    assert f"| `{code}` |" in PROTOCOL


def test_nesting_limit_is_documented():
    assert f"nest at most {NESTING_MAX} levels deep" in PROTOCOL


def client_section(kind: str) -> str:
    """The text of request ``kind``'s section in protocol.md's "Client → server" part."""
    part = PROTOCOL.split("\n## Client → server\n", 1)[1].split("\n## ", 1)[0]
    found = re.search(rf"^### {re.escape(kind)}\n(.*?)(?=^##)", part + "\n##", re.M | re.S)
    assert found, f"docs/protocol.md has no section '### {kind}' under 'Client → server'"
    return found.group(1)


@pytest.mark.parametrize("kind", list(SCHEMAS))
def test_every_client_frame_is_documented_with_its_own_fields(kind):
    """Its section shows frames of its type only, names each field the parser takes, and its
    table lists no other (sections once slid: history's text under mute, mute's table under search)."""
    section = client_section(kind)
    assert set(re.findall(r'"type": "(\w+)"', section.split("→")[0])) == {kind}, f"examples of '### {kind}'"
    missing = [field for field in SCHEMAS[kind] if f"`{field}`" not in section and f'"{field}":' not in section]
    assert not missing, f"'### {kind}' does not name {missing}"
    rows = set(re.findall(r"^\| `(\w+)` \|", section, re.M)) - {"cid"}  # any frame's: "Transport"
    assert rows <= set(SCHEMAS[kind]), f"'### {kind}' lists {rows - set(SCHEMAS[kind])}, which it does not take"


def server_frame_types() -> set[str]:
    """Every ``"type": "..."`` the server code builds (chatd/api's are JSON Schemas, not frames)."""
    api = DOCS.parent / "chatd" / "api"
    source = "".join(p.read_text() for p in (DOCS.parent / "chatd").rglob("*.py") if api not in p.parents)
    return set(re.findall(r'"type": "(\w+)"', source))


@pytest.mark.parametrize("kind", sorted(server_frame_types()))
def test_every_server_frame_is_documented(kind):
    assert f"### {kind}\n" in PROTOCOL


def close_codes_sent() -> set[str]:
    """Every ``CloseCode`` the server's code closes or fails a connection with."""
    source = "".join(p.read_text() for p in (DOCS.parent / "chatd").rglob("*.py"))
    return set(re.findall(r"(?:FrameError|close|fail|stop)\(CloseCode\.(\w+)", source))


@pytest.mark.parametrize("name", sorted(close_codes_sent()))
def test_every_close_code_sent_is_documented(name):
    assert f"| {getattr(CloseCode, name)} |" in PROTOCOL


def errors_of(kind: str) -> str:
    """The section of request ``kind`` in docs/protocol.md's "Client → server" (its first ``### kind``)."""
    return PROTOCOL.split(f"### {kind}\n", 1)[1].split("\n### ", 1)[0]


@pytest.mark.parametrize("kind, fields, code", [
    ("rooms", {"after": "nowhere"}, "no_such_room"),
    ("rooms", {"after": "-bad"}, "bad_room"),
    ("join", {"room": "nowhere"}, "no_such_room"),
    ("join", {"room": "-bad"}, "bad_room"),
    ("leave", {"room": "nowhere"}, "no_such_room"),
    ("leave", {"room": "lobby"}, "not_in_room"),
    ("leave", {"room": "-bad"}, "bad_room"),
    ("create", {"room": "lobby"}, "room_exists"),
    ("create", {"room": "-bad"}, "bad_room"),
    ("say", {"room": "nowhere", "text": "hi"}, "no_such_room"),
    ("say", {"room": "lobby", "text": "hi"}, "not_in_room"),
    ("say", {"room": "-bad", "text": "hi"}, "bad_room"),
    ("say", {"to": 999_999, "text": "hi"}, "no_such_user"),
    ("say", {"to": 1, "text": " "}, "empty_text"),
    ("history", {"room": "nowhere"}, "no_such_room"),
    ("history", {"room": "lobby"}, "not_in_room"),
    ("history", {"room": "-bad"}, "bad_room"),
    ("history", {"with": 999_999}, "no_such_user"),
])
async def test_the_errors_a_request_gets_are_listed_in_its_section(user, kind, fields, code):
    client = await user("alice")
    answer = await client.request(kind, **fields)
    assert answer.get("code") == code, answer
    assert f"`{code}`" in errors_of(kind), f"docs/protocol.md, ### {kind}, does not list {code}"



def api_operations() -> list[tuple[str, str, str]]:
    """(METHOD, path, scope) of every operation in the OpenAPI document (the API's contract)."""
    scopes = {op.name: op.scope for op in operations()}
    return [(method.upper(), path, scopes[op["operationId"]])
            for path, methods in openapi_document(operations())["paths"].items() for method, op in methods.items()]


@pytest.mark.parametrize("method, path, scope", api_operations())
def test_every_api_operation_has_its_section(method, path, scope):
    headings = re.findall(r"^### ([A-Z]+ /api/v1/.*)$", API, re.M)  # ### METHOD /api/v1/path — what (scope)
    heading = next((h for h in headings if h.startswith(f"{method} {path} ")), None)
    assert heading, f"docs/api.md has no section '### {method} {path} — …'"
    assert not scope or heading.endswith(f"({scope})"), f"docs/api.md's '{heading}' does not end with ({scope})"


@pytest.mark.parametrize("code, status", list(STATUS.items()))
def test_every_api_error_code_is_in_the_error_table(code, status):
    row = re.search(rf"^\| {status} \| (.*)$", API, re.M)
    assert row and f"`{code}`" in row.group(1), f"docs/api.md's error table lacks `{code}` under {status}"


@pytest.mark.parametrize("name", [op.name for op in operations() if op.batch])
def test_every_batch_operation_is_named_in_the_batch_section(name):
    section = API.split("### POST /api/v1/batch ", 1)[1].split("\n### ", 1)[0]
    assert f"`{name}`" in section, f"docs/api.md's batch section does not name {name}"
