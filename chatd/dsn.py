"""Where the store and the bus are: a SQLite path, or a server URL.

``database`` in chatd.yaml is an SQLite file (the default) or a
``postgresql://`` URL; ``bus`` is empty (in-process) or a ``redis://`` /
``rediss://`` URL. A password may be written in the URL, but it need not be:
it can come from a file (``database_password_file``, ``bus_password_file``:
what systemd's ``LoadCredential=`` and Docker secrets give) or from the
environment (``CHATD_DATABASE_PASSWORD``, ``CHATD_BUS_PASSWORD``), so the
config file can be world-readable and kept in git. libpq's own
``PGPASSWORD`` and ``~/.pgpass`` work too, as psycopg reads them.

    >>> is_postgres("postgresql://chat@db.internal/chatd")
    True
    >>> redacted("redis://:hunter2@10.0.0.5:6379/0")
    'redis://:***@10.0.0.5:6379/0'
    >>> with_password("postgresql://chat@db/chatd", "s3cret")
    'postgresql://chat:s3cret@db/chatd'
"""

from __future__ import annotations

import os
from urllib.parse import quote, urlsplit, urlunsplit

POSTGRES_SCHEMES = ("postgresql", "postgres")
REDIS_SCHEMES = ("redis", "rediss")
DATABASE_PASSWORD_ENV = "CHATD_DATABASE_PASSWORD"
BUS_PASSWORD_ENV = "CHATD_BUS_PASSWORD"


def scheme(value: str) -> str:
    """``"postgresql://x/y"`` → ``"postgresql"``; a path → ``""``."""
    head, sep, _ = value.partition("://")
    return head.lower() if sep and head.replace("+", "").isalpha() else ""


def is_postgres(database: str) -> bool:
    """Whether ``database`` names a PostgreSQL server rather than an SQLite file."""
    return scheme(database) in POSTGRES_SCHEMES


def url_problem(value: str, schemes: tuple[str, ...]) -> str | None:
    """Why ``value`` is not a usable URL of one of ``schemes``, or None.
    The message never repeats the password."""
    got = scheme(value)
    if got not in schemes:
        return f"must be a URL starting with {' or '.join(s + '://' for s in schemes)}, not {redacted(value)!r}"
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number or out of range
    except ValueError as e:
        return f"is not a valid URL ({e}): {redacted(value)!r}"
    if not parts.hostname and got in REDIS_SCHEMES:
        return f"names no host: {redacted(value)!r}"
    return None


def redacted(url: str) -> str:
    """The URL with its password replaced by ``***``: safe for logs and errors.
    A file path (an SQLite database) is given back as it is."""
    if not scheme(url):
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def with_password(url: str, password: str | None) -> str:
    """The URL with ``password`` put in (replacing one written there); unchanged if None."""
    if password is None:
        return url
    parts = urlsplit(url)
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{quote(user, safe='')}:{quote(password, safe='')}@{host}"))


def password_from(file: str, env_var: str, environ: dict[str, str] | None = None) -> str | None:
    """The password kept outside the config: the first line of ``file`` when
    set, else the environment variable ``env_var``, else None (the URL's own,
    or libpq's). OSError if the file cannot be read; ValueError if it is empty."""
    if file:
        with open(file, encoding="utf-8") as f:
            password = f.readline().rstrip("\r\n")
        if not password:
            raise ValueError(f"password file {file} is empty")
        return password
    environ = os.environ if environ is None else environ
    return environ.get(env_var) or None
