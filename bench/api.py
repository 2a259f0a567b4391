#!/usr/bin/env python3
"""The HTTP API's write rates (issue 10), against acknowledged WebSocket writes in the same run:

    python3 bench/api.py                       # 3 runs of each: median (min–max)
    python3 bench/api.py --seconds 2 --repeat 1

For each run, a fresh chatd (bench/harness's chatd target: this repository's code, SQLite,
persistence on, the server pinned to one core and this load generator to another) and:

1. ``single``: ``--clients`` keep-alive HTTP/1.1 connections, each sending POST /api/v1/messages
   one after another (the next once the 201 came: the message is committed), each into a room of
   its own with no one in it, so the cost is the API and the store, not fan-out;
2. ``batch``: the same connections sending POST /api/v1/batch with ``--batch`` messages each;
3. ``websocket``: bench/loadgen's write scenario (7): ``--senders`` WebSocket clients with
   ``--window`` says in flight awaiting their ack.

Every rate counts answered writes only (201, or the ack); a run with any other answer fails.
Prints a JSON line per run and a Markdown table. Runs inside bench/.venv (made by
``python3 bench/run.py --setup-only``), like run.py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from harness import setup_env  # noqa: E402

HEAD_MAX = 64 * 1024  # bytes of a response's status line and headers


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=4.0, help="length of each measured phase")
    p.add_argument("--clients", type=int, default=4, help="concurrent keep-alive HTTP connections")
    p.add_argument("--batch", type=int, default=100, help="messages per POST /api/v1/batch")
    p.add_argument("--senders", type=int, default=100, help="WebSocket senders (bench/run.py's write case)")
    p.add_argument("--window", type=int, default=8, help="says in flight per WebSocket sender")
    p.add_argument("--repeat", type=int, default=3, help="runs; the median is reported")
    p.add_argument("--server-core", type=int, default=0)
    p.add_argument("--loadgen-core", type=int, default=1)
    return p.parse_args()


class Http:
    """One keep-alive HTTP/1.1 connection: a request, then its whole answer, then the next."""

    def __init__(self, port: int, key: str):
        self.port, self.key = port, key

    async def open(self) -> Http:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port, limit=HEAD_MAX)
        return self

    async def post(self, path: str, body: dict) -> tuple[int, dict]:
        data = json.dumps(body).encode()
        self.writer.write(f"POST /api/v1{path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {self.key}\r\n"
                          f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n".encode() + data)
        head = await self.reader.readuntil(b"\r\n\r\n")
        length = int(re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)[1])
        return int(head.split(b" ", 2)[1]), json.loads(await self.reader.readexactly(length))

    def close(self) -> None:
        self.writer.close()


async def _sender(url: str, rooms: list[str]) -> int:
    """The id of a user the API posts as, who made ``rooms`` (and left: no one is in them)."""
    from loadgen.client import connect

    client = await connect(url, "ws")
    welcome = await client.request({"type": "identify", "name": "api-sender"})
    for room in rooms:
        await client.request({"type": "create", "room": room})
    client.drop()
    return welcome["user"]["id"]


async def _hammer(connections: list[Http], path: str, body_of, written_of, seconds: float, watch) -> dict:
    """Each connection sends ``body_of(i)`` to ``path`` for ``seconds``; messages written per second."""
    totals = {"requests": 0, "written": 0}

    async def loop(i: int, http: Http, stop_at: float) -> None:
        while time.monotonic() < stop_at:
            status, answer = await http.post(path, body_of(i))
            written = written_of(status, answer)
            if written is None:
                raise RuntimeError(f"{path} answered {status}: {str(answer)[:300]}")
            totals["requests"] += 1
            totals["written"] += written

    watch.start()
    start = time.monotonic()
    await asyncio.gather(*(loop(i, http, start + seconds) for i, http in enumerate(connections)))
    took = time.monotonic() - start
    return {"requests_per_s": round(totals["requests"] / took), "messages_per_s": round(totals["written"] / took),
            **watch.stop()}


async def measure(args: argparse.Namespace, server, key: str) -> dict:
    from loadgen.metrics import ProcessWatch, message_text
    from loadgen.persistence import write

    rooms = [f"api{i}" for i in range(args.clients)]
    sender = await _sender(server.url, rooms)
    connections = [await Http(server.port, key).open() for _ in range(args.clients)]
    watch = ProcessWatch(server.pid)

    def single(i: int) -> dict:
        return {"room": rooms[i], "as": sender, "text": message_text(i)}

    def batch(i: int) -> dict:
        return {"operations": [{"op": "send_message", "args": single(i)}] * args.batch}

    def one_written(status: int, answer: dict) -> int | None:
        return 1 if status == 201 else None

    def batch_written(status: int, answer: dict) -> int | None:
        ok = status == 200 and all(r["status"] == 201 for r in answer["results"])
        return len(answer["results"]) if ok else None

    try:
        result = {"single": await _hammer(connections, "/messages", single, one_written, args.seconds, watch),
                  "batch": await _hammer(connections, "/batch", batch, batch_written, args.seconds, watch)}
    finally:
        for http in connections:
            http.close()
    ws = await write(argparse.Namespace(url=server.url, flavour="ws", senders=args.senders, window=args.window,
                                        seconds=args.seconds, setup_concurrency=100), watch)
    if "error" in ws or ws["lost"]:
        raise RuntimeError(f"the WebSocket writes failed: {ws}")
    result["websocket"] = {"messages_per_s": ws["acked_per_s"], "server_cpu": ws["server_cpu"]}
    return result


def one_run(args: argparse.Namespace, scratch: Path, n: int) -> dict:
    from harness.server import RunningServer
    from harness.targets import Deployment, chatd_targets, default_chatd

    target = chatd_targets(default_chatd(), [Deployment()])[0]
    server = RunningServer(target, args.server_core, scratch / f"chatd-{n}.log")
    server.start()
    try:
        config = server.workdir / "chatd.yaml"
        made = subprocess.run([*default_chatd(), "apikey", "-c", str(config), "create", "bench", "--scope", "publish"],
                              capture_output=True, text=True, check=True)
        key = re.search(r"chatd_\S+", made.stdout)[0]
        os.sched_setaffinity(0, {args.loadgen_core})
        import uvloop

        return uvloop.run(measure(args, server, key))
    finally:
        server.stop()


def table(runs: list[dict]) -> str:
    def cell(phase: str, field: str) -> str:
        values = [run[phase][field] for run in runs]
        return f"{statistics.median(values):,.0f} ({min(values):,}–{max(values):,})"

    def cpu(phase: str) -> str:
        return f"{statistics.median(run[phase]['server_cpu'] for run in runs):.2f}"

    ws = statistics.median(run["websocket"]["messages_per_s"] for run in runs)
    rows = [("POST /api/v1/messages, one message a request", "single"),
            ("POST /api/v1/batch", "batch"), ("WebSocket say, acknowledged", "websocket")]
    lines = ["| path | messages/s: median (min–max) | ÷ WebSocket | chatd CPU |", "|---|---|---|---|"]
    for label, phase in rows:
        rate = statistics.median(run[phase]["messages_per_s"] for run in runs)
        lines.append(f"| {label} | {cell(phase, 'messages_per_s')} | {rate / ws:.2f} | {cpu(phase)} |")
    return "\n".join(lines)


def main() -> None:
    args = parse_args()
    if Path(sys.prefix).resolve() != setup_env.VENV.resolve():
        if not setup_env.VENV_PYTHON.exists():
            sys.exit("bench/.venv is missing: run python3 bench/run.py --setup-only first")
        os.execv(str(setup_env.VENV_PYTHON), [str(setup_env.VENV_PYTHON), __file__, *sys.argv[1:]])
    load = os.getloadavg()  # before this run's own load: how quiet the machine was
    runs = []
    with tempfile.TemporaryDirectory(prefix="chatd-bench-api-") as scratch:
        for n in range(args.repeat):
            runs.append(one_run(args, Path(scratch), n))
            print(json.dumps(runs[-1]), flush=True)
    print(f"\nload average before: {' '.join(f'{x:.2f}' for x in load)}; {args.clients} HTTP clients, "
          f"batches of {args.batch}, {args.senders} WebSocket senders × {args.window} in flight, "
          f"{args.seconds:g} s phases\n")
    print(table(runs))


if __name__ == "__main__":
    main()
