"""What the load generator measures: deliveries, latency, loss, duplicates,
and the CPU and memory of the server under test (read from /proc).

Every message the load generator sends has a text ``"KEY:T:padding"``:
KEY a number unique to that message in the run, written with KEY_DIGITS
digits (zeros in front) so that a receiver reads it at a fixed place, T the
send time from ``time.monotonic_ns()`` (one clock for the whole machine, and
the sender and the receivers live in this same process anyway). A receiver
needs nothing from the server but the text back.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Iterable

TEXT_CHARS = 64  # the size of a typical chat line
KEY_DIGITS = 19  # every key a scenario makes fits (persistence.write: up to 18 digits, traffic.key_of 13)
_now = time.monotonic_ns


def message_text(key: int, sent_at: int | None = None) -> str:
    """The text of message ``key`` sent at ``sent_at`` (monotonic ns, now if None);
    ValueError for a key of more than KEY_DIGITS digits."""
    if not 0 <= key < 10 ** KEY_DIGITS:
        raise ValueError(f"message key {key} does not fit in {KEY_DIGITS} digits")
    head = f"{key:0{KEY_DIGITS}d}:{_now() if sent_at is None else sent_at}:"
    return head + "x" * max(0, TEXT_CHARS - len(head))


def percentile(ordered: list, fraction: float):
    """Nearest-rank percentile of an already sorted list."""
    if not ordered:
        return 0
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def latency_summary(latencies_ns: Iterable[int]) -> dict:
    ordered = sorted(latencies_ns)
    ms = lambda ns: round(ns / 1e6, 2)  # noqa: E731
    return {
        "latency_p50_ms": ms(percentile(ordered, 0.50)),
        "latency_p99_ms": ms(percentile(ordered, 0.99)),
        "latency_max_ms": ms(ordered[-1] if ordered else 0),
    }


def process_children() -> dict[int, list[int]]:
    """Every process's children: ppid → [pid, …], from /proc."""
    out: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue  # gone meanwhile
            out.setdefault(ppid, []).append(int(entry.name))
    return out


def tree_cpu(root: int, children: dict[int, list[int]], ticks: int) -> float:
    """CPU seconds (user + system, all threads) of ``root`` and its descendants,
    those already reaped included (their time is in their parent's cutime/cstime)."""
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
        todo += children.get(pid, [])
    return total / ticks


