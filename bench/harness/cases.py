"""The measurements: which load generator scenario, with which sizes, and
which of its figures is the headline. Sizes are those of issue 4; ``quick``
shrinks them for a smoke test of the harness itself.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Case:
    name: str
    title: str
    scenario: str  # loadgen scenario
    args: tuple[str, ...]  # loadgen options
    metric: str  # the headline figure in the loadgen's result
    unit: str
    higher_is_better: bool
    persistent_only: bool = False  # needs a server that stores messages (chatd, socketio-sqlite)
    time_limit: float = 150.0
    chatd_only: bool = False  # needs chatd's whole protocol (private messages, history, resume): chatd targets
    quick: bool = False  # --quick's small sizes, not the title's: label them, score no target on them

    @property
    def sizes(self) -> str:
        """The sizes this case runs with, from its loadgen options: "200 members, 1 s"."""
        opts = dict(zip(self.args[::2], self.args[1::2], strict=False))
        return ", ".join(f"{int(float(opts[o])):,}{unit}" for o, unit in SIZE_WORDS if o in opts)

    @property
    def size_label(self) -> str:
        """"" for a full-size case; else "quick: 200 members, 1 s", for every title it appears in."""
        return f"quick: {self.sizes}" if self.quick else ""


# loadgen options that size a case, as shown beside a --quick case's title
SIZE_WORDS = [("--members", " members"), ("--senders", " senders"), ("--clients", " clients"),
              ("--rooms", " rooms"), ("--per-room", " per room"), ("--missed", " missed"), ("--seconds", " s")]


def all_cases(quick: bool = False) -> list[Case]:
    q = quick
    cases = [
        Case("fanout-100", "(1) fan-out, 1 sender, room of 100", "fanout",
             ("--members", "50" if q else "100", "--seconds", "1" if q else "2"),
             "deliveries_per_s", "deliveries/s", True),
        Case("fanout-1000", "(1) fan-out, 1 sender, room of 1,000", "fanout",
             ("--members", "200" if q else "1000", "--seconds", "1" if q else "2"),
             "deliveries_per_s", "deliveries/s", True),
        Case("rooms", "(2) 500 rooms x 10 members, all talking", "rooms",
             ("--rooms", "50" if q else "500", "--per-room", "10", "--seconds", "1" if q else "2"),
             "deliveries_per_s", "deliveries/s", True),
        Case("latency", "(3) latency, 20 msgs/s into a room of 1,000", "latency",
             ("--members", "200" if q else "1000", "--rate", "20", "--seconds", "2" if q else "4"),
             "latency_p99_ms", "ms (p99)", False),
        Case("idle", "(4) idle memory, 10,000 clients joined", "idle",
             ("--clients", "1000" if q else "10000", "--per-room", "10"),
             "kib_per_client", "KiB RSS/client", False),
        Case("storm", "(5) connection storm, 5,000 clients", "storm",
             ("--clients", "500" if q else "5000", "--per-room", "10"),
             "seconds", "s", False),
        Case("handshakes", "(5b) the storm's handshakes alone, 5,000 clients", "handshakes",
             ("--clients", "500" if q else "5000"),
             "seconds", "s", False),
        Case("reconnect", "(6) reconnect storm, 1,000 clients x 100 missed", "reconnect",
             ("--clients", "200" if q else "1000", "--per-room", "100", "--missed", "20" if q else "100"),
             "replayed_per_s", "replayed msgs/s", True, persistent_only=True),
        Case("write", "(7) write throughput, 100 senders", "write",
             ("--senders", "20" if q else "100", "--window", "8", "--seconds", "1" if q else "2"),
             "acked_per_s", "acked msgs/s", True, persistent_only=True),
        *community_cases(q),
    ]
    return [replace(c, quick=True) for c in cases] if q else cases


def community_cases(q: bool) -> list[Case]:
    """(8) a community (loadgen/community.py): chatd's whole protocol, and the subset the plain peers speak."""
    size = ("--clients", "1000" if q else "10000", "--rooms", "100" if q else "1000", "--rate", "300",
            "--seconds", "5" if q else "20")
    return [
        Case("community", "(8) community, chatd only: 10,000 users in Zipf rooms, 300 msgs/s, 10% private, "
             "moves, resumes, history pages", "community", size,
             "server_us_per_message", "µs server CPU/msg", False, time_limit=300.0, chatd_only=True),
        Case("community-lite", "(8) community-lite: the same rooms, traffic and churn; no private messages, "
             "history or resume", "community-lite", size,
             "server_us_per_message", "µs server CPU/msg", False, time_limit=300.0),
    ]
