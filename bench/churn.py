#!/usr/bin/env python3
"""Memory under connection churn: does chatd give back what connections took?

    python3 bench/churn.py                        # 25 rounds × 400 connections, RSS per round
    python3 bench/churn.py --rounds 100           # longer: does the growth level off?
    python3 bench/churn.py --tracemalloc          # also diff tracemalloc snapshots between rounds

Each round opens ``--connections`` WebSocket connections to a fresh chatd
on 127.0.0.1, at most ``--parallel`` at a time. Each identifies (a new
name, so a new user), joins the lobby and says one line; then half close
cleanly (close handshake), a quarter drop (TCP reset), and a quarter are
abandoned mid-handshake instead (half of those after part of the HTTP
request, half right after the whole upgrade request, before the 101).
After each round the script waits until the server is back to no sessions
(``/healthz``) and holds no more sockets than it did before, then has it
report its memory by owner (RSS, SQLite, malloc, pymalloc), its live
objects by type and, with ``--tracemalloc``, a snapshot; at the end it
prints the object types and allocation sites that grew most.

The server is the real ``chatd start`` (this repository's code), run by
this same file with ``--serve``: that mode starts tracemalloc first when
asked and dumps a snapshot on SIGUSR1. Tracing costs memory itself, so
read RSS from a run without ``--tracemalloc``. Standard library only.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import contextlib
import ctypes
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
HANDSHAKE = ("GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
TEXT, CLOSE = 0x1, 0x8
MIB = 1 << 20
SETTLE_TIMEOUT = 30.0  # seconds for the server to forget a round's connections
TRACE_FRAMES = 8  # traceback depth tracemalloc keeps per allocation
CONFIG = """\
listen: "127.0.0.1:0"
database: {dir}/chatd.db
pidfile: {dir}/chatd.pid
control_socket: {dir}/chatd.sock
logfile: ""
log_level: warning
limits: {{rate_per_second: 100000, rate_burst: 100000, user_rate_per_second: 100000, user_rate_burst: 100000}}
address: {{exempt: ["127.0.0.0/8"]}}  # every client of this script is 127.0.0.1: no per-address limits
"""


# The server side: chatd start, reporting where its memory is on SIGUSR1

class _MallInfo2(ctypes.Structure):
    """glibc's struct mallinfo2 (glibc ≥ 2.33), summed over all malloc arenas."""
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]


def memory_report(tracing: bool) -> dict[str, Any]:
    """This process's memory by owner, in bytes: what SQLite holds (its page
    caches, through sqlite3_memory_used), what malloc has handed out and what it
    keeps free, pymalloc's arenas (1 MiB each, mmapped outside malloc) and the
    bytes of its blocks in use (the difference: arenas kept by a few live blocks)
    and, when tracing, the Python objects tracemalloc sees."""
    import gc
    import tracemalloc

    gc.collect()
    sqlite = ctypes.CDLL("libsqlite3.so.0")  # the library _sqlite3 already loaded: the same counters
    sqlite.sqlite3_memory_used.restype = ctypes.c_int64
    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = _MallInfo2
    info = libc.mallinfo2()
    with tempfile.TemporaryFile("w+") as out:  # sys._debugmallocstats writes to the C stderr
        saved = os.dup(2)
        os.dup2(out.fileno(), 2)
        try:
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        out.seek(0)
        stats = {name: int(value.replace(",", "")) for name, value in re.findall(r"^# ([a-z ]+?)\s*=\s*([\d,]+)$",
                                                                                out.read(), re.M)}
    return {
        "rss": rss_bytes(os.getpid()),
        "sqlite": sqlite.sqlite3_memory_used(),
        "malloc_used": info.uordblks + info.hblkhd,
        "malloc_free": info.fordblks,
        # absent while tracemalloc wraps the allocators
        "pymalloc_arenas": stats.get("arenas allocated current", 0) * MIB,
        "pymalloc_used": stats.get("bytes in allocated blocks", 0),
        "traced": tracemalloc.get_traced_memory()[0] if tracing else 0,
        # Live objects by type: cheap, so it also sees what lives only seconds
        # (a tracing server is too slow to: its rounds outlast short timers).
        "objects": collections.Counter(type(o).__qualname__ for o in gc.get_objects()),
    }


