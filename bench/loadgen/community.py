"""Scenario (8): a community that looks like real use, with chatd's whole
protocol (``community``) or with the subset every peer speaks (``community-lite``).

The community is the same for a given ``--seed``, so runs compare:

- ``--clients`` users, each in 1–3 of ``--rooms`` rooms (ROOMS_EACH), room k
  drawn with weight k^-``--zipf``: a few big rooms, many small ones;
- ``--rate`` messages a second in all, on a fixed schedule (a slow server is
  not let off); a room's share is Zipf too, k^-``--activity`` for the k-th
  biggest, said by one of its members who is online; ``--private`` of them
  are private messages (``say {to}``) between two users;
- ``--moves`` a second (Poisson), a user leaves one of its rooms and joins
  another; ``--reconnects`` a second, a user drops its connection (cleanly or
  not), stays away (resuming.AWAY) and resumes as docs/protocol.md
  "Reconnecting" says: identify with its token and ``since``, join each room
  with ``since``, follow ``more`` with ``history`` pages (resuming.Sequence),
  resend every ``say`` not acknowledged with its ``cid``;
- ``--history`` a second, a user scrolls one of its rooms back (``history``
  ``before`` its oldest message, HISTORY_LIMIT messages).

community-lite keeps the rooms, their traffic and the churn, and drops what
needs a store or more than identify/create/join/say: no private messages, no
history fetches; a reconnect is a new session that joins its rooms afresh
(messages sent while away are not expected) and a move is a reconnect into
the new set of rooms (the plain peers have no ``leave``).

Every frame is decoded (ChatClient.on_frame): ids are read, each room and the
private messages kept as a resuming.Sequence per user. Checked at the end:
every acknowledged message reached, once and in id order, both users of a
private message and every member of its room that had its ``joined`` before
the message was sent and was still in the room at the end (in ``community`` a
user away resuming stays in its rooms). Of a stay that ended (a move, a
reconnect of community-lite) every message up to the last one it received is
owed: a room's messages come in id order, so a gap below that one is a loss,
while what was still on its way when the user left may rightly never come.
Latency (send → receive) counts live frames only; what a resume replays is
counted in ``replayed``, not in the latency.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import random
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field

from loadgen.client import ChatClient, connect
from loadgen.metrics import ProcessWatch, latency_summary, message_text, percentile
from loadgen.population import create_rooms, populate, quiesce, room_names
from loadgen.resuming import AWAY, PATIENCE, RESEND_AFTER, Sequence

ROOMS_EACH = ((1, 0.5), (2, 0.3), (3, 0.2))  # (rooms a user is in, share of users in that many)
HISTORY_LIMIT = 50  # messages per page a user scrolling back asks for
QUIET = 3.0  # seconds without a delivery after which what has not arrived counts as lost
SETTLE_LIMIT = 30.0  # seconds the end waits for resumes, acks and deliveries to finish
SENDER_TRIES = 10  # online members looked for before a scheduled message is skipped
_now = time.monotonic_ns


def user_rooms(clients: int, rooms: int, zipf: float, seed: int) -> list[list[str]]:
    """Each user's rooms: 1–3 distinct rooms, room k of ``rooms`` drawn with weight k^-zipf."""
    rng = random.Random(seed)
    names = room_names(rooms, "c")
    weights = list(itertools.accumulate(k ** -zipf for k in range(1, rooms + 1)))
    counts, shares = zip(*ROOMS_EACH, strict=True)
    out = []
    for _ in range(clients):
        chosen: list[str] = []
        for _ in range(min(rng.choices(counts, shares)[0], rooms)):
            name = rng.choices(names, cum_weights=weights)[0]
            while name in chosen:
                name = rng.choices(names, cum_weights=weights)[0]
            chosen.append(name)
        out.append(chosen)
    return out


@dataclass(eq=False)
class Membership:
    """One stay of a user in a room, from its ``joined`` (``joined_ns``, None until then)
    to the ``leave`` (``left_ns``: when sent; None while it stays). In ``community`` a
    stay lasts across the user's reconnections."""

    room: str
    seq: Sequence
    joined_ns: int | None = None
    left_ns: int | None = None
    opening: int = 0  # ids of the first joined page (older messages, not deliveries)
    opened: asyncio.Future = field(default_factory=lambda: asyncio.get_running_loop().create_future())


