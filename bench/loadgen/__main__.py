"""The load generator: runs one scenario against one running server and
prints one JSON object with the figures on standard output.

    cd bench && .venv/bin/python -m loadgen fanout --url ws://127.0.0.1:8080 --members 1000
    .venv/bin/python -m loadgen storm --url ws://127.0.0.1:8081 --flavour sio --clients 5000

``--server-pid`` lets it read the server's RSS and CPU time from /proc.
run.py starts it pinned to its own core (taskset), apart from the server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import resource
import sys

from loadgen import community, connections, persistence, traffic

SCENARIOS = {
    "fanout": traffic.fanout,
    "rooms": traffic.rooms,
    "latency": traffic.latency,
    "idle": connections.idle,
    "storm": connections.storm,
    "handshakes": connections.handshakes,
    "reconnect": persistence.reconnect,
    "write": persistence.write,
    "community": community.community,
    "community-lite": community.community_lite,
}
RATES = {"latency": 20.0, "community": 300.0, "community-lite": 300.0}  # --rate when not given


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="loadgen", description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("scenario", choices=sorted(SCENARIOS))
    p.add_argument("--url", required=True, help="server base URL, ws://127.0.0.1:PORT (the path is added)")
    p.add_argument("--flavour", choices=["ws", "sio"], default="ws", help="plain WebSocket (/ws) or Socket.IO")
    p.add_argument("--server-pid", type=int, help="pid of the server, for RSS and CPU figures (its children's too)")
    p.add_argument("--also-pid", action="append", default=[], metavar="NAME=PID",
                   help="another process (with its children) whose CPU to report as NAME_cpu: redis, postgres")
    p.add_argument("--members", type=int, default=1000, help="fanout, latency: room size")
    p.add_argument("--rooms", type=int, default=500, help="rooms, community: number of rooms")
    p.add_argument("--per-room", type=int, default=10, help="rooms, idle, storm, reconnect: members per room")
    p.add_argument("--clients", type=int, default=5000, help="idle, storm, handshakes, reconnect, community: clients")
    p.add_argument("--senders", type=int, default=100, help="write: senders, one room each")
    p.add_argument("--missed", type=int, default=100, help="reconnect: messages stored per room while away")
    p.add_argument("--rate", type=float, help="latency: messages per second (20); community: all messages per "
                                              "second (300)")
    p.add_argument("--zipf", type=float, default=1.0, help="community: room k is drawn with weight k^-ZIPF")
    p.add_argument("--activity", type=float, default=0.5,
                   help="community: the k-th biggest room gets a share k^-ACTIVITY of the messages")
    p.add_argument("--private", type=float, default=0.1, help="community: share of messages sent privately")
    p.add_argument("--moves", type=float, default=2.0, help="community: users moving to another room per second")
    p.add_argument("--reconnects", type=float, default=2.0, help="community: users reconnecting per second")
    p.add_argument("--history", type=float, default=3.0, help="community: history pages fetched per second")
    p.add_argument("--seed", type=int, default=13, help="community: the same seed, the same community")
    p.add_argument("--seconds", type=float, default=3.0, help="length of the measured phase")
    p.add_argument("--warmup", type=float, default=0.5, help="fanout, rooms: unmeasured warm-up seconds")
    p.add_argument("--window", type=int, help="messages in flight per sender (default: the scenario's own: "
                                              "fanout 32,000 deliveries' worth, rooms 1, write 8)")
    p.add_argument("--setup-concurrency", type=int, default=100,
                   help="clients coming online at once while setting up (below the servers' listen backlogs)")
    p.add_argument("--concurrency", type=int, default=1000,
                   help="storm, handshakes, reconnect: clients coming online at once in the measured storm")
    p.add_argument("--settle", type=float, default=2.0, help="idle: seconds to wait before reading RSS")
    p.add_argument("--time-limit", type=float, default=150.0, help="give up after this many seconds")
    args = p.parse_args(argv)
    if args.rate is None:
        args.rate = RATES.get(args.scenario, 20.0)
    return args


def raise_fd_limit() -> None:
    """Each client is a socket; the default soft limit (1024) is far too low."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(hard, 65536), max(hard, 65536)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def run(args: argparse.Namespace) -> dict:
    from loadgen.metrics import ProcessWatch, verdict

    watch = ProcessWatch(args.server_pid, {name: int(pid) for name, _, pid in
                                           (a.partition("=") for a in args.also_pid)})
    try:
        async with asyncio.timeout(args.time_limit):
            result = await SCENARIOS[args.scenario](args, watch)
    except TimeoutError:
        result = {"error": f"time limit of {args.time_limit:.0f} s reached"}
    except Exception as e:  # a broken server must give a result line, not a traceback only
        result = {"error": f"{type(e).__name__}: {e}"}
    if not watch.alive():
        result["server_gone"] = True
    return verdict(args.scenario, result)


def main() -> None:
    args = parse_args()
    raise_fd_limit()
    logging.basicConfig(level=logging.CRITICAL)  # picows logs every refused connection otherwise
    try:
        import uvloop  # a faster loop for the load generator only; servers run as their users run them

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    result = runner(run(args))
    sys.stdout.write(json.dumps({"scenario": args.scenario, **result}) + "\n")
    sys.stdout.flush()
    # Closing 10,000 sockets one by one takes longer than the kernel does at exit.
    os._exit(1 if "error" in result else 0)


if __name__ == "__main__":
    main()
