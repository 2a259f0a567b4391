"""Turn measurements into the summary: medians per server and case, the
table, chatd's ratios to the peers and its targets from issue 4, the
RESULTS.md file and the chart.
"""

from __future__ import annotations

import statistics
import textwrap
from pathlib import Path

from harness.cases import Case
from harness.targets import Target

# issue 4's targets for chatd: (case, goal text, reference server or None, factor or absolute limit)
GOALS = [
    ("fanout-1000", "fan-out (1,000) ≥ Node Socket.IO", "socketio-node", 1.0),
    ("fanout-1000", "fan-out (1,000) ≥ 0.7 × naive floor", "floor", 0.7),
    ("latency", "latency p99 ≤ 25 ms", None, 25),
    ("idle", "idle ≤ 10 KiB per client", None, 10),
    ("storm", "5,000-client storm ≤ 5 s", None, 5),
    ("write", "≥ 20,000 acked writes/s", None, 20_000),
    ("reconnect", "≥ 50,000 replayed msgs/s", None, 50_000),
]

# issue 13's targets for chatd, in the same form (sizes of the full run: idle at 10,000 clients)
GOALS_13 = [
    ("storm", "5,000-client storm no slower than Node ws", "ws-node", 1.0),
    ("rooms", "500×10 rooms ≥ naive floor", "floor", 1.0),
    ("latency", "latency p99 ≤ Node ws", "ws-node", 1.0),
    ("write", "acked writes/s ≥ 3 × Node Socket.IO + SQLite", "socketio-sqlite", 3.0),
    ("idle", "idle ≤ 5 KiB per client", None, 5),
    ("fanout-1000", "fan-out (1,000) ≥ 3 × Node Socket.IO", "socketio-node", 3.0),
]

# The two C floors: a target measured against one is also shown against the other.
FLOORS = {"floor": "naive floor", "floor-batched": "batched floor"}

# What a case's server CPU is divided by for its cost per unit:
# loadgen scenario → [(field of the loadgen's result counting the work done, the unit's name)]
COST_UNITS = {
    "fanout": [("deliveries", "delivery")],
    "rooms": [("deliveries", "delivery"), ("messages_sent", "message")],
    "latency": [("deliveries", "delivery")],
    "idle": [("clients", "client brought online")],
    "storm": [("clients", "client brought online")],
    "handshakes": [("clients", "handshake")],
    "reconnect": [("replayed", "replayed message")],
    "write": [("acked", "acknowledged message")],
    "community": [("acked", "acknowledged message"), ("deliveries", "delivery")],
    "community-lite": [("acked", "acknowledged message"), ("deliveries", "delivery")],
}


def _ok(records: list[dict], target: str, case: str) -> list[dict]:
    return [r for r in records if r["target"] == target and r["case"] == case and "error" not in r]


def median_of(records: list[dict], target: str, case: str, metric: str) -> float | None:
    values = [r[metric] for r in _ok(records, target, case) if isinstance(r.get(metric), (int, float))]
    return statistics.median(values) if values else None


def medians(records: list[dict], cases: list[Case], targets: list[Target]) -> dict[tuple[str, str], float]:
    out = {}
    for case in cases:
        for target in targets:
            value = median_of(records, target.name, case.name, case.metric)
            if value is not None:
                out[(target.name, case.name)] = value
    return out


def _fmt(value: float | None, digits: int = 0) -> str:
    """``value`` with ``digits`` decimals, but never fewer than two significant digits below 1
    (a storm of 0.39 s against 0.075 s, not 0.4 against 0.1: ratios must agree with the figures)."""
    if value is None:
        return "—"
    if digits and 0 < abs(value) < 10 ** (1 - digits):
        return f"{value:.2g}"
    return f"{value:,.{digits}f}"


def _cost(value: float | None) -> str:
    """A cost per unit (µs), the same in every table."""
    return _fmt(value, 2 if value is not None and value < 10 else 1)


FAILED = "✗"  # marks a measurement that went wrong: its figure is left out of every median, ratio and cost


def failed_runs(records: list[dict]) -> list[dict]:
    return [r for r in records if "error" in r]


