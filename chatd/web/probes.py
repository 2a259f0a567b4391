"""``/metrics`` (Prometheus) and ``/readyz`` (readiness), for operators' tools.

``/metrics`` answers only a client whose address (as resolved through
``trusted_proxies``: ``request.remote_ip``) is in ``metrics.allow``, or one
that brings ``Authorization: Bearer <metrics.token>``; anyone else gets 401
(a token is configured: bring it) or 403 (no token: this address may not),
with a body that says only that. ``/readyz`` is for load balancers and says
what is not ready (``chatd.readiness``): nothing secret.

    (r"/metrics", MetricsHandler, {"chat": chat}), (r"/readyz", ReadyHandler, {"readiness": Readiness(chat)})
"""

from __future__ import annotations

import hmac
import logging

import tornado.web

from chatd import metrics
from chatd.auth.bearer import credentials
from chatd.auth.secret import configured_secret
from chatd.chat import Chat
from chatd.proxies import in_networks, parse_networks
from chatd.readiness import Readiness
from chatd.web.head import HeadAsGet
from chatd.web.headers import SecurityHeaders
from chatd.web.plain import PlainRefusals

log = logging.getLogger("chatd")


def token_matches(authorization: str | None, token: bytes | None) -> bool:
    """Whether an Authorization header brings ``token`` as a bearer token (the scheme in any case,
    ``chatd.auth.bearer``; compared in constant time)."""
    sent = credentials(authorization)
    if token is None or sent is None:
        return False
    return hmac.compare_digest(sent.encode(), token)


class MetricsHandler(SecurityHeaders, PlainRefusals, HeadAsGet, tornado.web.RequestHandler):
    def initialize(self, chat: Chat) -> None:
        self.chat = chat

    def get(self) -> None:
        self.set_header("Cache-Control", "no-store")
        settings = self.chat.config.metrics
        try:
            token = configured_secret(settings.token, settings.token_file, "metrics.token")
        except ValueError as e:  # the file changed since the config was checked: nobody gets in by token
            log.warning("/metrics: %s", e)
            token = None
        allowed = in_networks(self.request.remote_ip or "", parse_networks(settings.allow))
        if not allowed and not token_matches(self.request.headers.get("Authorization"), token):
            text = "metrics are not served to this address without the metrics token"
            if token is not None:
                self.refuse(401, text, {"WWW-Authenticate": 'Bearer realm="chatd metrics"'})
            else:
                self.refuse(403, text)
            return
        body, content_type = metrics.exposition()
        self.set_header("Content-Type", content_type)
        self.finish(body)


class ReadyHandler(SecurityHeaders, PlainRefusals, HeadAsGet, tornado.web.RequestHandler):
    def initialize(self, readiness: Readiness) -> None:
        self.readiness = readiness

    async def get(self) -> None:
        """200 {"status": "ready"}, or 503 {"status": "not ready", "problems": {what: why}}."""
        self.set_header("Cache-Control", "no-store")
        problems = await self.readiness.check()
        if problems:
            self.set_status(503)
            self.finish({"status": "not ready", "problems": problems})
        else:
            self.finish({"status": "ready"})
