"""The default install has no extras: redis-py and psycopg (`chatd[cluster]`) are
imported only where a bus or a PostgreSQL store is configured, so
`pip install . && chatd start` serves on SQLite alone."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

WITHOUT_EXTRAS = """
import sys
for name in ("redis", "psycopg", "asyncpg"):
    sys.modules[name] = None  # any import of them now fails, as without the extra
import asyncio, tempfile
from chatd.config import build_config
from chatd.server import Server

async def main():
    directory = tempfile.mkdtemp()
    server = Server(build_config({"listen": "127.0.0.1:0", "database": directory + "/chatd.db", "logfile": ""}))
    await server.start()
    await server.stop(timeout=2)
    print("served")

asyncio.run(main())
"""


def test_a_single_process_on_sqlite_needs_neither_redis_nor_psycopg():
    result = subprocess.run([sys.executable, "-c", WITHOUT_EXTRAS], capture_output=True, text=True, timeout=60,
                            cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert result.stdout.strip() == "served", result.stderr