def failure_lines(records: list[dict]) -> list[str]:
    """One line per failed measurement, with why (the load generator's error: refusals, unacked, a
    dead server…), and the figures that show it."""
    lines = []
    for r in failed_runs(records):
        seen = [f"{k} {r[k]:,}" for k in ("server_errors", "refused", "unacked", "failed", "problems", "skipped",
                                           "lost", "duplicated", "out_of_order", "misdelivered", "unverified")
                if isinstance(r.get(k), int) and r[k] and f"{k} " not in r["error"]]
        lines.append(f"- {FAILED} {r['target']} {r['case']} run {r['rep']}: {r['error']}"
                     + (f" [{', '.join(seen)}]" if seen else ""))
    return lines


def _cell(records, target: Target, case: Case) -> str:
    if (case.persistent_only and not target.persistent) or (case.chatd_only and target.needs != "chatd"):
        return "n/a"
    runs = [r for r in records if r["target"] == target.name and r["case"] == case.name]
    if not runs:
        return "—"
    failed = sum(1 for r in runs if "error" in r)
    if failed == len(runs):
        return f"{FAILED} failed"
    if case.name == "latency":
        p50, p99, mx = (median_of(records, target.name, case.name, m)
                        for m in ("latency_p50_ms", "latency_p99_ms", "latency_max_ms"))
        text = f"{_fmt(p50, 1)} / {_fmt(p99, 1)} / {_fmt(mx, 1)}"
    else:
        value = median_of(records, target.name, case.name, case.metric)
        digits = 1 if case.unit.startswith(("KiB", "s")) else 0
        text = _fmt(value, digits)
    return text + (f" ({FAILED} {failed}/{len(runs)} failed)" if failed else "")


# Figures summed over a server's runs beside lost / dup, when not 0: what the server refused or
# left unanswered, and clients it cut off (each also fails its run: "Failed runs").
TROUBLE = [("server_errors", "server errors"), ("refused", "refused"), ("unacked", "unacked"),
           ("failed", "clients failed"), ("problems", "problems"), ("skipped", "skipped"),
           ("out_of_order", "out of order"), ("misdelivered", "misdelivered")]


def _integrity(records: list[dict], target: str) -> str:
    runs = [r for r in records if r["target"] == target]
    lost = sum(r.get("lost", 0) for r in runs)
    dup = sum(r.get("duplicated", 0) for r in runs)
    text = f"{lost:,} / {dup:,}"
    trouble = [f"{total:,} {what}" for key, what in TROUBLE
               if (total := sum(r.get(key, 0) for r in runs if isinstance(r.get(key), int)))]
    return text + (f"; {', '.join(trouble)}" if trouble else "")


def main_table(records: list[dict], cases: list[Case], targets: list[Target]) -> str:
    """Medians of the runs that did not fail; a case whose every run failed is "✗ failed" (the
    reasons: failure_lines())."""
    header = ["server", *[_column_title(c) for c in cases], "lost / dup (all runs); refused, unacked, failed"]
    rows = [[t.label, *[_cell(records, t, c) for c in cases], _integrity(records, t.name)] for t in targets]
    return _markdown(header, rows)


def _column_title(case: Case) -> str:
    return _short_title(case) + (f" [{case.size_label}]" if case.quick else "")


def _short_title(case: Case) -> str:
    short = {
        "fanout-100": "fan-out 100 (deliv/s)", "fanout-1000": "fan-out 1,000 (deliv/s)",
        "rooms": "500×10 rooms (deliv/s)", "latency": "latency p50 / p99 / max (ms)",
        "idle": "idle (KiB/client)", "storm": "storm (s)", "handshakes": "handshakes (s)",
        "reconnect": "resume (replayed/s)", "write": "writes (acked/s)",
        "community": "community (µs CPU/msg)", "community-lite": "community-lite (µs CPU/msg)",
    }
    return short.get(case.name, case.name)


