"""What was acknowledged survives `kill -9` in the middle of a burst, and
comes back as history after a restart. Runs chatd as a real process."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from websockets.exceptions import ConnectionClosed

from tests.wsclient import ChatClient


def start_chatd(tmp_path: Path) -> tuple[subprocess.Popen, str]:
    """``chatd start`` in the foreground on a free port (port 0: no race for a
    port picked beforehand); → (process, WebSocket URL) once it serves."""
    config = tmp_path / "chatd.yaml"
    config.write_text(
        'listen: "127.0.0.1:0"\ndatabase: chatd.db\nlogfile: ""\n'
        "limits: {rate_per_second: 100000, rate_burst: 100000, user_rate_per_second: 100000, user_rate_burst: 100000}\n"
        "address: {rate_per_second: 100000, rate_burst: 100000}\n"  # eight senders, one address
    )
    with open(tmp_path / "stderr.log", "ab") as log:  # the child keeps its own copy of the fd
        proc = subprocess.Popen([sys.executable, "-m", "chatd", "start", "-c", str(config)],
                                stdout=subprocess.PIPE, stderr=log, text=True)
    banner = proc.stdout.readline()  # printed once serving; empty if it exited
    address = re.search(r" on http://(\S+)/ ", banner)
    if address is None:
        stop(proc, signal.SIGKILL)
        raise RuntimeError((tmp_path / "stderr.log").read_text())
    return proc, f"ws://{address[1]}/ws"


def stop(proc: subprocess.Popen, sig: int) -> None:
    """Send ``sig``, reap the process, close the pipe that carried its banner."""
    proc.send_signal(sig)
    proc.wait(10)
    proc.stdout.close()


async def sender(url: str, name: str, acked: dict[str, int], started: asyncio.Event) -> None:
    """Send numbered messages as fast as acks come back, until the server dies."""
    client = await ChatClient.connect(url)
    try:
        await client.identify(name=name)
        await client.request("join", room="lobby")
        i = 0
        while True:
            cid = f"{name}-{i}"
            answer = await client.request("say", room="lobby", text=cid, cid=cid)
            assert answer["type"] == "ack", answer
            acked[cid] = answer["id"]
            i += 1
            if len(acked) >= 200:
                started.set()
    except (ConnectionClosed, OSError):
        return
    finally:
        await client.close()


async def test_acked_messages_survive_sigkill_and_reappear_as_history(tmp_path):
    proc, url = start_chatd(tmp_path)
    acked: dict[str, int] = {}
    started = asyncio.Event()
    try:
        senders = [asyncio.create_task(sender(url, f"s{n}", acked, started)) for n in range(8)]
        async with asyncio.timeout(20):
            await started.wait()
        os.kill(proc.pid, signal.SIGKILL)  # mid-burst: 8 senders in flight
        async with asyncio.timeout(20):
            await asyncio.gather(*senders)
    finally:
        stop(proc, signal.SIGKILL)
    assert len(acked) >= 200

    with sqlite3.connect(tmp_path / "chatd.db") as db:
        stored = dict(db.execute("SELECT cid, id FROM message"))
    missing = {cid for cid, mid in acked.items() if stored.get(cid) != mid}
    assert not missing, f"{len(missing)} acknowledged messages lost, e.g. {sorted(missing)[:5]}"

    proc, url = start_chatd(tmp_path)
    try:
        async with ChatClient.connect(url) as reader:
            await reader.identify(name="reader")
            joined = await reader.request("join", room="lobby", since=0)
            ids = [m["id"] for m in joined["messages"]]
            while joined["more"] or (ids and ids[-1] < max(acked.values())):
                page = await reader.request("history", room="lobby", after=ids[-1])
                ids += [m["id"] for m in page["messages"]]
                joined = page
        assert set(acked.values()) <= set(ids)
        assert ids == sorted(set(ids))
    finally:
        stop(proc, signal.SIGTERM)
