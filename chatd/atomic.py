"""A file written whole or not at all: written under a temporary name beside it,
then renamed over it (``rename(2)`` is atomic within a file system), so that a
reader never sees half of it and a failure leaves the old file as it was.

    with replaced("/srv/backups/chatd.db") as partial:
        copy_database_to(partial)          # an error here: the old backup stays
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator


@contextlib.contextmanager
def replaced(path: str) -> Iterator[str]:
    """The temporary path to write (``PATH.partial-PID``, beside ``path``); once the block ends
    without an error it replaces ``path``. The temporary file is removed in any case."""
    partial = f"{path}.partial-{os.getpid()}"
    try:
        yield partial
        os.replace(partial, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)
