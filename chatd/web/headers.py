"""The security headers every HTTP response from chatd carries.

One place, one set: the page, static files, ``/healthz``, redirects, every
error page and the ``/ws`` handshake's refusals all get them, so a file
added later (or an HTML file reached by an unexpected URL, like
``/static/index.html``) cannot slip out with a weaker policy. Handlers mix
in ``SecurityHeaders``; Tornado calls ``set_default_headers`` for every
response, errors included. The page's own policy also admits the images of
``identity.avatar_hosts`` (``content_security_policy``), a live setting.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping

from tornado import httputil


# What the page may load and talk to. 'self' in connect-src also admits
# ws:// and wss:// to the page's own host and port (CSP Level 3, "Does url
# match expression in origin": 'self' allows the ws/wss scheme upgrade),
# and nothing else: a script injected some day still cannot ship the chat
# to another host. The page uses no inline script or style attribute, no
# eval, no plugin; the favicon is a data: URL.
def content_security_policy(image_hosts: Iterable[str] = ()) -> str:
    """The policy; ``image_hosts``: hosts besides chatd whose images the page
    may show (``identity.avatar_hosts``, host names as ``chatd.settings``
    checks them: no scheme, nothing a policy would read as a separator). A
    host source without a scheme admits the page's scheme and its upgrade
    (CSP Level 3, "Does url match expression in origin")."""
    return "; ".join([
        "default-src 'self'",
        "connect-src 'self'",
        " ".join(["img-src 'self' data:", *image_hosts]),
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",  # no framing: no clickjacking of the composer
    ])


CONTENT_SECURITY_POLICY = content_security_policy()

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",  # a file is what its Content-Type says, never sniffed into a script
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate it
    "Referrer-Policy": "no-referrer",  # room names in a URL never leak to a linked site
    "Cross-Origin-Opener-Policy": "same-origin",
    "Server": "chatd",  # no version: nothing to match against a list of known holes
}


def closing_answer(status: str, text: str, fields: Mapping[str, str] | None = None) -> bytes:
    """The bytes of an answer chatd writes on a socket itself, outside Tornado's
    handlers, that ends the connection: ``status`` (``"431 Request Header Fields Too
    Large"``), a plain-text body ``text`` (a line: a newline is added), the security
    headers, ``fields`` and ``Connection: close``."""
    body = (text + "\n").encode()
    lines = [f"HTTP/1.1 {status}", f"Date: {httputil.format_timestamp(time.time())}",
             *(f"{name}: {value}" for name, value in SECURITY_HEADERS.items()),
             *(f"{name}: {value}" for name, value in (fields or {}).items()),
             "Content-Type: text/plain; charset=utf-8", f"Content-Length: {len(body)}", "Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class SecurityHeaders:
    """Mixin for a ``tornado.web.RequestHandler`` subclass (put it first)."""

    def set_default_headers(self) -> None:
        for name, value in SECURITY_HEADERS.items():
            self.set_header(name, value)  # type: ignore[attr-defined]
