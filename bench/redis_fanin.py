#!/usr/bin/env python3
"""What one bus item costs Redis, by number of nodes: the fan-in limit of a
chatd cluster, where every node receives every item (chatd.bus.redis).

    python3 bench/redis_fanin.py                   # 1, 2, 4, 8 subscribers, 100,000 items of 250 bytes each
    python3 bench/redis_fanin.py --nodes 4,16 --items 200000 --size 1200

Starts its own redis-server (bench/harness/services.py), subscribes N plain
sockets to one channel (reading as fast as they can, as nodes do), and
PUBLISHes the items pipelined 512 at a time from one connection, as a
node's bus does. Prints, per N: Redis's CPU per item (from /proc) and
per call (INFO commandstats), items/s, and the items/s one Redis core
would sustain. Standard library only; the Redis CPU figures do not depend
on the client's speed.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness.services import RedisServer  # noqa: E402
from loadgen.metrics import process_children, tree_cpu  # noqa: E402

PIPELINE = 512  # items per round trip, as chatd.bus.redis.BATCH_MAX
CHANNEL = b"chatd:0"


def command(*args: bytes) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


def drain(sock: socket.socket, stop: threading.Event) -> None:
    sock.settimeout(0.2)
    while not stop.is_set():
        try:
            if not sock.recv(1 << 20):
                return
        except TimeoutError:
            continue


def info_usec_per_call(port: int, name: str) -> float:
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(command(b"INFO", b"commandstats"))
        time.sleep(0.1)
        text = s.recv(1 << 16).decode()
    for line in text.splitlines():
        if line.startswith(f"cmdstat_{name}:"):
            return float(line.split("usec_per_call=")[1].split(",")[0])
    return 0.0


def measure(nodes: int, items: int, size: int) -> dict:
    with RedisServer() as redis:
        stop = threading.Event()
        subscribers, readers = [], []
        for _ in range(nodes):
            s = socket.create_connection(("127.0.0.1", redis.port))
            s.sendall(command(b"SUBSCRIBE", CHANNEL))
            s.recv(4096)
            subscribers.append(s)
            readers.append(threading.Thread(target=drain, args=(s, stop)))
            readers[-1].start()
        publisher = socket.create_connection(("127.0.0.1", redis.port))
        batch = command(b"PUBLISH", CHANNEL, b"x" * size) * PIPELINE
        ticks = os.sysconf("SC_CLK_TCK")
        cpu0, t0 = tree_cpu(redis.pid, process_children(), ticks), time.monotonic()
        for _ in range(items // PIPELINE):
            publisher.sendall(batch)
            need = len(b":%d\r\n" % nodes) * PIPELINE
            got = 0
            while got < need:
                got += len(publisher.recv(need - got))
        seconds = time.monotonic() - t0
        cpu = tree_cpu(redis.pid, process_children(), ticks) - cpu0
        per_call = info_usec_per_call(redis.port, "publish")
        stop.set()
        for reader in readers:
            reader.join()
        for s in (*subscribers, publisher):
            s.close()
    sent = items // PIPELINE * PIPELINE
    return {"nodes": nodes, "items_per_s": round(sent / seconds), "redis_cpu_us_per_item": round(cpu / sent * 1e6, 2),
            "publish_usec_per_call": per_call, "items_per_redis_core_s": round(sent / cpu) if cpu else 0}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nodes", default="1,2,4,8", help="subscriber counts (default 1,2,4,8)")
    p.add_argument("--items", type=int, default=100_000)
    p.add_argument("--size", type=int, default=250, help="bytes per item (a 64-character chat line: ~250)")
    args = p.parse_args()
    for n in (int(x) for x in args.nodes.split(",")):
        print(measure(n, args.items, args.size), flush=True)


if __name__ == "__main__":
    main()
