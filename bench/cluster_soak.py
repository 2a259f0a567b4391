#!/usr/bin/env python3
"""Soak a chatd cluster: 3 nodes (processes) on one Redis and one PostgreSQL,
writers on every node saying into the same rooms while listeners drop and
resume on random nodes; Redis is restarted (killed, started empty) once in
the middle. At the end every client's sequence of a room must equal the
stored one: nothing lost, nothing twice, in order.

    python3 bench/cluster_soak.py                        # 60 s, 3 nodes, Redis restarted at 30 s
    python3 bench/cluster_soak.py --seconds 300 --writers 12 --listeners 24
    python3 bench/cluster_soak.py --no-restart-redis

Run by hand (never by the test suite), after ``python3 bench/run.py
--setup-only`` (it runs in bench/.venv: picows, orjson, psycopg). It starts
its own redis-server and PostgreSQL cluster in temporary directories on
free loopback ports (bench/harness/services.py) and stops everything it
started. Prints the figures and the check; exits 1 if the check failed.

Clients (loadgen/resuming.py) behave as docs/protocol.md "Reconnecting" says: identify with the
token, join with ``since`` = the last id seen (0 at first: every message),
follow ``more: true`` with ``history`` pages, writers resend every ``say``
not yet acknowledged with its original ``cid``. A message frame whose id is
not above the last one seen is counted a repeat (if seen) or out of order.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from harness import setup_env  # noqa: E402  (stdlib only: works before the virtualenv is entered)

NODES = 3
SETTLE_TIMEOUT = 60.0  # seconds for the end: every say acknowledged, every client caught up
# Most missed messages a resume replays (history.replay_max, default 500): small, so that most
# resumes are cut short and the client follows with history pages, as real clients after a long absence.
REPLAY_MAX = 10


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=60.0, help="length of the soak (default 60)")
    p.add_argument("--writers", type=int, default=9, help="writers, spread over the nodes and rooms (default 9)")
    p.add_argument("--listeners", type=int, default=9, help="listeners that drop and resume (default 9)")
    p.add_argument("--rooms", type=int, default=3, help="rooms they all share (default 3)")
    p.add_argument("--interval", type=float, default=0.05, help="seconds between a writer's says (default 0.05)")
    p.add_argument("--restart-redis", action=argparse.BooleanOptionalAction, default=True,
                   help="kill Redis and start it empty once, in the middle (default: yes)")
    p.add_argument("--chatd-cmd", help="how to run chatd (default: bench/.venv/bin/chatd, this repository's)")
    p.add_argument("--seed", type=int, help="random seed, to replay a run's choices")
    return p.parse_args()


# -- the cluster ---------------------------------------------------------------------------------------------------

def node_config(directory: Path, port: int, database: str, bus: str, rooms: list[str]) -> Path:
    path = directory / "chatd.yaml"
    path.write_text(f"""# written by bench/cluster_soak.py
