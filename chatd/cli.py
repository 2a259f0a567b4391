"""The ``chatd`` command: a thin layer over ``chatd.server``.

    chatd start [-c chatd.yaml]
    chatd check-config [-c chatd.yaml]

``main(argv, env)`` takes its arguments and environment as parameters so
tests can run it in-process. Exit statuses are the ``ExitStatus`` enum.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence
from enum import IntEnum
from typing import TextIO

from chatd import __version__
from chatd.config import ConfigError, find_config_file, load_config
from chatd.protocol import CloseCode

log = logging.getLogger("chatd")


class ExitStatus(IntEnum):
    OK = 0
    ERROR = 1  # the command failed; the message says why
    USAGE = 2  # bad command-line arguments (argparse's own status)
    CONFIG = 78  # EX_CONFIG: the configuration file is invalid


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chatd", description="A self-hosted chat server.")
    parser.add_argument("--version", action="version", version=f"chatd {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("-c", "--config", metavar="PATH", help="config file (default: $CHATD_CONFIG or ./chatd.yaml)")
        return sub

    command("start", "run the server in the foreground")
    command("check-config", "validate the config file and exit")
    return parser


def main(argv: Sequence[str] | None = None, env: dict[str, str] | None = None,
         stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    env = dict(os.environ) if env is None else env
    stdout, stderr = stdout or sys.stdout, stderr or sys.stderr
    args = build_parser().parse_args(argv)
    path = find_config_file(args.config, env)
    try:
        config = load_config(path)
    except ConfigError as e:
        print(f"chatd: invalid configuration:\n{e}", file=stderr)
        return ExitStatus.CONFIG
    if args.command == "check-config":
        print(f"{path or 'built-in defaults'}: configuration is valid", file=stdout)
        return ExitStatus.OK
    return start(config, stdout, stderr)


def start(config, stdout: TextIO, stderr: TextIO) -> int:
    from chatd.server import Server, bind

    logging.basicConfig(stream=stderr, level=config.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        sockets = bind(config)
    except OSError as e:
        print(f"chatd: cannot listen on {config.listen}: {e.strerror or e}", file=stderr)
        return ExitStatus.ERROR
    print(f"chatd {__version__} on http://{config.listen}/  database {config.database}  pid {os.getpid()}",
          file=stdout, flush=True)

    async def serve() -> None:
        server = Server(config)
        await server.start(sockets)
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)
        await stopping.wait()
        await server.stop(CloseCode.GOING_AWAY)

    asyncio.run(serve())
    return ExitStatus.OK
