"""What was acknowledged survives `kill -9` in the middle of a burst, and
comes back as history after a restart. Runs chatd as a real process."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from websockets.exceptions import ConnectionClosed

from tests.wsclient import ChatClient


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_chatd(tmp_path: Path, port: int) -> subprocess.Popen:
    config = tmp_path / "chatd.yaml"
    config.write_text(
        f'listen: "127.0.0.1:{port}"\ndatabase: chatd.db\nlogfile: ""\n'
        "limits: {rate_per_second: 100000, rate_burst: 100000, user_rate_per_second: 100000, user_rate_burst: 100000}\n"
        "address: {rate_per_second: 100000, rate_burst: 100000}\n"  # eight senders, one address
    )
    with open(tmp_path / "stderr.log", "ab") as log:  # the child keeps its own copy of the fd
        proc = subprocess.Popen([sys.executable, "-m", "chatd", "start", "-c", str(config)],
                                stdout=subprocess.DEVNULL, stderr=log)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:  # ready when the port answers
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError((tmp_path / "stderr.log").read_text()) from None
            time.sleep(0.05)
    proc.kill()
    raise TimeoutError("chatd did not start listening")


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
    port = free_port()
    url = f"ws://127.0.0.1:{port}/ws"
    proc = start_chatd(tmp_path, port)
    acked: dict[str, int] = {}
    started = asyncio.Event()
    try:
        senders = [asyncio.create_task(sender(url, f"s{n}", acked, started)) for n in range(8)]
        await asyncio.wait_for(started.wait(), 20)
        os.kill(proc.pid, signal.SIGKILL)  # mid-burst: 8 senders in flight
        await asyncio.wait_for(asyncio.gather(*senders), 20)
    finally:
        proc.kill()
        proc.wait()
    assert len(acked) >= 200

    with sqlite3.connect(tmp_path / "chatd.db") as db:
        stored = dict(db.execute("SELECT cid, id FROM message"))
    missing = {cid for cid, mid in acked.items() if stored.get(cid) != mid}
    assert not missing, f"{len(missing)} acknowledged messages lost, e.g. {sorted(missing)[:5]}"

    proc = start_chatd(tmp_path, port)
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
        proc.terminate()
        proc.wait(10)