def community_section(records: list[dict], cases: list[Case], targets: list[Target]) -> list[str]:
    """The community cases (loadgen/community.py) in full: medians per server, lost / duplicated /
    out of order summed over all runs; [] when none was run."""
    chosen = [c for c in cases if c.scenario.startswith("community")]
    rows = []
    for case in chosen:
        for t in targets:
            runs = _ok(records, t.name, case.name)
            every = [r for r in records if r["target"] == t.name and r["case"] == case.name]
            if every and not runs:  # all failed: a row says so (the reasons are under the main table)
                bad = [sum(r.get(k, 0) for r in every) for k in ("lost", "duplicated", "out_of_order")]
                rows.append([case.name + (f" [{case.size_label}]" if case.quick else ""), t.label, f"{FAILED} failed",
                             "—", "—", " / ".join(f"{n:,}" for n in bad), *["—"] * 7])
                continue
            if not runs:
                continue
            med = {m: median_of(records, t.name, case.name, m) for m in (
                "messages_sent", "seconds", "deliveries_per_s", "latency_p50_ms", "latency_p99_ms", "latency_max_ms",
                "replayed", "resume_p99_ms", "history_p99_ms", "server_cpu", "server_core_busy",
                "setup_s")}
            bad = [sum(r.get(k, 0) for r in runs) for k in ("lost", "duplicated", "out_of_order")]
            rows.append([case.name + (f" [{case.size_label}]" if case.quick else ""), t.label,
                         _fmt(med["messages_sent"]), _fmt(med["deliveries_per_s"]),
                         " / ".join(_fmt(med[k], 1) for k in ("latency_p50_ms", "latency_p99_ms", "latency_max_ms")),
                         " / ".join(f"{n:,}" for n in bad), _fmt(med["replayed"]),
                         _fmt(med["resume_p99_ms"], 0), _fmt(med["history_p99_ms"], 1) if case.chatd_only else "n/a",
                         f"{_fmt(med['server_cpu'], 2)} / {_fmt(med['server_core_busy'], 2)}",
                         _cost(cost_of(records, t.name, case, "acked")),
                         _cost(cost_of(records, t.name, case, "deliveries")),
                         _fmt(med["setup_s"], 0)])
    if not rows:
        return []
    header = ["case", "server", "messages", "deliveries/s", "latency p50 / p99 / max (ms)",
              "lost / dup / out of order (all runs)", "replayed on resume", "reconnect p99 (ms)",
              "history page p99 (ms)", "server CPU / its core busy (noise indicator)", "µs server CPU per message",
              "µs server CPU per delivery", "set-up (s)"]
    return ["## Community", "",
            "A community that looks like real use (README, \"The cases\"): the same users, rooms and schedule "
            "for every server. `community` is chatd's whole protocol (private messages, history pages, "
            "resume with `since`); `community-lite` the subset every peer speaks (rooms, moves and reconnects as "
            "new sessions). CPU is the server's over the measured phase (traffic, churn and the end of the "
            "deliveries) divided by the messages acknowledged and by the deliveries; latency counts live "
            "deliveries only.", "", _markdown(header, rows), ""]


SATURATED = 0.85  # a process using this share of a core or more was (near) the limit


def cpu_table(records: list[dict], cases: list[Case], targets: list[Target]) -> str:
    """Was the server the one saturated? Deliveries per CPU-second of the server's own
    processes (all threads; a cluster's workers, Redis and PostgreSQL not counted) compares
    servers even where the load generator was the limit. Its pinned core's busy share is shown
    only as a noise indicator: it also counts any other process the machine ran on that core
    (taskset pins the bench's processes, not the others')."""
    header = ["case", "server", "deliveries/s", "server process CPU", "load generator CPU",
              "other processes", "deliveries per server CPU-second", "server core busy (noise indicator)"]
    rows = []
    for case in cases:
        if case.metric != "deliveries_per_s":
            continue
        for t in targets:
            rate, proc, busy, lg, other = (median_of(records, t.name, case.name, m) for m in (
                "deliveries_per_s", "server_cpu", "server_core_busy", "loadgen_cpu", "other_cpu"))
            if rate is None:
                continue
            flag = " ⚠" if (lg or 0) >= SATURATED and (proc or 0) < SATURATED else ""
            rows.append([case.name, t.label, _fmt(rate), _fmt(proc, 2), _fmt(lg, 2) + flag,
                         _fmt(other, 2), _fmt(rate / proc if proc else None), _fmt(busy, 2)])
    return _markdown(header, rows)