listen: "127.0.0.1:{port}"
database: {database}
bus: {bus}
pidfile: {directory / 'chatd.pid'}
control_socket: {directory / 'chatd.sock'}
logfile: ""  # standard error, which start_nodes puts in chatd.log
limits: {{rate_per_second: 1000000, rate_burst: 1000000, user_rate_per_second: 1000000, user_rate_burst: 1000000}}
address: {{exempt: ["127.0.0.0/8"]}}
rooms: {{default: [{", ".join(rooms)}]}}
history: {{replay_max: {REPLAY_MAX}}}
""")
    return path


def stored_ids(database: str, room: str) -> list[int]:
    import psycopg

    with psycopg.connect(database) as db:
        rows = db.execute("SELECT m.id FROM message m JOIN room r ON r.id = m.room_id WHERE r.name = %s "
                          "ORDER BY m.id", (room,)).fetchall()
    return [row[0] for row in rows]


def start_nodes(chatd: list[str], workdir: Path, database: str, bus: str, rooms: list[str]) -> list:
    import subprocess

    from harness.server import answers_websocket
    from harness.services import free_port

    nodes = []
    for n in range(NODES):
        directory = workdir / f"node{n}"
        directory.mkdir()
        port = free_port()
        with open(directory / "chatd.log", "wb") as log:
            proc = subprocess.Popen([*chatd, "start", "-c", str(node_config(directory, port, database, bus, rooms))],
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        nodes.append((proc, port, directory))
        deadline = time.monotonic() + 30
        while not answers_websocket(port, "/ws"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"node {n} did not start: {(directory / 'chatd.log').read_text()[-500:]}")
            time.sleep(0.05)
    return nodes


def stop_nodes(nodes: list) -> None:
    import signal
    import subprocess

    for proc, _, _ in nodes:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc, _, _ in nodes:
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    from loadgen.metrics import process_children, tree_cpu

    children = process_children()
    return {name: tree_cpu(pid, children, os.sysconf("SC_CLK_TCK")) for name, pid in pids.items()}


# -- the soak ------------------------------------------------------------------------------------------------------

async def soak(args: argparse.Namespace, urls: list[str], redis, database: str, rooms: list[str]) -> dict:
    from loadgen.resuming import Client, caught_up, run_client  # picows: inside the virtualenv

    writers = [Client(f"writer{i}", rooms[i % len(rooms)], writes=True) for i in range(args.writers)]
    listeners = [Client(f"listener{i}", rooms[i % len(rooms)], writes=False) for i in range(args.listeners)]
    tasks = [asyncio.ensure_future(run_client(c, urls, urls[i % NODES], args.interval, dropping=False))
             for i, c in enumerate(writers)]
    tasks += [asyncio.ensure_future(run_client(c, urls, urls[i % NODES], args.interval, dropping=True))
              for i, c in enumerate(listeners)]
    started = time.monotonic()
    restarted_at = None
    if args.restart_redis:
        await asyncio.sleep(args.seconds / 2)
        await asyncio.to_thread(redis.restart)  # SIGKILL, then an empty one on the same port
        restarted_at = round(time.monotonic() - started, 1)
    await asyncio.sleep(max(0.0, started + args.seconds - time.monotonic()))
    soaked = time.monotonic() - started
    for w in writers:
        w.writes = False  # stop saying new things; what is unacknowledged is still resent
    give_up = time.monotonic() + SETTLE_TIMEOUT
    while any(w.unacked for w in writers) and time.monotonic() < give_up:
        await asyncio.sleep(0.05)
    for c in writers + listeners:
        c.done = True
    await asyncio.gather(*tasks)
    stored = {room: await asyncio.to_thread(stored_ids, database, room) for room in rooms}
    everyone = writers + listeners
    async with asyncio.timeout(SETTLE_TIMEOUT):
        await asyncio.gather(*(caught_up(c, urls, stored[c.room][-1] if stored[c.room] else 0) for c in everyone))
    return {"writers": writers, "listeners": listeners, "stored": stored, "seconds": soaked,
            "redis_restarted_at": restarted_at}


def check(result: dict) -> tuple[dict, list[str]]:
    """The figures, and what went wrong (nothing, if the cluster kept its promise)."""
    writers, listeners, stored = result["writers"], result["listeners"], result["stored"]
    everyone = writers + listeners
    all_stored = {i for ids in stored.values() for i in ids}
    acked = {i for w in writers for i in w.acked.values()}
    failures = []
    lost = duplicated = extra = 0
    for c in everyone:
        want = stored[c.room]
        if c.seen != want:
            missing, surplus = set(want) - c.seen_set, c.seen_set - set(want)
            lost += len(missing)
            extra += len(surplus)
            failures.append(f"{c.name}: saw {len(c.seen)} of {len(want)} stored ({len(missing)} missing, "
                            f"{len(surplus)} not stored, in order: {c.seen == sorted(c.seen)})")
        duplicated += c.repeated + c.disordered
        failures += [f"{c.name}: {p}" for p in c.problems[:3]]  # repeats and late ones are among them
    if acked - all_stored:
        failures.append(f"{len(acked - all_stored)} acknowledged messages are not stored")
    unacked = sum(len(w.unacked) for w in writers)
    if unacked:
        failures.append(f"{unacked} says never acknowledged")
    if len(all_stored) != len(acked):
        failures.append(f"{len(all_stored)} messages stored for {len(acked)} acknowledged (a resent say stored twice?)")
    resumes = [ms for c in listeners for ms in c.resume_ms]
    figures = {
        "seconds": round(result["seconds"], 1),
        "redis restarted at (s)": result["redis_restarted_at"],
        "messages stored": len(all_stored),
        "acked/s": round(len(acked) / result["seconds"]),
        "listener sessions (resumes)": sum(c.sessions for c in listeners),
        "replayed on join": sum(c.replayed for c in everyone),
        "fetched by history pages": sum(c.paged for c in everyone),
        "live deliveries": sum(c.live for c in everyone),
        "live frames also on a page asked without `before` (kept once)": sum(c.overlaps for c in everyone),
        "resume connect→joined p50 / p99 ms": (f"{statistics.median(resumes):.1f} / "
                                               f"{sorted(resumes)[int(0.99 * (len(resumes) - 1))]:.1f}")
        if resumes else "-",
        "lost / duplicated or out of order / not stored": f"{lost} / {duplicated} / {extra}",
        "clients whose sequence equals the store's": f"{sum(c.seen == stored[c.room] for c in everyone)}"
                                                     f"/{len(everyone)}",
    }
    return figures, failures


def main() -> None:
    args = parse_args()
    if Path(sys.prefix).resolve() != setup_env.VENV.resolve():
        if not setup_env.VENV_PYTHON.exists():
            sys.exit("bench/.venv is missing: run python3 bench/run.py --setup-only first")
        os.execv(str(setup_env.VENV_PYTHON), [str(setup_env.VENV_PYTHON), __file__, *sys.argv[1:]])
    import shlex
    import tempfile

    from harness.services import PostgresCluster, RedisServer
    from harness.targets import default_chatd
    from loadgen.resuming import AWAY, DROP_AFTER

    if args.seed is not None:
        random.seed(args.seed)
    chatd = shlex.split(args.chatd_cmd) if args.chatd_cmd else default_chatd()
    rooms = [f"soak{i}" for i in range(args.rooms)]
    workdir = Path(tempfile.mkdtemp(prefix="chatd-soak-"))
    with PostgresCluster() as pg, RedisServer() as redis:
        database = pg.new_database()
        nodes = start_nodes(chatd, workdir, database, redis.url, rooms)
        urls = [f"ws://127.0.0.1:{port}/ws" for _, port, _ in nodes]
        pids = {f"node{n}": proc.pid for n, (proc, _, _) in enumerate(nodes)} | {"postgres": pg.pid}
        try:
            cpu0 = cpu_seconds(pids)
            result = asyncio.run(soak(args, urls, redis, database, rooms))
            cpu = {k: round((v - cpu0[k]) / result["seconds"], 2) for k, v in cpu_seconds(pids).items()}
        finally:
            stop_nodes(nodes)
        logs = [(workdir / f"node{n}" / "chatd.log").read_text(errors="replace") for n in range(NODES)]
    figures, failures = check(result)
    figures["CPU while soaking (cores)"] = ", ".join(f"{k} {v}" for k, v in cpu.items())
    figures["node log lines ERROR / Traceback"] = (f"{sum(log.count(' ERROR ') for log in logs)} / "
                                                   f"{sum(log.count('Traceback') for log in logs)}")
    print(f"cluster soak: {NODES} nodes, {args.writers} writers every {args.interval} s, {args.listeners} listeners "
          f"dropping every {DROP_AFTER[0]}-{DROP_AFTER[1]} s (away {AWAY[0]}-{AWAY[1]} s), {args.rooms} rooms, "
          "PostgreSQL + Redis")
    for key, value in figures.items():
        print(f"  {key}: {value}")
    print(f"  logs kept in {workdir}")
    if failures:
        print("FAILED:\n  " + "\n  ".join(failures[:30]))
        sys.exit(1)
    print("OK: every client's sequence of its room equals the stored one (0 lost, 0 duplicated, in order)")


if __name__ == "__main__":
    main()
