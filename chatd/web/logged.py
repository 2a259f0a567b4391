"""What chatd's logs say of a request's target: its path and the names of its
query, never the query's values. A client may send an API key or a token as
``?api_key=`` (docs/api.md warns against it); the refusal must not then copy
it into a log file.

    logged_target("/api/v1/messages", "api_key=chatd_x&room=lobby")  # → "/api/v1/messages?api_key=…&room=…"
"""

from __future__ import annotations

HIDDEN = "…"  # stands for a value the log leaves out


def logged_target(path: str, query: str) -> str:
    """``path`` with ``query`` (as received, without its "?") reduced to its names, each
    value replaced by ``HIDDEN``; a part without "=" is a value alone and is hidden whole."""
    if not query:
        return path
    parts = (part.partition("=") for part in query.split("&"))
    return f"{path}?" + "&".join(f"{name}={HIDDEN}" if equals else (HIDDEN if name else "")
                                 for name, equals, _ in parts)
