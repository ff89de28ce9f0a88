"""One file's latency: the one-shot CLI never imports Great Expectations; the pipeline keeps it and its Data Docs.

`tsunagu validate` evaluates the generated GX suite in Python (importing GX costs a process ~10 s for a
file that validates in well under one); `--gx` runs GX and must print the same JSON. The pipeline path
(`tsunagu ingest`, the DAG tasks through Flow.ingest) still runs GX and writes the Data Docs. No timing
is asserted here (the bench measures it: bench/run.py validate grant); what is asserted is which path
imports what, and that both paths agree. Every field-rule case is compared in tests/validate/test_parity.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "include" / "demo"
SAITAMA_CSV = DEMO / "home_care_reports" / "2025" / "11" / "埼玉_定例報告_R7.csv"
SAITAMA_REGISTER = next((DEMO / "register").glob("11*.xlsx"))
(SAITAMA_GRANT,) = (DEMO / "grants").glob("2025-02-21/**/11/*.xlsx")

# Runs the CLI in a fresh interpreter and reports, after it, whether GX was imported.
RUN = textwrap.dedent("""
    import contextlib, io, json, sys
    from tsunagu.cli import main
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(sys.argv[1:])
    print(json.dumps({"code": code, "stdout": out.getvalue(), "gx": "great_expectations" in sys.modules}))
""")

HOME_CARE = ["validate", "--kind", "home_care_report", "--prefecture", "11", "--fiscal-year", "2025", "--json",
             str(SAITAMA_CSV)]
GRANT = ["validate", "--kind", "grant", "--program", "community_support", "--stage", "application",
         "--prefecture", "11", "--fiscal-year", "2024", "--json", str(SAITAMA_GRANT)]


def cli(home: Path, *args: str) -> dict:
    env = {**os.environ, "TSUNAGU_HOME": str(home)}
    for var in ("TSUNAGU_DB_URL", "TSUNAGU_LANDING", "TSUNAGU_PUBLISH_DIR"):
        env.pop(var, None)
    proc = subprocess.run([sys.executable, "-c", RUN, *args], capture_output=True, text=True, cwd=REPO, env=env,
                          check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    """A warehouse with 埼玉's register loaded, so the roster checks run too."""
    home = tmp_path_factory.mktemp("home")
    out = cli(home, "ingest", "--kind", "register", str(SAITAMA_REGISTER))
    assert out["code"] == 0 and json.loads(out["stdout"].splitlines()[0])["status"] == "accepted"
    assert out["gx"] is False  # the register path never imports GX either
    return home


@pytest.mark.parametrize("args", [HOME_CARE, GRANT], ids=["home_care_report", "grant"])
def test_validate_evaluates_the_suite_without_importing_gx_and_gx_agrees(home, args):
    plain = cli(home, *args)
    assert plain["gx"] is False
    result = json.loads(plain["stdout"])
    assert result["rows"] > 0 and plain["code"] == {"accepted": 0, "rejected": 1}[result["status"]]
    with_gx = cli(home, *args[:1], "--gx", *args[1:])
    assert with_gx["gx"] is True
    assert with_gx["stdout"] == plain["stdout"] and with_gx["code"] == plain["code"]
    # --no-gx (the former opt-out) is still accepted and is the default
    assert cli(home, *args[:1], "--no-gx", *args[1:]) == plain


def test_the_pipeline_keeps_gx_and_its_data_docs(home):
    out = cli(home, "ingest", "--kind", "home_care_report", "--prefecture", "11", "--fiscal-year", "2025",
              str(SAITAMA_CSV))
    assert out["gx"] is True
    outcome = json.loads(out["stdout"].splitlines()[0])
    assert outcome["status"] in ("accepted", "rejected")
    assert Path(outcome["reports"]["data_docs"]).is_file()
