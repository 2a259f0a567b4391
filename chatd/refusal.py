"""A command's refusal: raised where the command finds it cannot go on, said by ``chatd.cli``
in one line that names the command whole, as typed (``chatd: admin list: ...``), for every
command alike; then the command ends with the refusal's exit status.

    raise CommandRefused(f"there is no admin account {name!r}")          # exit 1
    raise CommandRefused("not confirmed: pass --yes", ExitStatus.USAGE)  # exit 2
"""

from __future__ import annotations

from chatd.status import ExitStatus


class CommandRefused(Exception):
    """str(): why, for the terminal (lines after the first are printed as they are); ``status``:
    the exit status (``ExitStatus``)."""

    def __init__(self, why: str, status: int = ExitStatus.ERROR):
        super().__init__(why)
        self.status = status
