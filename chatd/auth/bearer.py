"""Bearer credentials from an ``Authorization`` header (RFC 6750 §2.1), for the HTTP API's keys
(``chatd.auth.apikeys``) and ``/metrics``' token (``chatd.web.probes``) alike.

The scheme is case-insensitive (RFC 9110 §11.1, formerly RFC 7235 §2.1): ``Bearer``, ``bearer``
and ``BEARER`` are one; one or more spaces separate it from the credentials, which are the rest
of the value without its surrounding spaces (RFC 6750's b64token holds none; a configured
``metrics.token`` with one inside still matches itself).

    >>> credentials("bearer abc"), credentials("Basic abc")
    ('abc', None)
"""

from __future__ import annotations

import re

from tornado.httputil import HTTPHeaders

_BEARER = re.compile(r"^bearer +(\S(?:.*\S)?) *$", re.IGNORECASE | re.ASCII | re.DOTALL)


class RepeatedHeader(ValueError):
    """More than one ``Authorization`` header: which credentials the client meant is unknowable."""


def authorization(headers: HTTPHeaders) -> str | None:
    """The one ``Authorization`` header's value; None without one. RepeatedHeader when there are
    several: Tornado's ``get`` joins them with "," into a value that is no credentials at all,
    refused then as a malformed key or token, which is not what went wrong."""
    values = headers.get_list("Authorization")
    if len(values) > 1:
        raise RepeatedHeader(f"the Authorization header is given {len(values)} times; send it once")
    return values[0] if values else None


def credentials(authorization: str | None) -> str | None:
    """The credentials of an ``Authorization: Bearer <credentials>`` header value; None when
    there is no header or it is not of the Bearer scheme."""
    found = _BEARER.match(authorization or "")
    return found.group(1) if found else None
