"""docs/examples/chatd_client.py: chatd from a Python web app (Django, Flask, ...): Python 3.10+, standard library only.

Settings come from the environment: CHATD_URL (https://chat.example.com), CHATD_API_KEY (a key
with the scopes publish, read, manage: `chatd apikey create shop --scope publish --scope read
--scope manage`) and CHATD_APP_SECRET (chatd's app_tokens.secret). Every function raises
ChatdError when chatd refuses; run as a script it is also a small tool (see the end).
"""

import base64
import hashlib
import hmac
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from functools import lru_cache


class ChatdError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(f"chatd: {status} {code}: {message}")
        self.status = status  # the HTTP status, 0 when chatd could not be reached
        self.code = code  # chatd's stable code: no_such_user, unauthorized, rate_limited, ...


def env(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise ChatdError(0, "not_configured", f"set the environment variable {name}")
    return value


def base64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def app_token(sub: str, name: str, ttl_seconds: int = 300, **extra) -> str:
    """(a) Log a user in: an app token (a JWT, HS256) for one of your users. ``sub`` is your user
    id; chatd finds the same chatd user by it on every device. Short-lived: chatd hands the page
    its own resume token, so the JWT is used once, at sign-in. ``extra``: avatar, rooms, roles.
    (With PyJWT installed: jwt.encode(claims, secret, "HS256") makes the same token.)"""
    header = base64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    now = int(time.time())
    claims = {"sub": sub, "name": name, "iat": now, "exp": now + ttl_seconds, **extra}
    payload = base64url(json.dumps(claims, ensure_ascii=False).encode())
    signature = hmac.new(env("CHATD_APP_SECRET").encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{base64url(signature)}"


def login_url(sub: str, name: str) -> str:
    """The link to the chatd page that signs the user in: the token goes in the fragment (after
    #), which browsers never send to a server, so it stays out of access logs; the page removes it."""
    return env("CHATD_URL").rstrip("/") + "/#app_token=" + urllib.parse.quote(app_token(sub, name), safe="")


def api(method: str, path: str, body=None, idempotency_key: str | None = None) -> dict:
    """One call of the HTTP API: the decoded answer, or ChatdError. With an ``idempotency_key``
    (e.g. "order-1234-shipped") a retried POST /messages is stored once (answered with the first answer)."""
    headers = {"Authorization": "Bearer " + env("CHATD_API_KEY")}
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key
    data = None
    if body is not None:
        data = json.dumps(body, ensure_ascii=False).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(env("CHATD_URL").rstrip("/") + "/api/v1" + path, data, headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)
    except urllib.error.HTTPError as e:
        text = e.read()
        try:
            error = json.loads(text)["error"]
        except (ValueError, KeyError, TypeError):
            error = {"code": "bad_answer", "message": text[:200].decode(errors="replace")}
        raise ChatdError(e.code, error["code"], error["message"]) from None
    except OSError as e:  # refused, timed out, DNS...
        raise ChatdError(0, "unreachable", str(e)) from None


@lru_cache(maxsize=10_000)
def _known_user_id(sub: str) -> int:
    return api("GET", "/subs/" + urllib.parse.quote(sub, safe=""))["id"]


def user_id(sub: str) -> int | None:
    """Your user id (``sub``) → chatd's user id, which the other endpoints take; None when the user
    has never signed in to chatd (chatd knows a sub from its first app token on)."""
    try:
        return _known_user_id(sub)
    except ChatdError as e:
        if e.code == "no_such_user":
            return None
        raise


def existing_user_id(sub: str) -> int:
    found = user_id(sub)
    if found is None:
        raise ChatdError(404, "no_such_user", f"user {sub} has never signed in to the chat")
    return found


def send_to_user(to_sub: str, from_sub: str, text: str, idempotency_key: str | None = None) -> dict:
    """(b) A private chat message from user ``from_sub`` to user ``to_sub``: every session of both gets it."""
    body = {"to": existing_user_id(to_sub), "as": existing_user_id(from_sub), "text": text}
    return api("POST", "/messages", body, idempotency_key)


def send_to_room(room: str, from_sub: str, text: str, idempotency_key: str | None = None) -> dict:
    """(c) A chat message from user ``from_sub`` into a room."""
    return api("POST", "/messages", {"room": room, "as": existing_user_id(from_sub), "text": text}, idempotency_key)


def notify_user(sub: str, event: str, data, ttl_seconds: int = 86400) -> dict:
    """(d) A notification (an event name and any JSON data, not a chat message) to all sessions of
    user ``sub``, kept for ``ttl_seconds`` and delivered when they next connect if offline now."""
    body = {"to": existing_user_id(sub), "name": event, "data": data, "store": True, "ttl_seconds": ttl_seconds}
    return api("POST", "/events", body)


def is_online(sub: str) -> dict:
    """(e) Is user ``sub`` online, and on how many sessions: {"online": bool, "sessions": int}."""
    found = user_id(sub)
    if found is None:
        return {"online": False, "sessions": 0}
    answer = api("GET", f"/users/{found}/online")
    return {"online": answer["online"], "sessions": answer["sessions"]}


def kick(sub: str, reason: str) -> dict:
    """(f) Close every session of user ``sub``; the page shows ``reason`` and does not reconnect by itself."""
    return api("POST", f"/users/{existing_user_id(sub)}/disconnect", {"reason": reason})


# From the command line: python chatd_client.py COMMAND ARGUMENTS...; prints the answer as JSON,
# and exits with status 1 and chatd's error on stderr when chatd refuses.
COMMANDS = {
    "login-url": login_url,  # SUB NAME
    "send-to-user": send_to_user,  # TO_SUB FROM_SUB TEXT [IDEMPOTENCY_KEY]
    "send-to-room": send_to_room,  # ROOM FROM_SUB TEXT [IDEMPOTENCY_KEY]
    # SUB EVENT DATA_JSON [TTL_SECONDS]
    "notify-user": lambda sub, event, data, *ttl: notify_user(sub, event, json.loads(data), *map(int, ttl)),
    "is-online": is_online,  # SUB
    "kick": kick,  # SUB REASON
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(f"usage: python chatd_client.py {'|'.join(COMMANDS)} ARGUMENTS...", file=sys.stderr)
        sys.exit(2)
    try:
        print(json.dumps(COMMANDS[sys.argv[1]](*sys.argv[2:])))
    except ChatdError as e:
        sys.exit(str(e))
