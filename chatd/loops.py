"""Which event loop a chatd process runs: uvloop when it is installed (the
optional extra ``pip install 'chatd[uvloop]'``), else asyncio's own. The
config key ``event_loop`` chooses (``chatd.settings``):

    auto      uvloop if importable, else asyncio (the default)
    asyncio   asyncio's own loop, whatever is installed
    uvloop    uvloop; a config error when it is not installed

    status = run(main(), config.event_loop)   # asyncio.run, on the chosen loop
    loop_name()                                # "uvloop 0.23.0" | "asyncio", from inside the loop

Both processes that run a loop go through ``run``: the server or supervisor
(``chatd.service``) and each worker (``chatd.worker``), so a cluster of
workers runs one kind of loop. uvloop costs less CPU per message on the loop
thread (docs/operations.md, "Faster event loop"); everything chatd asks of a
loop (BufferedProtocol transports, connect_accepted_socket, add_reader,
sock_sendall, signal handlers, subprocesses) both loops do alike.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from types import ModuleType
from typing import Any, TypeVar

from chatd.yamltext import yaml_text

T = TypeVar("T")
EVENT_LOOPS = ("auto", "asyncio", "uvloop")
MISSING = ("is uvloop, but uvloop is not installed: install it (pip install 'chatd[uvloop]'), "
           "or set it to auto or asyncio")


def _uvloop() -> ModuleType | None:
    """The uvloop module, or None when it cannot be imported (not installed, or broken)."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop


def event_loop_problem(value: Any) -> str | None:
    """The config check of ``event_loop``: the problem with ``value``, or None."""
    if value not in EVENT_LOOPS:
        return f"must be one of {', '.join(EVENT_LOOPS)}, not {yaml_text(value)}"
    if value == "uvloop" and _uvloop() is None:
        return MISSING
    return None


def loop_factory(choice: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """What ``asyncio.Runner`` makes its loop with for ``choice`` (None: asyncio's own).
    ``choice`` was checked by ``event_loop_problem``."""
    uvloop = None if choice == "asyncio" else _uvloop()
    return uvloop.new_event_loop if uvloop else None


def run(main: Coroutine[Any, Any, T], choice: str) -> T:
    """``asyncio.run(main)`` on the loop ``choice`` names."""
    with asyncio.Runner(loop_factory=loop_factory(choice)) as runner:
        return runner.run(main)


def loop_name() -> str:
    """The running loop, for the log and ``chatd status``: "uvloop 0.23.0" or "asyncio"."""
    package = type(asyncio.get_running_loop()).__module__.partition(".")[0]
    if package == "uvloop":
        uvloop = _uvloop()
        return f"uvloop {uvloop.__version__}" if uvloop else "uvloop"
    return package
