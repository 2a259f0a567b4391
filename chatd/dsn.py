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
    >>> url_problem("redis://10.0.0.5:6379/abc", REDIS_SCHEMES).partition(":")[0]
    "names the database 'abc'"

What is valid (docs/configuration.md says the same):

- ``redis://`` / ``rediss://``: a host; the path empty or ``/N``, N a
  database number from 0 to ``REDIS_DATABASE_MAX`` (Redis's ``databases``
  setting defaults to 16); no ``?db=`` (redis-py lets it override the path).
  Anything else would silently be database 0, or fail only at start.
- ``postgresql://`` / ``postgres://``: a database name, in the path or as
  ``?dbname=``. The host may be left out: libpq then uses the local socket
  (or ``?host=/run/postgresql``); without a name libpq would pick the
  database named like whichever OS user runs chatd.
- No value starts or ends with white space (a YAML slip): it is named, not
  taken as part of a file name or a password.
"""

from __future__ import annotations

import os
from urllib.parse import SplitResult, parse_qs, quote, urlsplit, urlunsplit

from chatd.yamltext import yaml_text

POSTGRES_SCHEMES = ("postgresql", "postgres")
REDIS_SCHEMES = ("redis", "rediss")
DATABASE_PASSWORD_ENV = "CHATD_DATABASE_PASSWORD"
BUS_PASSWORD_ENV = "CHATD_BUS_PASSWORD"
# The highest Redis database number accepted. Redis's `databases` (default 16) can be raised, but
# rarely far: a larger number is a typo (an extra digit) far likelier than a server with that many.
REDIS_DATABASE_MAX = 1023
_SPACE_NAMES = {" ": "a space", "\t": "a tab", "\n": "a line break", "\r": "a line break"}


def scheme(value: str) -> str:
    """``"postgresql://x/y"`` → ``"postgresql"``; a path → ``""``."""
    head, sep, _ = value.partition("://")
    return head.lower() if sep and head.replace("+", "").isalpha() else ""


def is_postgres(database: str) -> bool:
    """Whether ``database`` names a PostgreSQL server rather than an SQLite file."""
    return scheme(database) in POSTGRES_SCHEMES


def edge_space(value: str) -> str | None:
    """``"starts with a space"``, ``"ends with a line break"`` and the like, or None."""
    for end, char in (("starts", value[:1]), ("ends", value[-1:])):
        if char.isspace():
            return f"{end} with {_SPACE_NAMES.get(char, 'white space')}"
    return None


def url_problem(value: str, schemes: tuple[str, ...]) -> str | None:
    """Why ``value`` is not a usable URL of one of ``schemes`` (the rules in
    this module's docstring), or None. The message never repeats the password."""
    space = edge_space(value)
    if space:
        return f"{space}: {yaml_text(redacted(value))}"
    got = scheme(value)
    if got not in schemes:
        starts = " or ".join(s + "://" for s in schemes)
        return f"must be a URL starting with {starts}, not {yaml_text(redacted(value))}"
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number or out of range
    except ValueError as e:
        return f"is not a valid URL ({e}): {yaml_text(redacted(value))}"
    problem = _redis_problem(parts) if got in REDIS_SCHEMES else _postgres_problem(parts)
    return f"{problem}: {yaml_text(redacted(value))}" if problem else None


def _redis_problem(parts: SplitResult) -> str | None:
    if not parts.hostname:
        return "names no host"
    number = parts.path.removeprefix("/")
    if number and not (number.isascii() and number.isdigit() and int(number) <= REDIS_DATABASE_MAX):
        return (f"names the database {yaml_text(number)}: after the host comes a database number from 0 to "
                f"{REDIS_DATABASE_MAX} (/0, /1, ...), or nothing (database 0)")
    if "db" in parse_qs(parts.query, keep_blank_values=True):
        return "gives the database as ?db=: give its number as the path instead (redis://host:6379/N)"
    return None


def _postgres_problem(parts: SplitResult) -> str | None:
    if parts.path.removeprefix("/") or parse_qs(parts.query).get("dbname"):
        return None
    return ("names no database: write postgresql://[user@][host][:port]/DATABASE (without a host, "
            "the local socket)")


def redacted(url: str) -> str:
    """The URL with its password replaced by ``***``: safe for logs and errors
    (white space around it is kept, to be seen). A file path (an SQLite
    database) is given back as it is."""
    core = url.strip()
    if not scheme(core):
        return url
    try:
        parts = urlsplit(core)
    except ValueError:
        return "<unparseable URL>"
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    head, _, tail = url.partition(core)
    return head + urlunsplit(parts._replace(netloc=f"{user}:***@{host}")) + tail


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
    or libpq's). A line break ending either is not part of the password
    (``echo pw > file``, ``VAR=$(cat file)``, a .env file written on Windows).
    OSError if the file cannot be read; EmptyPasswordFile if its first line is empty."""
    if file:
        with open(file, encoding="utf-8") as f:
            password = f.readline().rstrip("\r\n")
        if not password:
            raise EmptyPasswordFile(file)
        return password
    environ = os.environ if environ is None else environ
    return environ.get(env_var, "").rstrip("\r\n") or None


def password_advice(key: str, env_var: str) -> str:
    """Where a password refused (or missing) came from, in the order ``password_from`` looks:
    appended to an authentication error so the operator knows which source to fix."""
    return (f"; the password comes from the file named by {key}, else ${env_var}, else the URL "
            f"(docs/configuration.md, \"{key}\")")


class EmptyPasswordFile(ValueError):
    """A password file whose first line is empty; ``file`` is its path."""

    def __init__(self, file: str):
        super().__init__(f"password file {file} is empty")
        self.file = file
