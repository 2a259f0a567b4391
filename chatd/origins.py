"""Which web pages may open a WebSocket to chatd: the ``Origin`` rule.

Browsers let any page open a WebSocket to any host and send along the
cookies and the network position of the person using it; the ``Origin``
header (RFC 6454, sent by browsers on every WebSocket handshake, RFC 6455
§4.1 item 8) is how the server tells its own page from a stranger's. The
page's own host is always allowed; ``allowed_origins`` adds others (a web
app that embeds the chat). Clients that are not browsers send no Origin
and are not affected: the rule protects browser users, it is no
authentication.

    >>> origin_allowed("https://chat.example.org", "chat.example.org", [])
    True
    >>> origin_allowed("https://evil.example", "chat.example.org", [])
    False
    >>> origin_allowed("https://app.example.org", "chat.example.org", ["https://app.example.org"])
    True
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from chatd.yamltext import yaml_text

DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_LOGGED = 200  # characters of a refused Origin that reach the log


def normalize_origin(value: str) -> str | None:
    """``"HTTPS://Chat.Example.org:443"`` → ``"https://chat.example.org"``: the
    ASCII serialisation of RFC 6454 §6.2 (lower case, default port dropped).
    None for anything that is not ``http(s)://host[:port]`` — a path, user
    info, a query, a non-ASCII host (use its ``xn--`` form), or the opaque
    origin ``null`` that sandboxed frames and ``file:`` pages send."""
    value = value.strip()
    if not value.isascii() or value.endswith(("?", "#")):  # urlsplit drops an empty query or fragment
        return None
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), parts.hostname
    extra = parts.path or parts.query or parts.fragment or parts.username is not None
    if scheme not in DEFAULT_PORTS or not host or extra:
        return None
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}" if port in (None, DEFAULT_PORTS[scheme]) else f"{scheme}://{host}:{port}"


def origin_problem(value: object) -> str | None:
    """Why ``value`` cannot be an entry of ``allowed_origins``, or None."""
    if not isinstance(value, str) or normalize_origin(value) is None:
        return (f"{yaml_text(value)} is not an origin like https://app.example.org (scheme, host, optional port; "
                "no path)")
    return None


def _authority(origin: str) -> str:
    return origin.split("://", 1)[1]


def origin_allowed(origin: str, host: str | None, allowed: Iterable[str]) -> bool:
    """Whether a handshake with this ``Origin`` header may proceed.

    ``host``: the request's ``Host`` header (behind nginx, the browser's own,
    passed on with ``proxy_set_header Host $http_host``); an origin whose
    host and port equal it is the page's own. ``allowed``: the configured
    ``allowed_origins``, compared after normalisation on both sides.
    """
    normal = normalize_origin(origin)
    if normal is None:
        return False
    if host is not None:
        own = normalize_origin(f"{normal.split('://', 1)[0]}://{host}")
        if own is not None and _authority(own) == _authority(normal):
            return True
    return any(normalize_origin(entry) == normal for entry in allowed)


def for_log(origin: str) -> str:
    """A refused Origin as it is safe to log: quoted (no line breaks reach the
    log) and cut to MAX_LOGGED characters (a client picks its length)."""
    return repr(origin[:MAX_LOGGED] + ("…" if len(origin) > MAX_LOGGED else ""))
