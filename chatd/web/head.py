"""HEAD for the plain HTTP handlers: uptime monitors and link checkers ask
with HEAD, and expect what GET would answer without its body (RFC 9110
§9.3.2), not a 405.

    class PageHandler(SecurityHeaders, HeadAsGet, tornado.web.RequestHandler): ...
"""

from __future__ import annotations

from typing import Any


class HeadAsGet:
    """Mixin for a ``tornado.web.RequestHandler`` subclass with a ``get``.
    Tornado sends no body in answer to HEAD, but the status, the headers and
    the Content-Length of the body GET would send."""

    def head(self, *args: Any, **kwargs: Any) -> Any:
        return self.get(*args, **kwargs)  # type: ignore[attr-defined]