def cost_of(records: list[dict], target: str, case: Case, count_field: str) -> float | None:
    """µs of server CPU per unit of work: server CPU seconds while measuring ÷ the units done
    meanwhile × 1e6, per run; the median of the runs (None if no run has both figures)."""
    costs = [r["server_cpu_s"] / r[count_field] * 1e6 for r in _ok(records, target, case.name)
             if isinstance(r.get("server_cpu_s"), (int, float)) and r.get(count_field)]
    return statistics.median(costs) if costs else None


def cost_table(records: list[dict], cases: list[Case], targets: list[Target]) -> str:
    """Per case and unit (delivery, message, client, …), each server's µs of CPU per unit; "" if none."""
    shown = [t for t in targets if any(r["target"] == t.name for r in records)]
    failed = {(r["target"], r["case"]) for r in failed_runs(records)} - {
        (r["target"], r["case"]) for r in records if "error" not in r}  # every run failed: ✗
    header = ["case", "µs of server CPU per", *[t.label for t in shown]]
    rows = []
    for case in cases:
        for field, unit in COST_UNITS.get(case.scenario, []):
            costs = [cost_of(records, t.name, case, field) for t in shown]
            if any(c is not None for c in costs) or any((t.name, case.name) in failed for t in shown):
                rows.append([case.name, unit, *[FAILED if c is None and (t.name, case.name) in failed else _cost(c)
                                                for c, t in zip(costs, shown, strict=True)]])
    return _markdown(header, rows) if rows else ""


def spread_table(records: list[dict], cases: list[Case], targets: list[Target]) -> str:
    header = ["case", "server", "median", "min", "max", "runs ok"]
    rows = []
    for case in cases:
        for t in targets:
            values = [r[case.metric] for r in _ok(records, t.name, case.name) if case.metric in r]
            runs = [r for r in records if r["target"] == t.name and r["case"] == case.name]
            if runs:
                d = 1 if case.unit.startswith(("KiB", "s", "ms")) else 0
                rows.append([case.name, t.label, _fmt(statistics.median(values) if values else None, d),
                             _fmt(min(values) if values else None, d), _fmt(max(values) if values else None, d),
                             f"{len(values)}/{len(runs)}"])
    return _markdown(header, rows)


def ratio_lines(m: dict, cases: list[Case], targets: list[Target], records: list[dict] | None = None) -> list[str]:
    """chatd's figure divided by each peer's, same run; > 1 means chatd is better. Failed runs are
    left out (a server whose runs all failed gets "✗ failed", no ratio)."""
    failed = {(r["target"], r["case"]) for r in failed_runs(records or [])}
    lines = []
    for case in cases:
        mine = m.get(("chatd", case.name))
        if mine is None:
            if ("chatd", case.name) in failed:
                lines.append(f"- {case.name}: chatd {FAILED} failed, no ratio")
            continue
        parts = []
        for t in targets:
            theirs = m.get((t.name, case.name))
            if t.name != "chatd" and theirs is None and (t.name, case.name) in failed:
                parts.append(f"{t.label} {FAILED} failed")
            if t.name == "chatd" or theirs is None or not theirs or not mine:
                continue
            ratio = mine / theirs if case.higher_is_better else theirs / mine
            parts.append(f"{t.label} {ratio:.2f}×")
        if parts:
            lines.append(f"- {case.name}: " + ", ".join(parts))
    return lines


def goal_limit(m: dict, reference: str | None, number: float, case_name: str) -> float | None:
    """The figure chatd must reach: absolute, or a multiple of a peer's (None if that peer was not measured)."""
    if reference is None:
        return number
    theirs = m.get((reference, case_name))
    return number * theirs if theirs is not None else None


FULL_SIZE_ONLY = "targets are scored on full-size runs only (this run used --quick's small sizes)"


