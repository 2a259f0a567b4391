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

Clients behave as docs/protocol.md "Reconnecting" says: identify with the
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
DROP_AFTER = (0.3, 2.5)  # seconds a listener stays connected before it drops
AWAY = (0.0, 1.0)  # seconds it stays away
RESEND_AFTER = 0.2  # seconds before a writer resends a say refused as "unavailable"
SETTLE_TIMEOUT = 60.0  # seconds for the end: every say acknowledged, every client caught up
PATIENCE = 10.0  # seconds a request may take before the client gives the connection up
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


# -- one client ---------------------------------------------------------------------------------------------------

class Client:
    """A chat user in one room whose sessions come and go; keeps every message id it saw, in order."""

    def __init__(self, name: str, room: str, writes: bool):
        self.name, self.room, self.writes = name, room, writes
        self.token: str | None = None
        self.seen: list[int] = []
        self.seen_set: set[int] = set()
        self.repeated = self.disordered = 0
        self.unacked: dict[str, str] = {}  # cid → text
        self.acked: dict[str, int] = {}  # cid → id
        self.sessions = self.replayed = self.live = self.paged = 0
        self.resume_ms: list[float] = []  # connect → joined, every session after the first
        self.problems: list[str] = []  # what the server answered that it should not have
        self.done = False
        self.current: Session | None = None  # the session whose frames count
        self._cids = iter(range(1, 1 << 62))
        self._gap = False  # a history page is being fetched: live messages wait in _held
        self._held: list[int] = []
        self._unbounded = False  # the page asked for has no `before`: live frames may repeat some of it
        self._overlap_to = 0  # the last id of such a page
        self.overlaps = 0

    @property
    def last(self) -> int:
        return self.seen[-1] if self.seen else 0

    def _take(self, ids: list[int], *, overlap_ok: bool) -> None:
        for i in ids:
            if i > self.last:
                self.seen.append(i)
                self.seen_set.add(i)
            elif i <= self._overlap_to and i in self.seen_set:
                self.overlaps += 1  # also listed by a page asked without `before`: keep one (protocol "Pages")
            elif not overlap_ok:  # a live message at or below what was seen: the server sent it twice or late
                if i in self.seen_set:
                    self.repeated += 1
                else:
                    self.disordered += 1
                self.problems.append(f"message {i} after {self.last} ({'again' if i in self.seen_set else 'late'})")

    def frame(self, session: Session, obj: dict) -> None:
        if session is not self.current:
            return  # what a dropped connection still had in its buffers: that client is gone
        kind = obj.get("type")
        if kind == "message" and obj.get("room") == self.room:
            self.live += 1
            if self._gap:
                self._held.append(obj["id"])
            else:
                self._take([obj["id"]], overlap_ok=False)
        elif kind == "welcome":
            self.token = obj["token"]
        elif kind == "joined":
            self.replayed += len(obj["messages"])
            self._page(session, obj)
            session.joined.set()
        elif kind == "history":
            self.paged += len(obj["messages"])
            self._page(session, obj)
        elif kind == "ack":
            self.unacked.pop(obj["cid"], None)
            self.acked[obj["cid"]] = obj["id"]
        elif kind == "error":
            if obj.get("code") == "unavailable" and obj.get("cid") in self.unacked:
                asyncio.get_running_loop().call_later(RESEND_AFTER, self._resend, session, obj["cid"])
            else:
                self.problems.append(f"{obj.get('code')}: {obj.get('message')}")

    def _page(self, session: Session, obj: dict) -> None:
        """A page of a resume (joined, history): take it; follow ``more`` with the next page
        (after = the last id, before = the first live id held meanwhile), then the held live ones."""
        if obj.get("reset"):
            self.problems.append(f"{obj['type']} said reset: true")
        ids = [m["id"] for m in obj["messages"]]
        self._take(ids, overlap_ok=self._gap)
        if self._unbounded and ids:
            self._overlap_to = max(self._overlap_to, ids[-1])
        if obj.get("more"):
            self._gap = True
            ask = {"type": "history", "room": self.room, "after": self.last}
            if self._held:
                ask["before"] = self._held[0]
            self._unbounded = "before" not in ask
            session.send(ask)
            return
        if self._gap:
            self._gap = False
            held, self._held = self._held, []
            self._take(held, overlap_ok=True)  # a page asked without `before` may hold some of them

    def _resend(self, session: Session, cid: str) -> None:
        if cid in self.unacked and session.open:
            session.send({"type": "say", "room": self.room, "text": self.unacked[cid], "cid": cid})

    def say(self, session: Session) -> None:
        cid = f"{self.name}.{next(self._cids)}"
        self.unacked[cid] = f"{self.name} says {cid}"
        session.send({"type": "say", "room": self.room, "text": self.unacked[cid], "cid": cid})

    def hello(self, session: Session) -> None:
        """identify (token once known), join from the last id, resend what is not acknowledged."""
        self.sessions += 1
        self.current = session
        self._gap, self._held, self._unbounded, self._overlap_to = False, [], False, 0
        session.send({"type": "identify", **({"token": self.token} if self.token else {"name": self.name})})
        session.send({"type": "join", "room": self.room, "since": self.last})
        for cid, text in list(self.unacked.items()):
            session.send({"type": "say", "room": self.room, "text": text, "cid": cid})


