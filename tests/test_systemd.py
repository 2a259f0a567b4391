"""The shipped systemd unit: what it promises, and ``systemd-analyze verify``
where that exists. (What chatd tells systemd — READY, RELOADING, MAINPID,
STOPPING — is tested with a real notify socket in test_lifecycle.py.)"""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parent.parent / "systemd" / "chatd.service"


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # keys are case-sensitive
    parser.read_string(UNIT.read_text())
    return parser


def test_unit_is_notify_with_reload_restart_and_hardening():
    service = unit()["Service"]
    assert service["Type"] == "notify"
    assert service["NotifyAccess"] == "all", "the successor of `chatd restart` reports READY itself"
    assert service["ExecStart"].endswith("chatd start -c /etc/chatd/chatd.yaml")
    assert " -d" not in service["ExecStart"]
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert service["Restart"] == "on-failure"
    assert service["User"] == "chatd"
    for key, value in {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "PrivateTmp": "yes",
                       "ProtectHome": "yes"}.items():
        assert service[key] == value


def test_systemd_analyze_verify(tmp_path: Path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed on this machine")
    chatd = shutil.which("chatd") or str(Path(sys.executable).parent / "chatd")
    if not Path(chatd).exists():
        pytest.skip("the chatd command is not installed (pip install -e .)")
    # Only the path of the command changes: verify checks that it exists.
    text = UNIT.read_text().replace("/opt/chatd/venv/bin/chatd", chatd)
    assert chatd in text
    (tmp_path / "chatd.service").write_text(text)
    result = subprocess.run([analyze, "verify", str(tmp_path / "chatd.service")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    # verify only warns about unknown keys and bad values; a warning is a failure here.
    problems = [line for line in (result.stdout + result.stderr).splitlines() if "chatd.service" in line]
    assert problems == []