def goal_lines(m: dict, cases: list[Case], goals: list[tuple] = GOALS, records: list[dict] | None = None
               ) -> list[str]:
    """One checkbox line per goal; a goal set against one C floor also says where chatd stands
    against the other (the same factor), unchecked: it is information, not the goal. A goal whose
    case was not run is "– not measured"; one whose runs all failed "✗ failed"; none is scored on
    --quick sizes."""
    if any(c.quick for c in cases):
        return [f"- {FULL_SIZE_ONLY}"]
    by_name = {c.name: c for c in cases}
    failed = {(r["target"], r["case"]) for r in failed_runs(records or [])}
    lines = []
    for case_name, text, reference, number in goals:
        case = by_name.get(case_name)
        value = m.get(("chatd", case_name))
        if case is None or value is None:
            lines.append(f"- {FAILED} {text}: failed (see the failed runs)" if ("chatd", case_name) in failed
                         else f"- – {text}: not measured")
            continue
        limit = goal_limit(m, reference, number, case_name)
        if limit is None:
            why = "failed" if (reference, case_name) in failed else "not measured"
            lines.append(f"- – {text}: {_fmt(value, 1)}, {reference} {why}")
            continue
        sign = "≥" if case.higher_is_better else "≤"
        met = value >= limit if case.higher_is_better else value <= limit
        other = [f"; {number:g} × {label}: {sign} {_fmt(other_limit, 1)}, "
                 + ("met" if (value >= other_limit if case.higher_is_better else value <= other_limit) else "not met")
                 for floor, label in FLOORS.items() if reference in FLOORS and floor != reference
                 and (other_limit := goal_limit(m, floor, number, case_name)) is not None]
        lines.append(f"- [{'x' if met else ' '}] {text}: {_fmt(value, 1)} (needs {sign} {_fmt(limit, 1)}"
                     f"{''.join(other)})")
    return lines


def _markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


# RESULTS.md may end with sections measured by hand (bench/churn.py) from this line
# on; a full run rewrites everything above it and keeps them.
BY_HAND = "<!-- Measured by hand from here on: bench/run.py keeps these sections. -->"


def _by_hand(path: Path) -> list[str]:
    """The hand-measured tail of an existing RESULTS.md (from ``BY_HAND`` on), if any."""
    text = path.read_text() if path.exists() else ""
    at = text.find(BY_HAND)
    return [text[at:].rstrip("\n"), ""] if at >= 0 else []


def write_markdown(path: Path, records, cases, targets, machine: dict, date: str, command: str,
                   chart_name: str | None, repeats: int) -> None:
    m = medians(records, cases, targets)
    parts = [
        "# chatd benchmark results",
        "",
        f"Measured {date} with `{command}`: every figure is the median of {repeats} run(s), each on a fresh "
        "server process pinned to core 0 with the load generator pinned to core 1. "
        "See [README.md](README.md) for what each scenario does.",
        "",
        *([f"**A --quick run**: small sizes, given in each column's title, not those of the case titles; "
           f"{FULL_SIZE_ONLY}.", ""] if any(c.quick for c in cases) else []),
        "## Machine",
        "",
        *[f"- {k}: {v}" for k, v in machine.items()],
        "",
        "## Results",
        "",
        main_table(records, cases, targets),
        "",
    ]
    if failed_runs(records):
        parts += [f"{FAILED} Failed runs, left out of every median, ratio, target and cost below:", "",
                  *failure_lines(records), ""]
    if chart_name:
        parts += [f"![chart]({chart_name})", ""]
    if ("chatd", "fanout-1000") in m or any(t.name == "chatd" for t in targets):
        parts += ["## chatd against issue 4's targets", "", *goal_lines(m, cases, GOALS, records), "",
                  "## chatd against issue 13's targets", "", *goal_lines(m, cases, GOALS_13, records), "",
                  "## chatd ÷ peer (same run; > 1 means chatd does better)", ""]
        if any(t.name in FLOORS for t in targets):
            parts += ["Both C floors are peers here: the naive one (one `send()` per delivery) and the batched one "
                      "(one `send()` per connection per loop pass, as chatd writes).", ""]
        parts += [*ratio_lines(m, cases, targets, records), ""]
    parts += [
        "## Who was saturated",
        "",
        "Throughput cases, medians while measuring (1.0 = one full core). \"server process CPU\" is the server's "
        "own processes (all threads), from /proc. ⚠ marks where the load generator, not the server, was the "
        "limit (load generator ≥ 0.85, server process < 0.85): there \"deliveries per server CPU-second\" "
        "(deliveries/s ÷ server process CPU) compares servers better than deliveries/s. \"other processes\" "
        "is CPU used by anything else on the machine; \"server core busy\" counts everything that ran on the "
        "server's pinned core (the kernel's network work, and other processes of the machine: taskset pins "
        "only the bench's own): both are noise indicators, not the server's cost.",
        "",
        cpu_table(records, cases, targets),
        "",
    ]
    costs = cost_table(records, cases, targets)
    if costs:
        parts += [
            "## chatd cost per unit, and every server's: µs of server CPU",
            "",
            "The server's CPU seconds while measuring (its process and threads, with a cluster's workers) ÷ the work "
            "done meanwhile (deliveries, messages sent, clients brought online, messages replayed or acknowledged) × "
            "10⁶, the median of the runs. A busy machine lowers throughput more than it raises this: judge a change "
            "to chatd by its cost here. Idle: the CPU of bringing its clients online, not of idling.",
            "",
            costs,
            "",
        ]
    parts += [
        "## Spread between runs",
        "",
        spread_table(records, cases, targets),
        "",
    ]
    parts += community_section(records, cases, targets)
    path.write_text("\n".join(parts + _by_hand(path)))