@dataclass(eq=False)
class Said:
    """One message sent: to a room, or privately ``to`` a user."""

    key: int
    sent_ns: int
    sender: Member
    frame: dict
    room: str | None = None
    to: Member | None = None
    id: int = 0  # from its ack
    abandoned: bool = False  # community-lite: its sender reconnected as a new session before the ack


class Member:
    """One user: its rooms, its private messages, its current connection."""

    def __init__(self, index: int, rooms: list[str]):
        self.index = index
        self.wanted = rooms  # the rooms it is in (or joining)
        self.rooms: dict[str, Membership] = {}
        self.left: dict[str, Membership] = {}  # the last stay of each room it left
        self.private = Sequence({})
        self.user_id = 0
        self.token = ""
        self.conn: ChatClient | None = None
        self.sessions = 1
        self.online = False  # identified and in its rooms, nothing being paged: may say
        self.busy = False  # moving or reconnecting
        self.waiting: set[str] = set()  # "welcome" and the rooms whose joined has not come yet
        self.ready: asyncio.Future | None = None
        self.unacked: dict[str, Said] = {}


class Community:
    """The state of one run and everything the users do; ``frame`` sees every frame."""

    def __init__(self, args, full: bool):
        self.url, self.flavour, self.full = args.url, args.flavour, full
        self.private_share = args.private if full else 0.0
        self.members = [Member(i, rooms) for i, rooms in
                        enumerate(user_rooms(args.clients, args.rooms, args.zipf, args.seed))]
        sizes = Counter(room for m in self.members for room in m.wanted)
        self.ranked = sorted(sizes, key=lambda r: (-sizes[r], int(r[1:])))  # biggest first
        self.activity = list(itertools.accumulate(k ** -args.activity for k in range(1, len(self.ranked) + 1)))
        self.size_weights = list(itertools.accumulate(sizes[r] for r in self.ranked))  # where a move goes
        self.sizes = sizes
        self.in_room: dict[str, list[Member]] = {room: [] for room in self.ranked}  # joined, may be picked to say
        self.memberships: list[Membership] = []
        self.said: list[Said] = []
        self.keys = itertools.count(1)
        self.rng = random.Random(args.seed + 1)  # traffic; churn has its own
        self.latencies: list[int] = []  # ns, live deliveries
        self.live = self.skipped = self.moves = self.reconnects = 0
        self.resume_ms: list[float] = []
        self.fetches: dict[str, tuple[int, int]] = {}  # cid → (sent ns, before)
        self.history_ms: list[float] = []
        self.history_messages = 0
        self.problems: list[str] = []
        self.tasks: set[asyncio.Task] = set()

    # Frames, in arrival order, of every member's current connection

    def frame(self, member: Member, client: ChatClient, obj: dict) -> None:
        if client is not member.conn:
            return  # what a dropped connection still had in its buffers
        kind = obj["type"]
        if kind == "message":
            self._message(member, obj)
        elif kind == "ack":
            said = member.unacked.pop(obj.get("cid"), None)
            if said is not None:
                said.id = obj["id"]
        elif kind == "welcome":
            member.user_id, member.token = obj["user"]["id"], obj.get("token") or ""
            member.waiting.discard("welcome")
            if self.full:  # a resume: the private messages it missed
                self._follow(member, member.private, obj)
        elif kind == "joined":
            self._joined(member, obj)
        elif kind == "history":
            self._history(member, obj)
        elif kind == "error":
            cid = obj.get("cid")
            if cid in member.unacked and obj.get("code") == "unavailable":
                asyncio.get_running_loop().call_later(RESEND_AFTER, self._resend, member, cid)
            else:
                self.fetches.pop(cid, None)
                self._problem(f"c{member.index}: {obj.get('code')}: {obj.get('message')}")
        if member.waiting or member.online or member.conn is None:
            return
        if not member.private.paging and not any(ms.seq.paging for ms in member.rooms.values()):
            member.online = True
            if member.ready is not None and not member.ready.done():
                member.ready.set_result(None)

    def _message(self, member: Member, obj: dict) -> None:
        room = obj.get("room")
        if room is None:
            seq = member.private
        else:
            stay = member.rooms.get(room) or member.left.get(room)
            if stay is None or stay.joined_ns is None:
                self._problem(f"c{member.index}: a message of {room}, a room it is not in")
                return
            seq = stay.seq
        if obj["id"] not in seq.seen_set:
            self.live += 1
            self.latencies.append(_now() - int(obj["text"].split(":", 2)[1]))
        seq.arrived(obj["id"])

    def _joined(self, member: Member, obj: dict) -> None:
        stay = member.rooms.get(obj["room"])
        if stay is None:
            self._problem(f"c{member.index}: joined {obj['room']}, which it did not ask for")
            return
        member.waiting.discard(stay.room)
        if stay.joined_ns is not None:  # a resume
            self._follow(member, stay.seq, obj)
            return
        stay.joined_ns = _now()
        stay.seq.take([m["id"] for m in obj.get("messages") or []], overlap_ok=False)
        stay.opening = len(stay.seq.seen)
        self.in_room[stay.room].append(member)
        stay.opened.set_result(None)

    def _history(self, member: Member, obj: dict) -> None:
        fetch = self.fetches.pop(obj.get("cid"), None)
        if fetch is not None:  # a user scrolling back
            sent, before = fetch
            self.history_ms.append((_now() - sent) / 1e6)
            ids = [m["id"] for m in obj["messages"]]
            self.history_messages += len(ids)
            if ids != sorted(set(ids)) or (before and ids and ids[-1] >= before) or len(ids) > HISTORY_LIMIT:
                self._problem(f"c{member.index}: history before {before} listed {ids[:3]}…{ids[-3:]}")
            return
        room = obj.get("room")
        if room is None:
            self._follow(member, member.private, obj)
        elif room in member.rooms:
            self._follow(member, member.rooms[room].seq, obj)

    def _follow(self, member: Member, seq: Sequence, page: dict) -> None:
        ask = seq.page(page)
        if ask is not None:
            member.conn.send(ask)

    def _resend(self, member: Member, cid: str) -> None:
        said = member.unacked.get(cid)
        if said is not None and member.conn is not None and member.conn.connected:
            member.conn.send(said.frame)

    def _problem(self, text: str) -> None:
        self.problems.append(text)

    # Sessions

    async def open_session(self, member: Member, resume: bool) -> None:
        """Connect, identify (its token once it has one), join its rooms (with ``since`` on a
        resume), resend what is not acknowledged; return once it is online again."""
        client = await connect(self.url, self.flavour, PATIENCE)
        client.index = member.index
        client.on_frame = functools.partial(self.frame, member)
        client.gone.add_done_callback(functools.partial(self._gone, member, client))
        member.conn, member.online = client, False
        member.ready = asyncio.get_running_loop().create_future()
        member.waiting = {"welcome", *member.rooms}
        identify = {"type": "identify", **({"token": member.token} if member.token else
                                           {"name": f"c{member.index}.{member.sessions}"})}
        if resume:
            identify["since"] = member.private.last
            member.private.restart()
        client.send(identify)
        for room, stay in member.rooms.items():
            join = {"type": "join", "room": room}
            if resume:
                join["since"] = stay.seq.last
                stay.seq.restart()
            client.send(join)
        if resume:
            for said in list(member.unacked.values()):
                client.send(said.frame)
        async with asyncio.timeout(PATIENCE):
            await asyncio.shield(member.ready)  # a timeout ends the wait, not the future frames complete

    def _gone(self, member: Member, client: ChatClient, _) -> None:
        """The server closed a connection the member did not drop: it comes back, as a user would."""
        if member.conn is client and not member.busy:
            self._problem(f"c{member.index}: the server closed its connection")
            member.busy, member.online = True, False
            self._spawn(self.come_back(member, random.Random(member.index)))

    def _end_stays(self, member: Member) -> None:
        now = _now()
        for stay in member.rooms.values():
            stay.left_ns = now
            member.left[stay.room] = stay
            if member in self.in_room[stay.room]:
                self.in_room[stay.room].remove(member)
        member.rooms = {}

    def _stays(self, member: Member, rooms: list[str]) -> None:
        for room in rooms:
            member.rooms[room] = stay = Membership(room, Sequence({"room": room}))
            self.memberships.append(stay)

    # What users do

    async def reconnect(self, member: Member, rng: random.Random) -> None:
        """Drop the connection, cleanly or not (a coin toss), and come back."""
        self.reconnects += 1
        await self.come_back(member, rng)

    async def come_back(self, member: Member, rng: random.Random) -> None:
        member.busy, member.online = True, False
        old = member.conn
        if old is not None and old.connected:
            if rng.random() < 0.5:
                old.close()
            else:
                old.drop()
        if not self.full:  # a new session: no resume, and no resend (a plain peer would store it twice)
            self._end_stays(member)
            for said in member.unacked.values():
                said.abandoned = True  # its answer went with the old connection: not owed
            member.unacked = {}
        await asyncio.sleep(rng.uniform(*AWAY))
        started = time.monotonic()
        member.sessions += 1
        if not self.full:
            self._stays(member, member.wanted)
        for attempt in range(3):
            try:
                await self.open_session(member, resume=self.full)
                break
            except (OSError, TimeoutError, ConnectionError) as e:
                self._problem(f"c{member.index}: reconnect {attempt + 1}: {type(e).__name__}: {e}")
                if member.conn is not None:
                    member.conn.drop()
                await asyncio.sleep(1.0)
        self.resume_ms.append((time.monotonic() - started) * 1000)
        member.busy = False

    async def move(self, member: Member, rng: random.Random) -> None:
        """Leave one of its rooms, join another (weighted as at the start)."""
        new = self.ranked[0]
        for _ in range(SENDER_TRIES):
            new = rng.choices(self.ranked, cum_weights=self.size_weights)[0]
            if new not in member.wanted:
                break
        else:
            return
        old = rng.choice(member.wanted)
        member.wanted = [new if room == old else room for room in member.wanted]
        self.moves += 1
        if not self.full:  # no `leave` in the plain peers: a new session in the new rooms
            await self.come_back(member, rng)
            return
        member.busy = True
        stay = member.rooms.pop(old)
        stay.left_ns = _now()
        member.left[old] = stay
        if member in self.in_room[old]:
            self.in_room[old].remove(member)
        self._stays(member, [new])
        member.waiting.add(new)
        member.conn.send({"type": "leave", "room": old, "cid": f"l{member.index}.{self.moves}"})
        member.conn.send({"type": "join", "room": new})
        try:
            async with asyncio.timeout(PATIENCE):
                await asyncio.shield(member.rooms[new].opened)  # as above: the wait, not the future
        except TimeoutError:
            self._problem(f"c{member.index}: no joined for {new} in {PATIENCE} s")
        member.busy = False

    def fetch_history(self, member: Member, rng: random.Random) -> None:
        stay = member.rooms[rng.choice(sorted(member.rooms))]
        if stay.joined_ns is None:
            return
        cid = f"h{next(self.keys)}"
        before = rng.choice(stay.seq.seen) if stay.seq.seen else 0  # somewhere it scrolled to; 0: the latest
        self.fetches[cid] = (_now(), before)
        member.conn.send({"type": "history", "room": stay.room, "limit": HISTORY_LIMIT, "cid": cid,
                          **({"before": before} if before else {})})

    def say_one(self) -> None:
        """The next message of the schedule: private (``--private`` of them) or to a room
        drawn by activity, from a member who is online."""
        rng = self.rng
        if self.private_share and rng.random() < self.private_share:
            sender, to = self.pick(rng, self.members), rng.choice(self.members)
            if sender is None or to is sender:
                self.skipped += 1
                return
            said = Said(0, 0, sender, {"type": "say", "to": to.user_id}, to=to)
        else:
            room = rng.choices(self.ranked, cum_weights=self.activity)[0]
            sender = self.pick(rng, self.in_room[room])
            if sender is None:
                self.skipped += 1
                return
            said = Said(0, 0, sender, {"type": "say", "room": room}, room=room)
        said.key = next(self.keys)
        said.frame["text"] = text = message_text(said.key)
        said.frame["cid"] = cid = f"k{said.key}"
        said.sent_ns = int(text.split(":", 2)[1])
        sender.unacked[cid] = said
        self.said.append(said)
        sender.conn.send(said.frame)

    @staticmethod
    def pick(rng: random.Random, among: list[Member]) -> Member | None:
        for _ in range(SENDER_TRIES if among else 0):
            member = rng.choice(among)
            if member.online and member.conn.connected:
                return member
        return None

    def _spawn(self, work) -> None:
        task = asyncio.ensure_future(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def churn(self, per_second: float, seed: int, act) -> None:
        """``act(member, rng)`` for a member online and not busy, ``per_second`` on average (Poisson)."""
        rng = random.Random(seed)
        while per_second > 0:
            await asyncio.sleep(rng.expovariate(per_second))
            member = self.pick(rng, self.members)
            if member is None or member.busy:
                continue
            result = act(member, rng)
            if asyncio.iscoroutine(result):
                self._spawn(result)

    async def talk(self, rate: float, seconds: float) -> None:
        start = time.monotonic()
        for n in range(round(rate * seconds)):
            delay = start + n / rate - time.monotonic()  # a fixed schedule: no coordinated omission
            if delay > 0:
                await asyncio.sleep(delay)
            self.say_one()

    # Set-up and the end

    async def setup(self, args) -> str | None:
        """Create the rooms, bring every member online in all its rooms; an error text or None."""
        await create_rooms(self.url, self.flavour, self.ranked)
        clients, failures = await populate(self.url, self.flavour, len(self.members),
                                           [m.wanted[0] for m in self.members],
                                           concurrency=args.setup_concurrency, name_prefix="c")
        if failures:
            return f"{len(failures)} clients failed to join: {failures[0]}"
        pending = iter(zip(self.members, clients, strict=True))

        async def join_the_rest() -> None:
            for member, client in pending:
                for room in member.wanted[1:]:
                    await client.request({"type": "join", "room": room})

        try:
            await asyncio.gather(*(join_the_rest() for _ in range(args.setup_concurrency)))
        except Exception as e:
            return f"a join failed: {type(e).__name__}: {e}"
        await quiesce(clients, limit=args.time_limit / 2,
                      expected=sum(n * (n - 1) // 2 for n in self.sizes.values()))
        now = _now()
        for member, client in zip(self.members, clients, strict=True):
            member.conn, member.user_id, member.token = client, client.user_id, client.token
            self._stays(member, member.wanted)
            for stay in member.rooms.values():
                stay.joined_ns = now
                stay.opened.set_result(None)
                self.in_room[stay.room].append(member)
            client.on_frame = functools.partial(self.frame, member)
            client.gone.add_done_callback(functools.partial(self._gone, member, client))
            member.online = True
        return None

    def missing(self) -> tuple[int, list[tuple[Sequence, int]]]:
        """How many deliveries were owed, and those (sequence, id) that did not come."""
        stays: dict[str, list[Membership]] = {}
        for stay in self.memberships:
            if stay.joined_ns is not None:
                stays.setdefault(stay.room, []).append(stay)
        owed, out = 0, []
        for said in self.said:
            if not said.id:
                continue
            if said.room is None:
                owed += 2
                out += [(m.private, said.id) for m in (said.sender, said.to) if said.id not in m.private.seen_set]
                continue
            for stay in stays.get(said.room, ()):
                if stay.joined_ns < said.sent_ns and (stay.left_ns is None or said.id <= stay.seq.last):
                    owed += 1
                    if said.id not in stay.seq.seen_set:
                        out.append((stay.seq, said.id))
        return owed, out

    async def finish(self) -> tuple[int, list[tuple[Sequence, int]]]:
        """Let resumes and moves end, acks come (each within SETTLE_LIMIT), deliveries arrive
        (or none for QUIET s)."""
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=SETTLE_LIMIT)
        give_up = time.monotonic() + SETTLE_LIMIT
        while any(m.unacked for m in self.members) and time.monotonic() < give_up:
            await asyncio.sleep(0.05)
        give_up = time.monotonic() + SETTLE_LIMIT
        owed, missing = self.missing()
        last_change = time.monotonic()
        while missing and time.monotonic() < give_up:
            await asyncio.sleep(0.05)
            still = [(seq, i) for seq, i in missing if i not in seq.seen_set]
            if len(still) != len(missing):
                last_change = time.monotonic()
            elif time.monotonic() - last_change > QUIET:
                break
            missing = still
        return owed, missing

    def deliveries(self) -> int:
        return (sum(len(s.seq.seen) - s.opening for s in self.memberships)
                + sum(len(m.private.seen) for m in self.members))


async def run(args, watch: ProcessWatch, full: bool) -> dict:
    world = Community(args, full)
    started = time.monotonic()
    error = await world.setup(args)
    if error:
        return {"error": error}
    setup_s = time.monotonic() - started
    watch.start()
    t0 = time.monotonic()
    loops = [asyncio.ensure_future(world.churn(args.moves, args.seed + 2, world.move)),
             asyncio.ensure_future(world.churn(args.reconnects, args.seed + 3, world.reconnect))]
    if full:
        loops.append(asyncio.ensure_future(world.churn(args.history, args.seed + 4, world.fetch_history)))
    await world.talk(args.rate, args.seconds)
    for loop in loops:
        loop.cancel()
    owed, missing = await world.finish()
    cpu = watch.stop()
    wall = time.monotonic() - t0
    cpu_s = cpu.get("server_cpu_s", cpu["server_cpu"] * wall)  # CPU seconds, if the watch says them
    sequences = [s.seq for s in world.memberships] + [m.private for m in world.members]
    acked = sum(1 for s in world.said if s.id)
    delivered = world.deliveries()
    sizes = sorted(world.sizes.values(), reverse=True)
    problems = world.problems + [p for seq in sequences for p in seq.problems]
    resume, history = sorted(world.resume_ms), sorted(world.history_ms)
    return {
        "variant": "community" if full else "community-lite",
        "clients": len(world.members),
        "rooms": len(sizes),
        "biggest_rooms": sizes[:5],
        "median_room": statistics.median(sizes),
        "memberships": sum(sizes),
        "setup_s": round(setup_s, 1),
        "rate": args.rate,
        "messages_sent": len(world.said),
        "private_sent": sum(1 for s in world.said if s.room is None),
        "acked": acked,
        "abandoned": sum(1 for s in world.said if s.abandoned and not s.id),
        "unacked": sum(1 for s in world.said if not s.id and not s.abandoned),
        "skipped": world.skipped,
        "owed": owed,
        "deliveries": delivered,
        "deliveries_per_s": round(delivered / wall),
        "live": world.live,
        "replayed": delivered - world.live,
        "lost": len(missing),
        "duplicated": sum(seq.repeated for seq in sequences),
        "out_of_order": sum(seq.disordered for seq in sequences),
        **latency_summary(world.latencies),
        "moves": world.moves,
        "reconnects": world.reconnects,
        "resume_p50_ms": round(percentile(resume, 0.5), 1),
        "resume_p99_ms": round(percentile(resume, 0.99), 1),
        "history_fetches": len(history),
        "history_messages": world.history_messages,
        "history_p50_ms": round(percentile(history, 0.5), 1),
        "history_p99_ms": round(percentile(history, 0.99), 1),
        "seconds": round(wall, 2),
        **cpu,
        "server_cpu_s": round(cpu_s, 3),
        "server_us_per_message": round(cpu_s / acked * 1e6, 1) if acked else 0,
        "server_us_per_delivery": round(cpu_s / delivered * 1e6, 2) if delivered else 0,
        "server_errors": sum(m.conn.errors for m in world.members if m.conn is not None),
        "problems": len(problems),
        **({"first_problems": problems[:5]} if problems else {}),
    }


async def community(args, watch: ProcessWatch) -> dict:
    """(8) chatd's whole protocol: rooms, private messages, moves, resumes, history pages."""
    return await run(args, watch, full=True)


async def community_lite(args, watch: ProcessWatch) -> dict:
    """(8) what every peer can do: rooms, moves and reconnects as new sessions."""
    return await run(args, watch, full=False)
