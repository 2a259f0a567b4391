"""The configured database as the offline commands open it (``chatd apikey``, ``admin``,
``purge``, ``user``): whether a server runs or not, with its schema made or migrated.

    store = command_store(config, create=False)   # a command that reads or changes what is there
    store = command_store(config, create=False, read_only=True)   # one that only reads: no file changed

Its refusals (STORE_REFUSALS) are left to ``chatd.cli``, which says them in one line for
every command alike (``chatd: admin list: cannot open the database at ...``).

Only the commands that make what a first start would find (an API key, an admin account
before the server ever ran) make a database where there is none; the others refuse, naming
the key and the place, and make nothing (``chatd.store.sqlitefile``).
"""

from __future__ import annotations

from typing import Any

from chatd.config import Config, store_url
from chatd.store.rows import DatabaseRefused, DatabaseUnreachable

# What opening the store raises that is no bug: said in one line by ``chatd.store.health.database_refusal``.
STORE_REFUSALS = (DatabaseUnreachable, DatabaseRefused)


def command_store(config: Config, create: bool, read_only: bool = False) -> Any:
    """The store of ``config``, its schema made or migrated (``Store.ensure_schema``).
    ``create``: make a database where there is none (else NoDatabase); ``read_only``: for a
    command that only reads, which changes no file of an SQLite database, nor what lies beside
    it (``chatd.store.sqlitefile.connect_reading``; its schema must then be this chatd's).
    STORE_REFUSALS if it cannot be opened or is none chatd may use."""
    from chatd.store import open_store  # peewee loads only for these commands

    store = open_store(store_url(config), shared=True, synchronous=config.store.synchronous,
                       batch_max=config.store.batch_max, create=create, read_only=read_only)
    store.ensure_schema()
    return store