def _session_class():
    """picows is in bench/.venv only: the class is made once the script runs there."""
    import orjson
    from picows import WSListener, WSMsgType

    class Session(WSListener):
        """One WebSocket connection of a Client."""

        def __init__(self, client: Client):
            super().__init__()
            self.client = client
            self.transport = None
            self.joined = asyncio.Event()
            self.closed = asyncio.get_running_loop().create_future()

        @property
        def open(self) -> bool:
            return self.transport is not None and not self.closed.done()

        def on_ws_connected(self, transport) -> None:
            self.transport = transport

        def on_ws_disconnected(self, transport) -> None:
            if not self.closed.done():
                self.closed.set_result(None)

        def on_ws_frame(self, transport, frame) -> None:
            if frame.msg_type == WSMsgType.TEXT:
                self.client.frame(self, orjson.loads(frame.get_payload_as_bytes()))
            elif frame.msg_type == WSMsgType.CLOSE:
                transport.disconnect()

        def send(self, obj: dict) -> None:
            if self.open:
                self.transport.send(WSMsgType.TEXT, orjson.dumps(obj))

        def drop(self, graceful: bool) -> None:
            if self.open:
                if graceful:
                    self.transport.send_close()
                self.transport.disconnect(graceful=graceful)

    return Session


Session = None  # set in main(), inside the virtualenv


async def one_session(client: Client, url: str, hold: float | None, interval: float) -> None:
    """Connect, resume, stay ``hold`` seconds (None: until ``client.done``), saying every
    ``interval`` if a writer; then drop, cleanly or not (a coin toss)."""
    from picows import ws_connect

    started = time.monotonic()
    try:
        _, session = await asyncio.wait_for(ws_connect(lambda: Session(client), url), PATIENCE)
    except (OSError, TimeoutError) as e:
        client.problems.append(f"connect to {url}: {e!r}")
        await asyncio.sleep(0.1)
        return
    first = client.sessions == 0
    client.hello(session)
    try:
        await asyncio.wait_for(session.joined.wait(), PATIENCE)
    except TimeoutError:
        client.problems.append(f"no joined from {url} in {PATIENCE} s")
        session.drop(graceful=False)
        return
    if not first:
        client.resume_ms.append((time.monotonic() - started) * 1000)
    until = None if hold is None else time.monotonic() + hold
    while not session.closed.done() and not client.done and (until is None or time.monotonic() < until):
        if client.writes:
            client.say(session)
        await asyncio.wait([session.closed], timeout=interval)
    session.drop(graceful=random.random() < 0.5)


async def run_client(client: Client, urls: list[str], home: str, interval: float, dropping: bool) -> None:
    """Sessions one after another until ``client.done``: a listener on a random node each time,
    for a random while; a writer on its ``home`` node, as long as the connection lasts."""
    while not client.done:
        if dropping:
            await one_session(client, random.choice(urls), random.uniform(*DROP_AFTER), interval)
            await asyncio.sleep(random.uniform(*AWAY))
        else:
            await one_session(client, home, None, interval)
            home = random.choice(urls)  # its connection broke: go on anywhere


async def caught_up(client: Client, urls: list[str], stored_last: int) -> None:
    """A last session that stays until the client has the room's newest stored message."""
    from picows import ws_connect

    _, session = await ws_connect(lambda: Session(client), random.choice(urls))
    client.hello(session)
    while client.last < stored_last or client._gap:
        await asyncio.sleep(0.05)
    session.drop(graceful=True)


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
    await asyncio.wait_for(asyncio.gather(*(caught_up(c, urls, stored[c.room][-1] if stored[c.room] else 0)
                                            for c in everyone)), SETTLE_TIMEOUT)
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

    global Session
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
            Session = _session_class()
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
          f"dropping every {DROP_AFTER[0]}-{DROP_AFTER[1]} s, {args.rooms} rooms, PostgreSQL + Redis")
    for key, value in figures.items():
        print(f"  {key}: {value}")
    print(f"  logs kept in {workdir}")
    if failures:
        print("FAILED:\n  " + "\n  ".join(failures[:30]))
        sys.exit(1)
    print("OK: every client's sequence of its room equals the stored one (0 lost, 0 duplicated, in order)")


if __name__ == "__main__":
    main()
