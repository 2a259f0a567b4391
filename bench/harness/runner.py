"""Run the matrix: repeats x cases x targets, each measurement a fresh
server pinned to one core and the load generator pinned to the other.

The order interleaves targets inside each case and repeats the whole
sweep, so a slow drift of the machine (heat, page cache) spreads over all
targets instead of landing on whichever ran last.

A cluster deployment (targets.Deployment) runs unpinned, the load generator
too; the run starts one PostgreSQL cluster if any target needs it.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from harness.cases import Case
from harness.server import RunningServer, ServerFailed
from harness.services import PostgresCluster, ServiceFailed
from harness.setup_env import BENCH, VENV_PYTHON
from harness.targets import Target


@dataclass(frozen=True)
class Pinning:
    server_core: int = 0
    loadgen_core: int = 1


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run_loadgen(case: Case, server: RunningServer, pinning: Pinning) -> dict:
    pin = ["taskset", "-c", str(pinning.loadgen_core)] if server.target.pinned else []
    also = [arg for name, pid in server.services_pids.items() for arg in ("--also-pid", f"{name}={pid}")]
    argv = [*pin, str(VENV_PYTHON), "-m", "loadgen", case.scenario,
            "--url", server.url, "--flavour", server.target.flavour, "--server-pid", str(server.pid), *also,
            "--time-limit", str(case.time_limit), *case.args]
    try:
        done = subprocess.run(argv, cwd=BENCH, capture_output=True, text=True, timeout=case.time_limit + 30)
    except subprocess.TimeoutExpired:
        return {"error": "load generator overran its time limit"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        return {"error": f"load generator exited {done.returncode}: {done.stderr.strip()[-300:]}"}
    return json.loads(lines[-1])


def measure(target: Target, case: Case, rep: int, pinning: Pinning, logs: Path,
            postgres: PostgresCluster | None = None) -> dict:
    started = time.monotonic()
    record = {"target": target.name, "case": case.name, "rep": rep}
    server = RunningServer(target, pinning.server_core, logs / f"{target.name}-{case.name}-{rep}.log",
                           postgres=postgres)
    try:
        with server:
            result = run_loadgen(case, server, pinning)
            if server.proc.poll() is not None:
                died = f"server died: {server.log_tail()}"
                result["error"] = f"{result['error']}; {died}" if result.get("error") else died
    except (ServerFailed, ServiceFailed) as e:
        result = {"error": str(e)}
    record.update(result)
    record["wall_s"] = round(time.monotonic() - started, 1)
    return record


def describe(case: Case, record: dict) -> str:
    if "error" in record:  # a failed measurement: its figure is not one (report.py leaves it out)
        return f"✗ FAILED: {record['error']}"
    value = record.get(case.metric)
    text = f"{value:,} {case.unit}" if isinstance(value, (int, float)) else "?"
    extras = [f"{k} {record[k]}" for k in ("lost", "duplicated", "failed") if record.get(k)]
    if "server_cpu" in record:
        extras.append(f"cpu: server {record['server_cpu']} (its core busy {record['server_core_busy']}), "
                      f"loadgen {record['loadgen_cpu']}")
    services = [f"{name} {record[name + '_cpu']}" for name in ("redis", "postgres") if name + "_cpu" in record]
    if services:
        extras.append("cpu: " + ", ".join(services))
    if case.scenario.startswith("community"):
        extras.append(f"latency p50/p99 {record.get('latency_p50_ms')}/{record.get('latency_p99_ms')} ms, "
                      f"{record.get('deliveries', 0):,} deliveries")
    if record.get("other_cpu", 0) >= NOISY:
        extras.append(f"other processes {record['other_cpu']}")
    return text + (f"  ({', '.join(extras)})" if extras else "")


NOISY = 0.3  # cores used by other processes during a measurement that make it worth repeating


def measure_quietly(target: Target, case: Case, rep: int, pinning: Pinning, logs: Path, budget: list[int],
                    postgres: PostgresCluster | None = None) -> dict:
    """Measure; if other processes took a good share of the machine meanwhile,
    measure once more and keep the quieter run (within a retry budget)."""
    record = measure(target, case, rep, pinning, logs, postgres)
    if record.get("other_cpu", 0) >= NOISY and budget[0] > 0:
        budget[0] -= 1
        _say(f"      {case.name} {target.name}: other processes used {record['other_cpu']} cores, measuring again")
        again = measure(target, case, rep, pinning, logs, postgres)
        if again.get("other_cpu", 0) < record["other_cpu"] and "error" not in again:
            record = again
        record["retried"] = True
    return record


def runs_on(case: Case, target: Target) -> bool:
    """Whether ``case`` is measured on ``target`` (a store, chatd's whole protocol)."""
    return not (case.persistent_only and not target.persistent) and not (case.chatd_only and target.needs != "chatd")


def run_all(targets: list[Target], cases: list[Case], repeats: int, pinning: Pinning, logs: Path,
            results_file: Path) -> list[dict]:
    """Every measurement, appended to ``results_file`` as it completes (JSON lines),
    so an interrupted run keeps what it measured."""
    records: list[dict] = []
    results_file.parent.mkdir(parents=True, exist_ok=True)
    planned = sum(1 for case in cases for target in targets if runs_on(case, target)) * repeats
    retries = [planned // 8]  # at most one measurement in eight is repeated: a busy machine must not double the run
    needs_postgres = any(t.deployment.store == "postgres" for t in targets)
    with PostgresCluster() if needs_postgres else contextlib.nullcontext() as postgres:
        for rep in range(1, repeats + 1):
            for case in cases:
                for target in targets:
                    if not runs_on(case, target):
                        continue
                    record = measure_quietly(target, case, rep, pinning, logs, retries, postgres)
                    records.append(record)
                    with open(results_file, "a") as f:
                        f.write(json.dumps(record) + "\n")
                    _say(f"[{rep}/{repeats}] {case.name:<12} {target.name:<16} {describe(case, record)}"
                         f"  [{record['wall_s']} s]")
    return records
