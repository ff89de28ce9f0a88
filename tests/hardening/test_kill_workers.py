"""kill -9 of the register CLI: its forked parse workers die with it instead of living on as orphans."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name: [state, ppid, …, starttime at 19, …]."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None


def children(pid: int) -> dict[int, str]:
    """pid -> start time of the live children of ``pid``."""
    out = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) and fields[1] == str(pid) and fields[0] != "Z":
            out[int(entry.name)] = fields[19]
    return out


def alive(pid: int, start: str) -> bool:
    """Still running (a zombie is dead; a reused pid is another process)."""
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z" and fields[19] == start


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_kill_register_cli_kills_its_parse_workers(meibo_files, tmp_path):
    if (os.cpu_count() or 1) < 2:
        pytest.skip("one core: registers are parsed without workers")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TSUNAGU_")}
    env.update(TSUNAGU_HOME=str(tmp_path / "home"), TSUNAGU_DB_URL=f"sqlite:///{tmp_path / 'wh.sqlite'}")
    cli = subprocess.Popen([sys.executable, "-m", "tsunagu.cli", "ingest", "--kind", "register", *map(str, meibo_files)],
                           env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: dict[int, str] = {}
    try:
        expected = min(len(meibo_files), os.cpu_count() or 1)
        deadline = time.monotonic() + 120
        while len(workers := children(cli.pid)) < expected:  # archived, now parsing on every core
            assert cli.poll() is None and time.monotonic() < deadline, "the parse workers never started"
            time.sleep(0.02)
        time.sleep(0.3)  # the workers are busy parsing
        workers = children(cli.pid)
        cli.send_signal(signal.SIGKILL)
        assert cli.wait(timeout=10) == -9
        deadline = time.monotonic() + 5
        while (left := [p for p, start in workers.items() if alive(p, start)]) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert left == [], f"orphaned parse workers still running: {left}"
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
        for pid, start in workers.items():  # the orphans this test made, if any
            if alive(pid, start):
                os.kill(pid, signal.SIGKILL)