TITLE_CHARS = 60  # a panel title's line, in characters


def _tick(x: float, _) -> str:
    """An x tick label, short: 450k, not 450,000 (five of those run together in a panel)."""
    if x >= 1000:
        return f"{x / 1000:,.3g}k"
    return f"{x:,.0f}" if x >= 10 else f"{x:g}"


def write_chart(path: Path, records, cases, targets) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    m = medians(records, cases, targets)
    shown = [c for c in cases if any((t.name, c.name) in m for t in targets)]
    cols = 2
    rows = (len(shown) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(13, 3.0 * rows + 0.6), squeeze=False)  # height: see tight_layout
    for ax, case in zip(axes.flat, shown, strict=False):
        names = [t for t in targets if (t.name, case.name) in m]
        values = [m[(t.name, case.name)] for t in names]
        colours = ["#d62728" if t.name == "chatd" else "#7f7f7f" if t.name in FLOORS else "#1f77b4" for t in names]
        ax.barh([t.label for t in names], values, color=colours, height=0.6 if len(names) > 1 else 0.3)
        ax.invert_yaxis()
        if len(names) == 1:
            ax.set_ylim(1.2, -1.2)  # one slim bar, not one filling the panel
        better = "higher is better" if case.higher_is_better else "lower is better"
        sub = f"{case.unit}, {better}" + (f"; {case.size_label}" if case.quick else "")
        # the long (8) titles and the quick sizes would run into the next panel: wrapped
        ax.set_title("\n".join(textwrap.wrap(case.title, TITLE_CHARS) + textwrap.wrap(sub, TITLE_CHARS)), fontsize=9)
        ax.tick_params(labelsize=8)
        for y, v in enumerate(values):
            ax.text(v, y, f" {v:,.0f}" if v >= 100 else f" {_fmt(v, 1)}", va="center", fontsize=7)
        limits = [] if case.quick else [goal_limit(m, ref, n, case.name) for name, _, ref, n in GOALS
                                        if name == case.name]
        limits = [x for x in limits if x is not None]
        for limit in limits:
            ax.axvline(limit, color="#d62728", linestyle="--", linewidth=1)
        ax.set_xlim(0, max(values + limits) * 1.25 if values else 1)
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(nbins=4))  # wide figures need room
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(_tick))
    for ax in list(axes.flat)[len(shown):]:
        ax.axis("off")
    quick = "; small --quick sizes, given in each panel; no targets" if any(c.quick for c in shown) else \
        "; dashed: issue 4's target for chatd"
    fig.suptitle(f"chatd and its peers, one core each (median of runs that did not fail{quick})", fontsize=11)
    height = 3.0 * rows + 0.6
    fig.tight_layout(h_pad=1.5, w_pad=2.0, rect=(0, 0, 1, 1 - 0.45 / height))  # the suptitle's own band
    fig.savefig(path, dpi=110)
    plt.close(fig)