class ProcessWatch:
    """Where the CPU went between ``start()`` and ``stop()``, from /proc:

    - ``server_cpu``: the server process's user + system time (all threads),
      with its child processes' (a supervisor's workers), in cores;
    - ``server_cpu_s``: the same in CPU seconds over the whole watch (what the
      report divides by the work done for the cost per unit, µs per delivery…);
    - ``server_core_busy``: how busy the server's pinned core was, kernel
      network work included: a server that hands the kernel big writes uses
      little process time but keeps its core busy in softirq all the same;
    - ``loadgen_cpu``: this process;
    - ``NAME_cpu`` for each of ``also`` (NAME → pid, with its children): the
      servers a cluster stands on (redis, postgres);
    - ``other_cpu``: user + system time of everything else on the machine,
      the noise in this measurement.

    1.0 is one full core. The server at ~1.0 means it was the limit.
    """

    TICKS = os.sysconf("SC_CLK_TCK")

    def __init__(self, pid: int | None, also: dict[str, int] | None = None):
        self.pid = pid
        self.also = also or {}
        self.cores = sorted(os.sched_getaffinity(pid)) if pid else []
        self._t0 = self._self0 = 0.0
        self._trees0: dict[str, float] = {}
        self._cpus0: dict[str, list[int]] = {}
        self._start_time = self._started() if pid else None
        self.result: dict = {}

    def _started(self) -> str | None:
        """The server process's start time (field 22 of /proc/PID/stat), None if it is gone:
        a pid that ends, or comes back as another process, is a server that died."""
        try:
            with open(f"/proc/{self.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return None if fields[0] in ("Z", "X") else fields[19]

    def alive(self) -> bool:
        """False if the server watched (``pid``) has died since ``start()`` (or, before it, since now)."""
        if not self.pid:
            return True
        now = self._started()
        return now is not None and (self._start_time is None or now == self._start_time)

    def rss_kib(self) -> int:
        if not self.pid:
            return 0
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def _trees(self) -> dict[str, float]:
        """CPU seconds so far of the server's process tree ("server") and of each of ``also``."""
        roots = ({"server": self.pid} if self.pid else {}) | self.also
        children = process_children()
        return {name: tree_cpu(pid, children, self.TICKS) for name, pid in roots.items()}

    @staticmethod
    def _cpus() -> dict[str, list[int]]:
        """Per core: user nice system idle iowait irq softirq steal (ticks)."""
        with open("/proc/stat") as f:
            return {line.split()[0]: [int(x) for x in line.split()[1:9]]
                    for line in f if line.startswith("cpu") and not line.startswith("cpu ")}

    @staticmethod
    def _self_cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    def start(self) -> None:
        self._t0, self._trees0, self._self0 = time.monotonic(), self._trees(), self._self_cpu()
        self._cpus0 = self._cpus()

    def stop(self) -> dict:
        wall = max(time.monotonic() - self._t0, 1e-9)
        seconds = {name: cpu - self._trees0.get(name, 0.0) for name, cpu in self._trees().items()}
        server_seconds = seconds.pop("server", 0.0)
        # A server that died meanwhile has no CPU left to read (its figures would come out
        # negative): say so, and let __main__.verdict() fail the measurement.
        gone = not self.alive() or server_seconds < 0
        server_seconds = max(server_seconds, 0.0)
        used = {name: cpu / wall for name, cpu in seconds.items()}
        server = server_seconds / wall
        own = (self._self_cpu() - self._self0) / wall
        delta = {cpu: [b - a for a, b in zip(self._cpus0[cpu], now, strict=True)] for cpu, now in self._cpus().items()}
        user_system = sum(d[0] + d[1] + d[2] for d in delta.values()) / self.TICKS / wall
        core_busy = [sum(d) - d[3] - d[4] for cpu, d in delta.items() if int(cpu[3:]) in self.cores]
        self.result = {
            "server_cpu": round(server, 2),
            "server_cpu_s": round(server_seconds, 3),
            "server_core_busy": round(sum(core_busy) / self.TICKS / wall / len(core_busy), 2) if core_busy else 0,
            "loadgen_cpu": round(own, 2),
            **{f"{name}_cpu": round(cpu, 2) for name, cpu in used.items()},
            "other_cpu": round(max(0.0, user_system - server - own - sum(used.values())), 2),
            "watched_s": round(wall, 3),  # the CPU shares above are over this long: rough below ~0.5 s
            **({"server_gone": True} if gone else {}),
        }
        return self.result


# Figures of a result that, above 0, mean the run went wrong: its headline is not a measurement
# of the server doing the job (refusals, cut-off clients, unanswered requests, a dead server).
FAILED_IF = {
    "server_errors": "error frames from the server (refusals, e.g. rate limits)",
    "refused": "says refused by the server",
    "unacked": "messages never acknowledged",
    "problems": "protocol problems",
    "skipped": "scheduled messages skipped (no member online)",
    "failed": "clients that failed",
}
# Where the scenario checks stored messages, losing or repeating one is a failure too; where it
# follows every message to every receiver (deliveries.py), one overtaking its sender's previous
# message or reaching a client outside its room is one.
_ROUTED = ("out_of_order", "misdelivered")
CHECKED = {"write": ("lost", "duplicated"), "reconnect": ("lost", "duplicated", "out_of_order"),
           "fanout": _ROUTED, "rooms": _ROUTED, "latency": _ROUTED}


def verdict(scenario: str, result: dict) -> dict:
    """``result`` with an ``error`` (kept if it had one) naming everything that went wrong:
    any figure of FAILED_IF above 0, a lost or duplicated stored message or one out of order (CHECKED), a server
    that died, nothing measured. The figures stay in the result, for the record."""
    reasons = [result["error"]] if result.get("error") else []
    if result.get("server_gone"):
        reasons.append("the server process died during the run")
    for key, what in FAILED_IF.items():
        if result.get(key):
            reasons.append(f"{key} {result[key]:,} ({what})")
    for key in CHECKED.get(scenario, ()):
        if result.get(key):
            reasons.append(f"{key} {result[key]:,}")
    if not reasons and "messages_sent" in result and not result["messages_sent"]:
        reasons.append("no message was sent")
    if reasons:
        result["error"] = "; ".join(reasons)
    return result
