"""Database outages, for real: a closed port, a server that never answers, a connection killed by the
server, a statement that runs too long, the database going away between two files of one ingest.

The CLI exits 3 (never 1, which means "rejected") with one line saying why in Japanese and English,
and the files already done are on stdout; a pooled connection the server killed is replaced.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from tsunagu.cli import EXIT_DB_UNAVAILABLE, main
from tsunagu.warehouse.db import Warehouse

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "include" / "demo"
V1 = DEMO / "home_care_reports" / "2025" / "19" / "山梨_定例報告_R7_v1.xlsx"
V2 = DEMO / "cycle" / "2025-11-10" / "home_care_reports" / "2025" / "19" / "山梨_定例報告_R7_v2_訂正.xlsx"
INGEST = ["ingest", "--kind", "home_care_report", "--prefecture", "19", "--fiscal-year", "2025"]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def refused_line(port: int) -> str:
    where = f"127.0.0.1:{port}/test"
    return (f"tsunagu: データベースを利用できません（接続が拒否されました）: {where} / "
            f"database unavailable (connection refused): {where}")


def cli(args: list, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tsunagu.cli", *map(str, args)], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


def _wait_stopped(pid: int, timeout: float = 60.0) -> None:
    """Until the process is in the stopped state (T in /proc/<pid>/stat)."""
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "T":
        assert time.monotonic() < deadline, f"process {pid} did not stop"
        time.sleep(0.01)


def _env(tmp_path: Path, url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TSUNAGU_")}
    env.update(TSUNAGU_HOME=str(tmp_path / "home"), TSUNAGU_DB_URL=url, PYTHONPATH=str(REPO / "src"), **extra)
    return env


class Proxy:
    """A TCP forwarder to PostgreSQL that can be cut: every connection dropped, the port closed."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.socks: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            with self.lock:
                self.socks += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self) -> None:
        """The outage: the port is closed and every open connection dropped."""
        try:
            self.server.shutdown(socket.SHUT_RDWR)  # wakes the accept() under way (close() alone would not)
        except OSError:
            pass
        self.server.close()
        with self.lock:
            for s in self.socks:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                    s.close()
                except OSError:
                    pass


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("TSUNAGU_HOME", str(tmp_path / "home"))
    for var in ("TSUNAGU_DB_URL", "TSUNAGU_PUBLISH_DIR", "TSUNAGU_LANDING"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path / "home"


def test_ingest_with_the_database_down_exits_3_with_the_bilingual_line(tmp_path):
    port = closed_port()
    done = cli([*INGEST, V1, V2], _env(tmp_path, f"postgresql+psycopg://postgres@127.0.0.1:{port}/test"))
    assert done.returncode == EXIT_DB_UNAVAILABLE == 3, done.stderr
    lines = done.stderr.splitlines()
    assert lines[0] == refused_line(port)
    assert lines[1] == (f"処理済み 0 件（標準出力）、未処理 2 件 / done 0 (on stdout), not processed 2: {V1}, {V2}")
    assert done.stdout == ""
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("args", [
    ["validate", "--kind", "home_care_report", "--prefecture", "19", "--fiscal-year", "2025", str(V1)],
    ["publish", "--fiscal-year", "2025", "--prefecture", "19"],
    ["cycle", "--day", "2025-11-12", "--prefecture", "19"],
    ["grants", "status", "--program", "community_support", "--fiscal-year", "2024", "--out", "boards"],
    ["grants", "approve-cap", "--fiscal-year", "2024", "--filer", "192013", "--amount", "1", "--approver", "課長"],
    ["approve", "--fiscal-year", "2025", "--prefecture", "19", "--version", "0" * 16, "--approver", "課長"],
    ["ingest", "--kind", "register", str(next((DEMO / "register").glob("19*.xlsx")))],
], ids=lambda a: "-".join(a[:2]))
def test_every_command_exits_3_when_the_database_is_down(args, home, monkeypatch, capsys):
    port = closed_port()
    monkeypatch.setenv("TSUNAGU_DB_URL", f"postgresql+psycopg://postgres@127.0.0.1:{port}/test")
    assert main(args) == EXIT_DB_UNAVAILABLE
    assert capsys.readouterr().err.splitlines()[0] == refused_line(port)


def test_a_server_that_never_answers_times_out(tmp_path):
    """A listener that accepts and says nothing (a hung server, a half-open firewall): connect_timeout."""
    silent = socket.create_server(("127.0.0.1", 0))
    port = silent.getsockname()[1]
    try:
        t0 = time.monotonic()
        done = cli([*INGEST, V1], _env(tmp_path, f"postgresql+psycopg://postgres@127.0.0.1:{port}/test",
                                       TSUNAGU_DB_CONNECT_TIMEOUT_S="2"))
        elapsed = time.monotonic() - t0
    finally:
        silent.close()
    assert done.returncode == 3, done.stderr
    where = f"127.0.0.1:{port}/test"
    assert done.stderr.splitlines()[0] == (
        f"tsunagu: データベースを利用できません（接続が時間切れになりました）: {where} / "
        f"database unavailable (connection timed out): {where}")
    assert elapsed < 60  # the process start and imports, plus 2 s (libpq may try twice), not forever


@pytest.mark.postgres
def test_a_killed_backend_is_replaced_before_use(pg_url):
    """pg_terminate_backend from another connection (as a server restart or an admin would): the next
    checkout pings, finds it dead and reconnects, instead of failing the next statement."""
    from tests.support.warehouse import postgres_schema_url

    admin = sa.create_engine(pg_url)

    def kill(pid: int) -> None:
        with admin.begin() as conn:
            assert conn.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar()
            for _ in range(100):  # gone from pg_stat_activity
                if not conn.execute(sa.text("SELECT 1 FROM pg_stat_activity WHERE pid = :p"), {"p": pid}).first():
                    return
                time.sleep(0.05)

    def pid_of(wh: Warehouse) -> int:
        with wh.read() as conn:
            return conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()

    try:
        with postgres_schema_url(pg_url) as url:
            wh = Warehouse(url)
            wh.create_schema()
            wh.register_submission("register", "a" * 64, "meibo.xlsx", "19", None)
            first = pid_of(wh)
            assert pid_of(wh) == first  # one pooled connection, reused
            kill(first)
            assert wh.count("submissions") == 1  # reconnected
            assert pid_of(wh) != first
            wh.dispose()

            # the same without the pre-ping fails: the test does kill what the warehouse uses
            bare = Warehouse(url, pool_pre_ping=False)
            victim = pid_of(bare)
            kill(victim)
            with pytest.raises(sa.exc.OperationalError):
                bare.count("submissions")
            bare.dispose()
    finally:
        admin.dispose()


@pytest.mark.postgres
def test_statement_timeout_from_the_environment(pg_url, monkeypatch):
    from tests.support.warehouse import postgres_schema_url
    from tsunagu.cli import _database_outage

    with postgres_schema_url(pg_url) as url:
        wh = Warehouse(url)
        wh.create_schema()
        with wh.read() as conn:
            assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "10min"  # the default
            assert conn.connection.driver_connection.info.get_parameters()["connect_timeout"] == "10"
        wh.dispose()

        monkeypatch.setenv("TSUNAGU_DB_STATEMENT_TIMEOUT_MS", "300")
        wh = Warehouse(url)
        with wh.read() as conn:
            assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "300ms"
            # the URL's own options (the test schema's search_path) are kept alongside
            assert conn.exec_driver_sql("SELECT current_schema()").scalar().startswith("tsunagu_test_")
            assert wh.count("submissions") == 0
            t0 = time.monotonic()
            with pytest.raises(sa.exc.OperationalError, match="statement timeout") as caught:
                conn.exec_driver_sql("SELECT pg_sleep(30)")
            assert time.monotonic() - t0 < 10
        assert _database_outage(caught.value) == ("SQLの実行が時間切れになりました", "statement timeout")
        wh.dispose()


def test_timeouts_reject_nonsense(monkeypatch):
    monkeypatch.setenv("TSUNAGU_DB_STATEMENT_TIMEOUT_MS", "ten minutes")
    with pytest.raises(ValueError, match="TSUNAGU_DB_STATEMENT_TIMEOUT_MS must be a whole number"):
        Warehouse("postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.mark.postgres
def test_database_lost_between_two_files_exits_3_with_the_first_on_stdout(pg_url, tmp_path):
    """The connection to the database is cut (port closed, connections dropped) once the first file's
    outcome is out: that outcome is on stdout, the second file is listed as not processed, exit 3.
    When the database is back, a rerun skips the first file and does the second."""
    from tests.support.warehouse import postgres_schema_url

    url = sa.make_url(pg_url)
    with postgres_schema_url(pg_url) as direct:
        proxy = Proxy((url.host or "127.0.0.1", url.port or 5432))
        via_proxy = direct.replace(f"{url.host}:{url.port or 5432}", f"127.0.0.1:{proxy.port}")
        assert via_proxy != direct
        # The CLI stops itself once the first outcome is printed (a fault point), so the cut lands between the two
        # files however loaded the machine is; then it is resumed.
        env = _env(tmp_path, via_proxy, TSUNAGU_FAULT_STOP="after_outcome_printed")
        proc = subprocess.Popen([sys.executable, "-m", "tsunagu.cli", *INGEST, str(V1), str(V2)], env=env, cwd=REPO,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            first = proc.stdout.readline()
            _wait_stopped(proc.pid)
            proxy.cut()
            os.kill(proc.pid, signal.SIGCONT)
            rest, stderr = proc.communicate(timeout=300)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 3, stderr
        assert json.loads(first)["path"] == str(V1)
        assert json.loads(first)["status"] in ("accepted", "rejected", "unreadable")  # decided and recorded
        assert rest == ""
        lines = stderr.splitlines()
        at = next(i for i, line in enumerate(lines) if line.startswith("tsunagu: "))  # after any log lines
        where = f"127.0.0.1:{proxy.port}/test"
        assert re.fullmatch(
            rf"tsunagu: データベースを利用できません（(接続が切断されました|接続が拒否されました)）: {where} / "
            rf"database unavailable \((connection lost|connection refused)\): {where}", lines[at]), lines[at]
        assert lines[at + 1] == f"処理済み 1 件（標準出力）、未処理 1 件 / done 1 (on stdout), not processed 1: {V2}"
        assert "Traceback" not in stderr

        again = cli([*INGEST, V1, V2], _env(tmp_path, direct))
        outcomes = [json.loads(line) for line in again.stdout.splitlines()]
        assert [(Path(o["path"]).name, o["status"]) for o in outcomes][0] == (V1.name, "skipped")
        assert Path(outcomes[1]["path"]).name == V2.name and outcomes[1]["status"] != "skipped"
        assert again.returncode in (0, 1, 2), again.stderr
