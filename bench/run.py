#!/usr/bin/env python3
"""chatd's benchmark: one command sets bench/ up and runs everything.

    python3 bench/run.py                          # full run: all servers, all cases, 3 repeats
    python3 bench/run.py --quick                  # small sizes, 1 repeat: checks the harness
    python3 bench/run.py --targets chatd,socketio-node --cases fanout-1000 --repeat 1
    python3 bench/run.py --list                   # the servers and cases there are
    python3 bench/run.py --targets chatd --cases fanout-1000,rooms --workers 1,2 --store sqlite,postgres
    python3 bench/run.py --targets chatd,baseline --baseline-cmd /tmp/old/bin/chatd   # against another chatd

The full default run writes bench/RESULTS.md and bench/results.png; any
other run writes them to bench/out/ (with raw results and server logs).
See bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from harness import setup_env  # noqa: E402  (stdlib only: works before the virtualenv exists)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--targets", help="comma-separated servers (default: all that are installed)")
    p.add_argument("--cases", help="comma-separated cases (default: all)")
    p.add_argument("--repeat", type=int, help="runs of each measurement; the median is reported (default 3)")
    p.add_argument("--quick", action="store_true", help="small sizes and 1 repeat: a smoke test of the harness")
    p.add_argument("--chatd-cmd", help="how to run chatd, e.g. 'chatd' or '/path/venv/bin/chatd' "
                                       "(default: bench/.venv/bin/chatd, installed from this repository)")
    p.add_argument("--workers", help="comma-separated worker counts, e.g. 1,2: chatd runs as a cluster on this "
                                     "machine (workers: N, a Redis bus the bench starts), unpinned")
    p.add_argument("--store", help="comma-separated chatd stores: sqlite (default), postgres (a PostgreSQL "
                                   "cluster the bench starts); with --workers, every combination")
    p.add_argument("--baseline-cmd", help="another chatd to measure in the same run, as the target 'baseline' "
                                          "(e.g. an older commit's install), in the same deployments as chatd")
    p.add_argument("--server-core", type=int, default=0)
    p.add_argument("--loadgen-core", type=int, default=1)
    p.add_argument("--setup-only", action="store_true", help="install everything, run nothing")
    p.add_argument("--list", action="store_true", help="list servers and cases")
    p.add_argument("--print-config", nargs=2, metavar=("PORT", "DIR"),
                   help="print the chatd config a run uses (listening on PORT, its files in DIR), for running "
                        "a scenario by hand, and exit")
    return p.parse_args()


def in_venv() -> bool:
    return Path(sys.prefix).resolve() == setup_env.VENV.resolve()


def raise_fd_limit() -> None:
    """10,000 clients need 10,000 descriptors in the server, which inherits this limit."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(hard, 65536), max(hard, 65536)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def pick(names: str | None, items: list, what: str) -> list:
    """The items named, in that order; a name also picks its family: ``chatd`` every
    chatd deployment (``chatd-w2-pg``…), ``baseline`` every baseline one."""
    if not names:
        return items
    chosen = {n: [item for item in items if item.name == n or item.name.startswith(n + "-w")
                  or item.name in (n + "-pg", n + "-sqlite")] for n in names.split(",")}
    unknown = [n for n, found in chosen.items() if not found]
    if unknown:
        sys.exit(f"unknown {what}: {', '.join(unknown)} (choose from {', '.join(item.name for item in items)})")
    return [item for found in chosen.values() for item in found]


def main() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036  (run.py may be started by any python3)
        sys.exit("bench needs Python 3.11 or newer, as chatd does")
    args = parse_args()
    if args.print_config:
        from harness.targets import chatd_config_text  # stdlib only, like setup_env

        port, where = args.print_config
        sys.stdout.write(chatd_config_text(int(port), Path(where).resolve()))
        return
    if not in_venv():
        available = setup_env.ensure()
        if args.setup_only:
            print(f"bench is set up: {available}")
            return
        # Everything below needs the virtualenv (matplotlib); run again inside it.
        os.environ["CHATD_BENCH_AVAILABLE"] = ",".join(k for k, v in available.items() if v)
        os.execv(str(setup_env.VENV_PYTHON), [str(setup_env.VENV_PYTHON), __file__, *sys.argv[1:]])
    run(args, set(os.environ.get("CHATD_BENCH_AVAILABLE", "chatd,node,floor").split(",")))


