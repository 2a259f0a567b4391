"""schemathesis against /api/v1/openapi.json of a real chatd process: every operation, positive
and negative examples; no 5xx, and every answer matches the document (status codes, content
types, bodies, the Allow header of a 405). Bounded and derandomized: the same cases every run.

The key has every scope and is bound to a user: a message then always has a sender (an unbound
key must name one with ``as``, a rule between the key and the body no schema can state; that
path is tests/test_api_messages.py's).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

import jsonschema_rs
import pytest
import schemathesis
from hypothesis import HealthCheck, assume, settings

from chatd.api.fields import ROOM_PATTERN
from chatd.protocol.roomnames import room_name_problem
from tests.apiclient import cli_api_key
from tests.ops_fixtures import Chatd
from tests.wsclient import ChatClient

EXAMPLES = 30  # per operation: well under a minute for all of them on a loaded 2-core machine


async def _a_user(server: Chatd) -> int:
    async with ChatClient.connect(server.ws_url) as client:
        return (await client.enter("lobby", name="fuzzbot")).welcome["user"]["id"]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Chatd, str]]:
    server = Chatd(tmp_path_factory.mktemp("api"), api={"rate_per_second": 1e6, "rate_burst": 1e6})
    try:
        assert server.start().returncode == 0, server.log()
        yield server, cli_api_key(server, "publish", "read", "manage", user=asyncio.run(_a_user(server)))
    finally:
        server.kill_all()


@pytest.fixture(scope="module")
def api_schema(live: tuple[Chatd, str]) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"http://127.0.0.1:{live[0].port}/api/v1/openapi.json")


def _valid(schema: dict[str, Any], value: Any) -> bool:
    return jsonschema_rs.validator_for(schema).is_valid(value)


def _conforms(case: schemathesis.Case) -> bool:
    """Whether a case schemathesis made as valid is valid by the document: its generator
    approximates some patterns (``\\p{M}`` as a block range with unassigned code points, an empty
    string for a minLength 1 query value), and such a case is not a finding. A room name is valid
    by its pattern and by the rules its description names beyond it (``room_name_problem``)."""
    raw = case.operation.definition.raw
    given = {"path": {k: unquote(str(v)) for k, v in (case.path_parameters or {}).items()},
             "query": case.query or {}}
    for parameter in raw.get("parameters", []):
        place = given.get(parameter["in"], {})
        if parameter["name"] not in place:
            continue
        value = place[parameter["name"]]
        if not _valid(parameter["schema"], value):
            return False
        if parameter["schema"].get("pattern") == ROOM_PATTERN and room_name_problem(value):
            return False
    body = raw.get("requestBody", {}).get("content", {}).get("application/json")
    if body is None or not isinstance(case.body, dict):
        return True
    fields = body["schema"].get("properties", {})
    return _valid(body["schema"], case.body) and not any(
        fields.get(name, {}).get("pattern") == ROOM_PATTERN and isinstance(value, str) and room_name_problem(value)
        for name, value in case.body.items())


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
def test_every_answer_matches_the_document(case: schemathesis.Case, live: tuple[Chatd, str]) -> None:
    if case.meta is not None and case.meta.generation.mode.value == "positive":
        assume(_conforms(case))
    if case.headers and "Idempotency-Key" in case.headers:
        # One Idempotency-Key per request: the same key with another request is 422 by design (that
        # path is tests/test_api_messages.py's); a generated key is reused across unlike requests.
        digest = hashlib.sha256(repr((case.path_parameters, case.body)).encode()).hexdigest()[:16]
        case.headers["Idempotency-Key"] = f"{case.headers['Idempotency-Key'][:200]}-{digest}"
    case.call_and_validate(headers={"Authorization": f"Bearer {live[1]}"}, timeout=30)
