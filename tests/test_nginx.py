"""The shipped nginx site, for real: nginx/chatd.conf changed only in paths,
ports and a self-signed certificate made here, in front of a real chatd;
a wss client chats through it from 127.0.0.2 and chatd sees that address.
"""

from __future__ import annotations

import asyncio
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

from chatd.config import BY_KEY
from tests.ops_fixtures import Chatd, wait_for
from tests.wsclient import ChatClient

SITE = Path(__file__).resolve().parent.parent / "nginx" / "chatd.conf"
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


def start_nginx(work: Path, chatd_port: int, cert: Path, key: Path) -> tuple[subprocess.Popen | None, int, int]:
    """nginx with the shipped site on two free ports, once it listens on both;
    → (process, http port, https port), or (None, …) if another program took a
    port between ``free_port()`` and nginx's bind (the caller tries again)."""
    http_port, https_port = free_port(), free_port()
    site = adapt(SITE.read_text(), [
        (r"server 127\.0\.0\.1:8080;", f"server 127.0.0.1:{chatd_port};"),
        (r"^\s*listen \[::\]:(80|443)( ssl)?;\n", ""),
        (r"listen 80;", f"listen 127.0.0.1:{http_port};"),
        (r"listen 443 ssl;", f"listen 127.0.0.1:{https_port} ssl;"),
        (r"/etc/letsencrypt/live/chat\.example\.org/fullchain\.pem", str(cert)),
        (r"/etc/letsencrypt/live/chat\.example\.org/privkey\.pem", str(key)),
        (r"/var/www/letsencrypt", str(work / "acme")),
        (r"/opt/chatd/static/", f"{work}/static/"),
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


@pytest.fixture
def nginx_site(chatd_daemon: Chatd) -> Iterator[dict]:
    if NGINX is None:
        pytest.skip("nginx is not installed (.ci/run installs it)")
    d = chatd_daemon
    work = d.dir / "nginx"
    (work / "tmp").mkdir(parents=True)
    (work / "static").mkdir()
    (work / "static" / "hello.txt").write_text("static from disk\n")
    cert, key = work / "cert.pem", work / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-days", "2", "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert),
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"], check=True, capture_output=True)
    for _ in range(PORT_ATTEMPTS):
        proc, http_port, https_port = start_nginx(work, d.port, cert, key)
        if proc is not None:
            break
    else:
        pytest.fail(f"nginx found no free ports in {PORT_ATTEMPTS} attempts")
    try:
        context = ssl.create_default_context(cafile=str(cert))
        yield {"http": http_port, "https": https_port, "ssl": context, "chatd": d}
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stderr.close()


async def test_wss_client_chats_through_nginx_and_chatd_sees_its_address(nginx_site: dict):
    d: Chatd = nginx_site["chatd"]
    port = nginx_site["https"]
    url = f"wss://127.0.0.1:{port}/ws"
    # A browser sends Origin; Tornado accepts it only if nginx passed the real Host.
    async with ChatClient.connect(url, ssl=nginx_site["ssl"], origin=f"https://127.0.0.1:{port}",
                                  local_addr=("127.0.0.2", 0)) as dave:
        assert (await dave.identify(name="dave"))["type"] == "welcome"
        assert (await dave.request("join", room="lobby"))["type"] == "joined"
        ack = await dave.say("lobby", "through nginx")
        assert ack["type"] == "ack"
        assert (await dave.expect("message", text="through nginx"))["id"] == ack["id"]
        rows = await asyncio.to_thread(d.connections)
        assert [r["remote_address"] for r in rows] == ["127.0.0.2"], "the client's address, not nginx's"
        assert rows[0]["user"]["name"] == "dave"


def test_https_site_redirects_serves_static_and_proxies_the_rest_for_get_and_head(nginx_site: dict):
    plain = http.client.HTTPConnection("127.0.0.1", nginx_site["http"], timeout=5)
    plain.request("GET", "/some/page?x=1")
    response = plain.getresponse()
    assert response.status == 301
    assert response.getheader("Location").startswith("https://127.0.0.1") and "/some/page?x=1" in response.getheader(
        "Location")
    plain.close()

    secure = http.client.HTTPSConnection("127.0.0.1", nginx_site["https"], timeout=5, context=nginx_site["ssl"])
    secure.request("GET", "/static/hello.txt")
    response = secure.getresponse()
    assert response.status == 200 and response.read() == b"static from disk\n"
    secure.request("GET", "/healthz")
    response = secure.getresponse()
    assert response.status == 200 and b'"status": "ok"' in response.read()
    for path in ("/", "/healthz", "/static/hello.txt"):  # what uptime monitors ask, through the proxy
        secure.request("HEAD", path)
        response = secure.getresponse()
        assert response.status == 200 and response.read() == b"", path
    secure.close()


def test_proxy_read_timeout_outlasts_the_ping_interval():
    ws_block = re.search(r"location = /ws \{(.*?)\}", SITE.read_text(), re.S)[1]
    timeout = int(re.search(r"proxy_read_timeout (\d+)s;", ws_block)[1])
    assert timeout > BY_KEY["websocket.ping_interval"].default + BY_KEY["websocket.ping_timeout"].default
    for header in ("Upgrade $http_upgrade", "Host $http_host", "X-Real-IP $remote_addr",
                   "X-Forwarded-For $proxy_add_x_forwarded_for"):
        assert f"proxy_set_header {header};" in ws_block