def run(args: argparse.Namespace, available: set[str]) -> None:
    from harness import machine, report
    from harness.cases import all_cases
    from harness.runner import Pinning, run_all
    from harness.targets import STORES, all_targets, default_chatd, deployments

    available |= {"python"}
    if args.chatd_cmd:
        available.add("chatd")
    stores = args.store.split(",") if args.store else None
    if stores and not set(stores) <= set(STORES):
        sys.exit(f"unknown store in --store {args.store} (choose from {', '.join(STORES)})")
    try:
        workers = [int(n) for n in args.workers.split(",")] if args.workers else None
    except ValueError:
        sys.exit(f"--workers takes worker counts like 1,2, not {args.workers!r}")
    if workers and min(workers) < 1:
        sys.exit("--workers: a worker count is 1 or more")
    targets_all = all_targets(args.chatd_cmd, deployments(workers, stores), args.baseline_cmd)
    cases_all = all_cases(args.quick)
    if args.list:
        for t in targets_all:
            print(f"server {t.name:<16} {t.label}{'' if t.needs in available else '  (not installed)'}")
        for c in cases_all:
            print(f"case   {c.name:<16} {c.title}{'  (servers that store messages)' if c.persistent_only else ''}")
        return
    targets = pick(args.targets, [t for t in targets_all if t.needs in available or args.targets], "targets")
    cases = pick(args.cases, cases_all, "cases")
    repeats = args.repeat or (1 if args.quick else 3)
    full = not (args.targets or args.cases or args.quick or args.repeat or args.workers or args.store
                or args.baseline_cmd)
    skipped = [t.name for t in targets_all if t not in targets and not args.targets]
    if skipped:
        print(f"not installed, skipped: {', '.join(skipped)}", file=sys.stderr)
    if os.cpu_count() < 2 or max(args.server_core, args.loadgen_core) >= os.cpu_count():
        sys.exit("bench pins the server and the load generator to different cores: it needs 2 cores")

    raise_fd_limit()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = setup_env.BENCH / "out"
    started = time.monotonic()
    records = run_all(targets, cases, repeats, Pinning(args.server_core, args.loadgen_core),
                      out / "logs" / stamp, out / f"results-{stamp}.jsonl")
    minutes = (time.monotonic() - started) / 60

    # The full run replaces the published figures; a partial one writes its own dated files in
    # bench/out/, with bench/out/RESULTS.md and results.png pointing at the latest of them.
    dest = setup_env.BENCH if full else out
    markdown = dest / ("RESULTS.md" if full else f"RESULTS-{stamp}.md")
    chart = dest / ("results.png" if full else f"results-{stamp}.png")
    chatd_argv = args.chatd_cmd.split() if args.chatd_cmd else default_chatd()
    command = "python3 bench/run.py " + " ".join(sys.argv[1:])
    report.write_chart(chart, records, cases, targets)
    report.write_markdown(markdown, records, cases, targets, machine.describe(chatd_argv),
                          time.strftime("%Y-%m-%d %H:%M %Z"), command.strip(), chart.name, repeats)
    if not full:
        for latest, made in ((out / "RESULTS.md", markdown), (out / "results.png", chart)):
            latest.unlink(missing_ok=True)
            latest.symlink_to(made.name)
    print()
    print(report.main_table(records, cases, targets))
    failures = report.failure_lines(records)
    if failures:
        print(f"\n{report.FAILED} failed runs, left out of every median, ratio, target and cost:")
        print("\n".join(failures))
    m = report.medians(records, cases, targets)
    if any(t.name == "chatd" for t in targets):
        print("\nchatd ÷ the others (same run):")
        print("\n".join(report.ratio_lines(m, cases, targets, records) or ["- no peer measured"]))
        print("\nchatd against issue 4's targets:")
        print("\n".join(report.goal_lines(m, cases, report.GOALS, records)))
        print("\nchatd against issue 13's targets:")
        print("\n".join(report.goal_lines(m, cases, report.GOALS_13, records)))
    costs = report.cost_table(records, cases, targets)
    if costs:
        print("\nµs of server CPU per unit (median of runs):")
        print(costs)
    print(f"\n{len(records)} measurements in {minutes:.1f} min; wrote {markdown} and {chart}")


if __name__ == "__main__":
    main()