def serve(config: str, snapshots: Path, trace: bool) -> int:
    import tracemalloc

    if trace:
        tracemalloc.start(TRACE_FRAMES)
    dumped = [0]

    def dump(*_: object) -> None:
        dumped[0] += 1
        path = snapshots / f"round-{dumped[0]:03d}"
        if trace:
            tracemalloc.take_snapshot().dump(f"{path}.snapshot")
        Path(f"{path}.partial").write_text(json.dumps(memory_report(trace)))
        os.replace(f"{path}.partial", f"{path}.json")  # the driver waits for this name

    signal.signal(signal.SIGUSR1, dump)
    sys.path.insert(0, str(REPO))
    from chatd.cli import main  # this file is an entry point, like chatd's own

    return main(["start", "-c", config])


# The client side: just enough WebSocket (RFC 6455) to chat and to misbehave

def client_frame(opcode: int, payload: bytes) -> bytes:
    """One masked, final frame (clients must mask, RFC 6455 §5.3)."""
    mask = os.urandom(4)
    n = len(payload)
    head = bytes([0x80 | opcode])
    head += bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack("!H", n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One server frame (unmasked, never fragmented by chatd)."""
    b0, b1 = await reader.readexactly(2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", await reader.readexactly(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", await reader.readexactly(8))[0]
    return b0 & 0x0F, await reader.readexactly(n)


async def request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, kind: str, **fields: object) -> dict:
    """Send a request; return its answer, skipping the room's traffic meanwhile."""
    writer.write(client_frame(TEXT, json.dumps({"type": kind, "cid": kind, **fields}).encode()))
    while True:
        opcode, payload = await read_frame(reader)
        if opcode == TEXT and (answer := json.loads(payload)).get("cid") == kind:
            if answer["type"] == "error":
                raise RuntimeError(f"{kind}: {answer}")
            return answer


def reset(writer: asyncio.StreamWriter) -> None:
    """Drop the connection with a TCP reset, as a vanished client's network would."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def chat_then_leave(port: int, name: str, clean: bool) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(HANDSHAKE.format(port=port, key=key).encode())
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head
    await request(reader, writer, "identify", name=name)
    await request(reader, writer, "join", room="lobby")
    await request(reader, writer, "say", room="lobby", text=f"{name} was here")
    if not clean:
        reset(writer)
        return
    writer.write(client_frame(CLOSE, struct.pack("!H", 1000)))
    while (await read_frame(reader))[0] != CLOSE:
        pass
    await reader.read()  # the server closes the TCP connection after its close frame
    writer.close()


async def abandon_handshake(port: int, whole_request: bool) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    request_bytes = HANDSHAKE.format(port=port, key=key).encode()
    writer.write(request_bytes if whole_request else request_bytes[: len(request_bytes) // 2])
    await writer.drain()
    if whole_request:
        reset(writer)  # gone before reading the 101
    else:
        writer.close()  # half a request, then goodbye
        await writer.wait_closed()


async def churn_round(port: int, round_no: int, connections: int, parallel: int) -> None:
    gate = asyncio.Semaphore(parallel)

    async def one(i: int) -> None:
        async with gate:
            kind = i % 4
            if kind < 3:
                await chat_then_leave(port, f"r{round_no}c{i}", clean=kind < 2)
            else:
                await abandon_handshake(port, whole_request=(i // 4) % 2 == 0)

    await asyncio.gather(*(one(i) for i in range(connections)))


# Watching the server

def rss_bytes(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)[1]) * 1024


def socket_count(pid: int) -> int:
    """The server's open sockets (its SQLite files open lazily, one set per reader thread)."""
    held = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(FileNotFoundError):  # closed while we looked
            held.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
    return sum(target.startswith("socket:") for target in held)


_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through an http_proxy


def sessions(port: int) -> int:
    with _DIRECT.open(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
        return json.load(answer)["connections"]


def settle(pid: int, port: int, sockets: int) -> None:
    """Wait until the server holds no session and no more sockets than before the round."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while sessions(port) or socket_count(pid) > sockets:
        if time.monotonic() > deadline:
            raise SystemExit(f"the server kept {sessions(port)} sessions, {socket_count(pid) - sockets} extra sockets")
        time.sleep(0.05)


def report(pid: int, snapshots: Path, n: int) -> tuple[dict[str, Any], object]:
    """Have the server report its memory (and dump a tracemalloc snapshot when tracing)."""
    import tracemalloc

    os.kill(pid, signal.SIGUSR1)
    path = snapshots / f"round-{n:03d}"
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while not Path(f"{path}.json").exists():
        if time.monotonic() > deadline:
            raise SystemExit("the server wrote no memory report")
        time.sleep(0.05)
    figures = json.loads(Path(f"{path}.json").read_text())
    traced = Path(f"{path}.snapshot")
    return figures, tracemalloc.Snapshot.load(str(traced)) if traced.exists() else None


def type_growth(before: dict[str, int], after: dict[str, int], top: int) -> list[str]:
    """The ``top`` object types whose live count grew most from ``before`` to ``after``."""
    grown = sorted(((after.get(t, 0) - before.get(t, 0), t) for t in set(before) | set(after)), reverse=True)
    return [f"{n:+8d}  {t}" for n, t in grown[:top] if n > 0] or ["    none"]


def growth(before, after, top: int) -> list[str]:
    """The ``top`` allocation sites that grew most from ``before`` to ``after``."""
    lines = []
    for stat in after.compare_to(before, "traceback")[:top]:
        frames = [f"{Path(f.filename).name}:{f.lineno}" for f in reversed(stat.traceback)]  # allocation first
        lines.append(f"{stat.size_diff / 1024:+9.1f} KiB {stat.count_diff:+7d} blocks  {' < '.join(frames[:4])}")
    return lines


def run(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="chatd-churn-"))
    config = work / "chatd.yaml"
    config.write_text(CONFIG.format(dir=work))
    argv = [sys.executable, __file__, "--serve", str(config), "--snapshots", str(work)]
    server = subprocess.Popen(argv + (["--trace"] if args.tracemalloc else []), stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        banner = server.stdout.readline()
        port = int(re.search(r"on http://127\.0\.0\.1:(\d+)/", banner)[1])
        sockets = socket_count(server.pid)
        print(f"chatd pid {server.pid} on port {port}; {args.rounds} rounds × {args.connections} connections")
        print("MiB after each round: RSS, then by owner (see memory_report)")
        print(f"{'round':>5} {'RSS':>6} {'SQLite':>6} {'malloc used':>11} {'malloc free':>11} {'pymalloc arenas':>15} "
              f"{'in use':>6} {'traced':>6} {'objects':>8} {'seconds':>7}")
        snaps, objects = [], []
        for n in range(0, args.rounds + 1):
            started = time.monotonic()
            if n:
                asyncio.run(churn_round(port, n, args.connections, args.parallel))
                settle(server.pid, port, sockets)
            figures, snap = report(server.pid, work, n + 1)
            if snap is not None:
                snaps.append(snap)
            objects.append(figures.pop("objects"))
            mib = {k: v / MIB for k, v in figures.items()}
            print(f"{n:>5} {mib['rss']:6.1f} {mib['sqlite']:6.1f} {mib['malloc_used']:11.1f} "
                  f"{mib['malloc_free']:11.1f} {mib['pymalloc_arenas']:15.1f} {mib['pymalloc_used']:6.1f} "
                  f"{mib['traced']:6.1f} {sum(objects[-1].values()):8d} {time.monotonic() - started:7.1f}", flush=True)
        if len(objects) >= 3:
            print(f"\nlive objects: types that grew most from round 1 to round {len(objects) - 1}")
            print("\n".join(type_growth(objects[1], objects[-1], args.top)))
        if len(snaps) >= 3:
            middle = len(snaps) // 2
            for (a, b) in ((0, 1), (1, middle), (middle, len(snaps) - 1)):  # warm-up, then steady state
                print(f"\ntracemalloc: top growth from round {a} to round {b}")
                print("\n".join(growth(snaps[a], snaps[b], args.top)))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
        server.stdout.close()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=25)
    p.add_argument("--connections", type=int, default=400, help="per round")
    p.add_argument("--parallel", type=int, default=100, help="connections in progress at once")
    p.add_argument("--tracemalloc", action="store_true", help="diff tracemalloc snapshots between rounds")
    p.add_argument("--top", type=int, default=12, help="growth sites to show")
    p.add_argument("--serve", metavar="CONFIG", help=argparse.SUPPRESS)
    p.add_argument("--snapshots", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve:
        sys.exit(serve(args.serve, args.snapshots, args.trace))
    run(args)


if __name__ == "__main__":
    main()
