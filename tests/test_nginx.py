"""The shipped nginx site, for real: nginx/chatd.conf changed only in paths,
ports and a self-signed certificate made here, in front of a real chatd;
a wss client chats through it from 127.0.0.2 and chatd sees that address;
headers, caching and malformed paths as a browser or a scanner meets them.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import os
import re
import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.exceptions import InvalidStatus

from chatd.settings import BY_KEY
from chatd.web.assets import REVALIDATE, VERSIONED_CACHE
from chatd.web.headers import SECURITY_HEADERS
from tests.ops_fixtures import Chatd, wait_for
from tests.test_web import MALFORMED
from tests.wsclient import ChatClient

NGINX_HEADER_BUFFERS = 4 * 8192  # large_client_header_buffers' default
SPOOF = {"X-Forwarded-For": "6.6.6.6", "X-Real-IP": "6.6.6.6"}
SITE = Path(__file__).resolve().parent.parent / "nginx" / "chatd.conf"
CLUSTER = SITE.with_name("chatd-cluster.conf")
PORT_ATTEMPTS = 5
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)

WRAPPER = """\
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
{user}
events {{ worker_connections 128; }}
http {{
    include /etc/nginx/mime.types;
    access_log {dir}/access.log;
    client_body_temp_path {dir}/tmp/body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;
    include {dir}/chatd.conf;
}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def adapt(site: str, replacements: list[tuple[str, str]]) -> str:
    """The site with each pattern replaced; each must occur, so drift in the
    shipped file fails here rather than silently testing something else."""
    for pattern, value in replacements:
        site, n = re.subn(pattern, value, site, flags=re.M)
        assert n, f"nginx/chatd.conf no longer has {pattern!r}"
    return site


def cluster_upstream(ports: list[int]) -> str:
    """nginx/chatd-cluster.conf's upstream block, its nodes on these loopback ports."""
    block = re.search(r"^upstream chatd \{.*?^\}", CLUSTER.read_text(), flags=re.M | re.S)[0]
    servers = "".join(f"    server 127.0.0.1:{port} max_fails=1 fail_timeout=5s;\n" for port in ports)
    return adapt(block, [(r"(^\s*server 10\.0\.0\.\d+:8080 .*\n)+", servers)])


def start_nginx(work: Path, chatd_ports: list[int], cert: Path, key: Path) -> tuple[subprocess.Popen | None, int, int]:
    """nginx with the shipped site on two free ports, once it listens on both;
    → (process, http port, https port), or (None, …) if another program took a
    port between ``free_port()`` and nginx's bind (the caller tries again).
    Several chatd ports: the site's upstream is nginx/chatd-cluster.conf's."""
    http_port, https_port = free_port(), free_port()
    upstream = (f"upstream chatd {{\n    server 127.0.0.1:{chatd_ports[0]};\n}}" if len(chatd_ports) == 1
                else cluster_upstream(chatd_ports))
    site = adapt(SITE.read_text(), [
        (r"^upstream chatd \{[^}]*\}", upstream),
        (r"^\s*listen \[::\]:(80|443)( ssl)?;\n", ""),
        (r"listen 80;", f"listen 127.0.0.1:{http_port};"),
        (r"listen 443 ssl;", f"listen 127.0.0.1:{https_port} ssl;"),
        (r"/etc/letsencrypt/live/chat\.example\.org/fullchain\.pem", str(cert)),
        (r"/etc/letsencrypt/live/chat\.example\.org/privkey\.pem", str(key)),
        (r"/var/www/letsencrypt", str(work / "acme")),
        (r"/var/lib/nginx/chatd-static", str(work / "cache")),  # not made here: nginx must create it
    ])
    (work / "chatd.conf").write_text(site)
    user = "user root;" if os.geteuid() == 0 else ""  # workers must read the 0700 temp dir
    (work / "nginx.conf").write_text(WRAPPER.format(dir=work, user=user))
    argv = [NGINX, "-p", str(work), "-c", str(work / "nginx.conf")]
    check = subprocess.run([*argv, "-t"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    pidfile = work / "nginx.pid"
    pidfile.unlink(missing_ok=True)
    proc = subprocess.Popen([*argv, "-g", "daemon off;"], stderr=subprocess.PIPE, text=True)
    # nginx writes its pid file once its listening sockets are bound (a connect
    # test could reach whoever else holds the port), or exits saying why.
    wait_for(lambda: pidfile.exists() or proc.poll() is not None, what="nginx")
    if proc.poll() is None:
        return proc, http_port, https_port
    error = proc.stderr.read()
    proc.stderr.close()
    assert "Address already in use" in error, error
    return None, http_port, https_port


@contextlib.contextmanager
def nginx_in_front(work: Path, chatd_ports: list[int]) -> Iterator[dict]:
    """nginx with the shipped site in front of chatd (several ports: a cluster), a
    self-signed certificate made here; → {"http", "https": ports, "ssl": a client context}."""
    if NGINX is None:
        pytest.fail("nginx is not installed: `bash .ci/run` installs it")
    (work / "tmp").mkdir(parents=True)
    cert, key = work / "cert.pem", work / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-days", "2", "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert),
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"], check=True, capture_output=True)
    for _ in range(PORT_ATTEMPTS):
        proc, http_port, https_port = start_nginx(work, chatd_ports, cert, key)
        if proc is not None:
            break
    else:
        pytest.fail(f"nginx found no free ports in {PORT_ATTEMPTS} attempts")
    try:
        yield {"http": http_port, "https": https_port, "ssl": ssl.create_default_context(cafile=str(cert))}
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stderr.close()


@pytest.fixture
def nginx_site(chatd_daemon: Chatd) -> Iterator[dict]:
    with nginx_in_front(chatd_daemon.dir / "nginx", [chatd_daemon.port]) as site:
        yield {**site, "chatd": chatd_daemon}


async def test_wss_client_chats_through_nginx_and_chatd_sees_its_address(nginx_site: dict):
    d: Chatd = nginx_site["chatd"]
    port = nginx_site["https"]
    url = f"wss://127.0.0.1:{port}/ws"
    # A browser sends Origin; chatd accepts it only if nginx passed the real Host.
    # The client's own X-Forwarded-For / X-Real-IP are not believed: nginx appends what it saw.
    async with ChatClient.connect(url, ssl=nginx_site["ssl"], origin=f"https://127.0.0.1:{port}",
                                  local_addr=("127.0.0.2", 0), additional_headers=SPOOF) as dave:
        assert (await dave.identify(name="dave"))["type"] == "welcome"
        assert (await dave.request("join", room="lobby"))["type"] == "joined"
        ack = await dave.say("lobby", "through nginx")
        assert ack["type"] == "ack"
        assert (await dave.expect("message", text="through nginx"))["id"] == ack["id"]
        rows = await asyncio.to_thread(d.connections)
        assert [r["remote_address"] for r in rows] == ["127.0.0.2"], "the client's address, not nginx's nor its claim"
        assert rows[0]["user"]["name"] == "dave"


async def test_a_foreign_page_cannot_open_the_websocket_through_nginx(nginx_site: dict):
    url = f"wss://127.0.0.1:{nginx_site['https']}/ws"
    with pytest.raises(InvalidStatus) as refused:
        await ChatClient.connect(url, ssl=nginx_site["ssl"], origin="https://evil.example",
                                 local_addr=("127.0.0.2", 0), additional_headers=SPOOF)
    assert refused.value.response.status_code == 403
    log = nginx_site["chatd"]
    wait_for(lambda: "origin 'https://evil.example'" in log.log(), what="the refusal in chatd's log")
    assert "refused a WebSocket from 127.0.0.2: origin 'https://evil.example'" in log.log()


def get(site: dict, target: str, port: str = "https") -> http.client.HTTPResponse:
    kind = http.client.HTTPSConnection if port == "https" else http.client.HTTPConnection
    connection = kind("127.0.0.1", site[port], timeout=5, **({"context": site["ssl"]} if port == "https" else {}))
    try:
        connection.request("GET", target)
        response = connection.getresponse()
        response.body = response.read()
        return response
    finally:
        connection.close()


# Headers nginx adds to the responses it makes itself; chatd's own pass through unchanged.
NGINX_OWN = {"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
             "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
             "Server": "nginx"}
CHATD_OWN = {**SECURITY_HEADERS, "Server": "nginx"}  # nginx names itself, without a version


def assert_headers(response: http.client.HTTPResponse, expected: dict[str, str], what: str) -> None:
    for name, value in expected.items():
        assert response.getheader(name) == value, (what, name)
        assert len(response.headers.get_all(name)) == 1, (what, name, "sent once")


def version_of(site: dict) -> str:
    return re.search(rb'src="static/([0-9a-f]{16})/app\.js"', get(site, "/").body)[1].decode()


def test_every_response_through_nginx_has_the_security_headers(nginx_site: dict):
    redirect = get(nginx_site, "/some/page?x=1", port="http")
    assert redirect.status == 301 and redirect.getheader("Location") == "https://127.0.0.1/some/page?x=1"
    assert_headers(redirect, NGINX_OWN, "the redirect to https")

    v = version_of(nginx_site)
    expected = {  # path → status, Cache-Control, who answers
        "/": (200, REVALIDATE, CHATD_OWN), f"/static/{v}/app.js": (200, VERSIONED_CACHE, CHATD_OWN),
        "/static/app.js": (200, REVALIDATE, CHATD_OWN), "/static/index.html": (301, None, CHATD_OWN),
        "/healthz": (200, "no-store", CHATD_OWN), "/no-such-page": (404, None, CHATD_OWN),
        "/readyz": (200, "no-store", CHATD_OWN), "/metrics": (404, None, NGINX_OWN),
        f"/static/{v}/nope.js": (404, None, CHATD_OWN), "/static/%00": (400, None, NGINX_OWN),
    }
    for target, (status, cache_control, headers) in expected.items():
        response = get(nginx_site, target)
        assert (response.status, response.getheader("Cache-Control")) == (status, cache_control), target
        assert_headers(response, {**headers, "Strict-Transport-Security": "max-age=31536000"}, target)


def test_head_through_nginx_answers_like_get_without_a_body(nginx_site: dict):
    """What uptime monitors ask, through the proxy (and its cache, which turns a HEAD into a GET upstream)."""
    v = version_of(nginx_site)
    connection = http.client.HTTPSConnection("127.0.0.1", nginx_site["https"], timeout=5, context=nginx_site["ssl"])
    try:
        for target in ("/", "/healthz", f"/static/{v}/app.js", "/static/app.js"):
            connection.request("HEAD", target)
            response = connection.getresponse()
            assert (response.status, response.read()) == (200, b""), target
    finally:
        connection.close()


def test_nginx_keeps_versioned_files_and_never_the_page(nginx_site: dict):
    v = version_of(nginx_site)
    module = get(nginx_site, f"/static/{v}/connection.js")
    assert module.status == 200
    assert get(nginx_site, "/static/connection.js").status == 200
    stopped = nginx_site["chatd"].cli("stop")
    assert stopped.returncode == 0, stopped.stderr
    again = get(nginx_site, f"/static/{v}/connection.js")
    assert (again.status, again.body) == (200, module.body), "served from nginx's cache"
    assert_headers(again, {**CHATD_OWN, "Cache-Control": VERSIONED_CACHE}, "a file from nginx's cache")
    for target in ("/", "/static/connection.js", "/healthz"):
        down = get(nginx_site, target)
        assert down.status == 502, f"{target} is never kept"
        assert_headers(down, NGINX_OWN, f"{target} while chatd is down")


def test_malformed_paths_through_nginx_are_never_a_500(nginx_site: dict):
    # Longer requests than nginx's header buffers (4 x 8 KiB) get a 414 and a close before the
    # rest is read: the client may see a reset instead of the answer, as from any nginx.
    for target in (t for t in MALFORMED if len(t) < NGINX_HEADER_BUFFERS):
        with nginx_site["ssl"].wrap_socket(socket.create_connection(("127.0.0.1", nginx_site["https"]), timeout=5),
                                           server_hostname="localhost") as sock:
            sock.sendall(b"GET " + target.replace(b"{v}", b"0" * 16) + b" HTTP/1.1\r\nHost: localhost\r\n"
                         b"Connection: close\r\n\r\n")
            response = http.client.HTTPResponse(sock)
            response.begin()
            response.read()
            # 301: nginx adds the slash to /static; 414: nginx's limit on a request line
            assert response.status in (301, 400, 404, 414), (target, response.status)
    assert "Traceback" not in nginx_site["chatd"].log()


def test_proxy_read_timeout_outlasts_the_ping_interval():
    ws_block = re.search(r"location = /ws \{(.*?)\}", SITE.read_text(), re.S)[1]
    timeout = int(re.search(r"proxy_read_timeout (\d+)s;", ws_block)[1])
    assert timeout > BY_KEY["websocket.ping_interval"].default + BY_KEY["websocket.ping_timeout"].default
    for header in ("Upgrade $http_upgrade", "Host $http_host", "X-Real-IP $remote_addr",
                   "X-Forwarded-For $proxy_add_x_forwarded_for"):
        assert f"proxy_set_header {header};" in ws_block
