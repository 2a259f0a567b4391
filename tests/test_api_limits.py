"""The HTTP API's limits in a real chatd process: a key over its rate gets 429 with Retry-After,
and the api.* keys reloaded by SIGHUP take effect at once, for the same key and connections."""

from __future__ import annotations

import json
import os
import signal
import urllib.error
import urllib.request
from typing import Any

import yaml

from tests.apiclient import cli_api_key
from tests.ops_fixtures import Chatd, wait_for

TIMEOUT = 30  # seconds for one request on a loaded machine


def call(install: Chatd, key: str, method: str, path: str, body: Any = None) -> tuple[int, dict, Any]:
    """→ (status, JSON body, headers) of one request, as a PHP app's curl would send it."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"http://127.0.0.1:{install.port}/api/v1{path}", data=data, method=method,
                                     headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return response.status, json.loads(response.read()), response.headers
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read()), e.headers


def test_over_the_rate_is_429_with_retry_after_and_a_reload_lifts_it(chatd_install: Chatd):
    d = chatd_install
    d.config["api"] = {"rate_per_second": 0.01, "rate_burst": 2, "batch_max": 1000}
    d.write_config()
    assert d.start().returncode == 0, d.log()
    key = cli_api_key(d, "read")
    assert [call(d, key, "GET", "/online")[0] for _ in range(2)] == [200, 200]
    status, body, headers = call(d, key, "GET", "/online")
    assert (status, body["error"]["code"]) == (429, "rate_limited")
    assert int(headers["Retry-After"]) >= 1  # whole seconds (RFC 9110 §10.2.3)
    batch = {"operations": [{"op": "all_online"}] * 3}
    status, body, _ = call(d, key, "POST", "/batch", batch)
    assert (status, body["error"]["code"]) == (429, "rate_limited")  # a batch is charged before any item runs

    d.config["api"] = {"rate_per_second": 1000, "rate_burst": 1000, "batch_max": 2}
    d.write_config(yaml.safe_dump(d.config))
    os.kill(d.pid, signal.SIGHUP)
    wait_for(lambda: call(d, key, "GET", "/online")[0] == 200, timeout=TIMEOUT, what="the new rate in force")
    status, body, _ = call(d, key, "POST", "/batch", batch)  # within the rate now, over the new batch_max
    assert (status, body["error"]["code"]) == (400, "bad_request") and "api.batch_max" in body["error"]["message"]
    status, body, _ = call(d, key, "POST", "/batch", {"operations": batch["operations"][:2]})
    assert status == 200 and [r["status"] for r in body["results"]] == [200, 200]
