"""The web app's own webhook (``webhooks.app_url``): users coming online, going offline, messages posted.

For apps that archive or moderate, or show who is online on their own
pages. Each call is a signed POST like a bot's (``chatd.webhooks``;
docs/api.md, "App webhooks"), of one of the ``webhooks.app_events``:

- ``user_online``: ``{"event": "user_online", "user": {"id", "name"}, "ts": ms}``, when a user
  with no session anywhere in the cluster opens one;
- ``user_offline``: the same, when its last session has ended and it stayed
  away ``webhooks.presence_debounce_seconds`` (a page reload sends nothing);
- ``message``: ``{"event": "message", "message": <the message frame>}``, once per
  stored message, by the node that stored it (``Chat.post``).

**Which node reports presence.** The node where a user's first session opens
reports ``user_online`` if the user is online on no other node (as
``chatd.cluster`` knows it); the node where its last session ends waits out
the debounce and reports ``user_offline`` if the user is then online nowhere.
So each change is reported by one node. Across nodes presence converges
within a heartbeat: a page reload whose new connection lands on another node
before the first node's news reached it can send a second ``user_online``
without an offline between; an app treats these as the user's state, not as
counted edges.

    app = AppWebhooks(webhooks, lambda: config, online_elsewhere=lambda uid: ..., clock=time.time)
    app.arrived(user)       # first session here
    app.gone(user)          # last session here ended
    app.message(row)        # a message stored here
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from chatd.config import app_webhook_secret
from chatd.protocol.frames import message_frame
from chatd.session import User
from chatd.store import MessageRow
from chatd.webhooks import Webhooks

ONLINE, OFFLINE, MESSAGE = "user_online", "user_offline", "message"


class AppWebhooks:
    def __init__(self, webhooks: Webhooks, config: Callable[[], Any], online_elsewhere: Callable[[int], bool],
                 clock: Callable[[], float] = time.time):
        """``online_elsewhere(user_id)``: whether the user has a session on another node;
        ``clock``: Unix seconds, for ``ts``."""
        self.webhooks = webhooks
        self._config = config
        self._online_elsewhere = online_elsewhere
        self._clock = clock
        self._leaving: dict[int, asyncio.TimerHandle] = {}  # user id → its user_offline, waiting out the debounce
        self._secret: tuple[Any, bytes | None] = (None, None)  # (the Config it was read for, the secret)

    def _wants(self, event: str) -> bool:
        hooks = self._config().webhooks
        return bool(hooks.app_url) and event in hooks.app_events

    def arrived(self, user: User) -> None:
        """``user``'s first session on this node opened."""
        leaving = self._leaving.pop(user.id, None)
        if leaving is not None:
            leaving.cancel()  # back within the debounce: it never went offline
        elif not self._online_elsewhere(user.id):
            self._presence(ONLINE, user.id, user.name)

    def gone(self, user: User) -> None:
        """``user``'s last session on this node ended."""
        if self._online_elsewhere(user.id) or not self._wants(OFFLINE):
            return
        delay = self._config().webhooks.presence_debounce_seconds
        self._leaving[user.id] = asyncio.get_running_loop().call_later(delay, self._left, user)

    def _left(self, user: User) -> None:
        del self._leaving[user.id]
        if not self._online_elsewhere(user.id):
            self._presence(OFFLINE, user.id, user.name)

    def message(self, row: MessageRow) -> None:
        """A message was stored by this node."""
        if self._wants(MESSAGE):
            self._send(MESSAGE, {"event": MESSAGE, "message": message_frame(row)})

    def close(self) -> None:
        """Stopping: offline reports still waiting are given up."""
        for timer in self._leaving.values():
            timer.cancel()
        self._leaving.clear()

    def _presence(self, event: str, user_id: int, name: str) -> None:
        if self._wants(event):
            self._send(event, {"event": event, "user": {"id": user_id, "name": name},
                               "ts": int(self._clock() * 1000)})

    def _send(self, event: str, payload: dict[str, Any]) -> None:
        config = self._config()
        if self._secret[0] is not config:  # read once per config (a reload reads the file again), not per call
            self._secret = (config, app_webhook_secret(config))
        self.webhooks.send(config.webhooks.app_url, self._secret[1], event, payload)
