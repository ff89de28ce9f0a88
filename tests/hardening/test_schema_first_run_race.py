"""Two first runs at once on an empty warehouse: both succeed, the schema is created once.

Each run is a real process calling ``open_warehouse`` (what every CLI command, DAG task and
``ingest_file`` does first). The processes import everything, say they are ready, and are then
released together through their stdin, so their schema creation overlaps. Without a lock, the
second ``CREATE TABLE IF NOT EXISTS`` of PostgreSQL fails with ``UniqueViolation …
pg_type_typname_nsp_index`` (it does not see the first one's uncommitted table).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[2]

FIRST_RUN = textwrap.dedent("""
    import sys
    from tsunagu.flows.base import open_warehouse
    from tsunagu.settings import get_settings

    settings = get_settings()
    print("ready", flush=True)
    sys.stdin.readline()  # released together with the other processes
    open_warehouse(settings).dispose()
    print("done", flush=True)
""")


def run_at_once(n: int, env: dict[str, str], script: str = FIRST_RUN, timeout: float = 120) -> list[tuple[int, str]]:
    """Start ``n`` processes, wait until each has imported everything, release them together."""
    procs = [
        subprocess.Popen([sys.executable, "-c", script], cwd=REPO, env=env, text=True,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(n)
    ]
    try:
        for p in procs:
            assert p.stdout.readline().strip() == "ready", p.stderr.read()
        for p in procs:  # the go signal: as close together as two writes can be
            p.stdin.write("go\n")
            p.stdin.flush()
        out = []
        for p in procs:
            stdout, stderr = p.communicate(timeout=timeout)
            out.append((p.returncode, stdout + stderr))
        return out
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()


def _env(tmp_path: Path, url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TSUNAGU_")}
    env.update(TSUNAGU_HOME=str(tmp_path / "home"), TSUNAGU_DB_URL=url, PYTHONPATH=str(REPO / "src"))
    return env


def _tables(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_two_first_runs_at_once_both_succeed(backend, request, tmp_path):
    from tsunagu.warehouse.db import schema_tables

    if backend == "postgresql":
        from tests.support.warehouse import postgres_schema_url

        ctx = postgres_schema_url(request.getfixturevalue("pg_url"))
    else:
        from contextlib import nullcontext

        ctx = nullcontext(f"sqlite:///{tmp_path / 'fresh.sqlite'}")
    with ctx as url:
        results = run_at_once(2, _env(tmp_path, url))
        for code, output in results:
            assert code == 0, output
            assert "UniqueViolation" not in output
        assert schema_tables() <= _tables(url)
