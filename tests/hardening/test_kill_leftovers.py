"""kill -9 leftovers: a partial archive file, and a package swap cut between its two renames.

Each fault is a real SIGKILL of the CLI in a subprocess (``TSUNAGU_FAULT``). The next run cleans
what a dead writer left, but never the temporary file of a writer that is still alive.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.warehouse import sample_record
from tsunagu.intake.templates import load_template
from tsunagu.publish.package import ScopeError, publish_prefecture
from tsunagu.settings import Settings
from tsunagu.warehouse.archive import archive_raw, sha256_file
from tsunagu.warehouse.db import Warehouse

REPO = Path(__file__).resolve().parents[2]
REGISTER_19 = next((REPO / "include" / "demo" / "register").glob("19*.xlsx"))


def cli(*args, home: Path, db_url: str, fault: str | None = None,
        python: tuple[str, ...] = ("-m", "tsunagu.cli")) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TSUNAGU_")}
    env.update(TSUNAGU_HOME=str(home), TSUNAGU_DB_URL=db_url)
    if fault:
        env["TSUNAGU_FAULT"] = fault
    return subprocess.run([sys.executable, *python, *map(str, args)], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=600)


def archived_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))


# ------------------------------------------------------------------------------------ the raw archive


def test_kill_archive_partial_is_cleaned_by_the_next_archiving(tmp_path):
    home, url = tmp_path / "home", f"sqlite:///{tmp_path / 'wh.sqlite'}"
    root = home / "archive" / "sha256"
    run = cli("ingest", "--kind", "register", REGISTER_19, home=home, db_url=url, fault="archive_partial")
    assert run.returncode == -9, run.stderr[-2000:]
    assert len(list(root.glob(".incoming-*"))) == 1 and archived_files(root) == []  # the dead writer's partial file

    run = cli("ingest", "--kind", "register", REGISTER_19, home=home, db_url=url)
    assert run.returncode == 0, run.stderr[-2000:]
    assert list(root.glob(".incoming-*")) == []
    (archived,) = archived_files(root)
    assert archived.read_bytes() == REGISTER_19.read_bytes()


LIVE_WRITER = """
import sys
from pathlib import Path
from tsunagu.settings import Settings
from tsunagu.warehouse.archive import archive_raw
print(archive_raw(sys.argv[2], Settings(home=Path(sys.argv[1]), db_url="sqlite:///unused")).sha256, flush=True)
"""


def test_a_live_writers_partial_file_is_not_cleaned(tmp_path):
    """A writer still copying (its source a FIFO that has not sent its bytes yet) keeps its temporary file."""
    settings = Settings(home=tmp_path / "home", db_url="sqlite:///unused")
    root = settings.archive_dir / "sha256"
    fifo = tmp_path / "slow.xlsx"
    os.mkfifo(fifo)
    writer = subprocess.Popen([sys.executable, "-c", LIVE_WRITER, str(settings.home), str(fifo)], cwd=REPO,
                              stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not list(root.glob(".incoming-*")):  # the live writer has its temporary file
            assert time.monotonic() < deadline and writer.poll() is None, "the writer never started copying"
            time.sleep(0.05)
        (live,) = root.glob(".incoming-*")
        mine = archive_raw(REGISTER_19, settings)  # another archiving meanwhile
        assert live.exists()
        with open(fifo, "wb") as f:  # the writer gets its bytes and finishes
            f.write(b"late bytes")
        assert writer.wait(timeout=60) == 0
        assert writer.stdout.read().strip() == hashlib.sha256(b"late bytes").hexdigest()
    finally:
        if writer.poll() is None:
            writer.kill()
        writer.wait()
    assert list(root.glob(".incoming-*")) == []
    assert {p.name.split(".")[0] for p in archived_files(root)} == {mine.sha256, hashlib.sha256(b"late bytes").hexdigest()}


# ------------------------------------------------------------------------------------ the package swap


def _warehouse_with_rows(url: str) -> None:
    wh = Warehouse(url)
    wh.create_schema()
    records = [sample_record("08", n) for n in (1, 2, 3)]
    sid, _ = wh.register_submission("home_care_report", "a" * 64, "08.xlsx", "08", 2025, None, "email")
    wh.load_home_care_report(sid, "08", 2025, records)
    wh.record_outcome(sid, "accepted", [], rows=len(records), template_version="2024-08")
    wh.dispose()


def assert_whole_package(package: Path) -> None:
    manifest = json.loads((package / "manifest.json").read_text(encoding="utf-8"))
    assert {f["path"]: f["sha256"] for f in manifest["files"]} == {
        p.name: sha256_file(p) for p in package.iterdir() if p.name != "manifest.json"}
    assert manifest["rows"] == 3


def test_kill_between_the_package_renames_leaves_a_package(tmp_path):
    home, url, out = tmp_path / "home", f"sqlite:///{tmp_path / 'wh.sqlite'}", tmp_path / "published"
    _warehouse_with_rows(url)
    publish = ("publish", "--fiscal-year", "2025", "--prefecture", "08", "--out", out)
    assert cli(*publish, home=home, db_url=url).returncode == 0
    package = out / "2025" / "08_ibaraki"
    assert_whole_package(package)

    run = cli(*publish, home=home, db_url=url, fault="package_between_renames")
    assert run.returncode == -9, run.stderr[-2000:]
    assert package.is_dir(), sorted(p.name for p in package.parent.iterdir())  # a package at every instant
    assert_whole_package(package)

    run = cli(*publish, home=home, db_url=url)
    assert run.returncode == 0, run.stderr[-2000:]
    assert sorted(p.name for p in package.parent.iterdir()) == ["08_ibaraki"]  # the dead writer's folders are gone
    assert_whole_package(package)


# The CLI on a system without RENAME_EXCHANGE: the swap takes two renames.
TWO_RENAMES = """
import sys
import tsunagu.publish.package as package
from tsunagu.cli import main
package._exchange = lambda a, b: False
sys.exit(main(sys.argv[1:]))
"""


def test_kill_between_the_two_renames_elsewhere_the_next_publish_puts_the_old_package_back(tmp_path):
    home, url, out = tmp_path / "home", f"sqlite:///{tmp_path / 'wh.sqlite'}", tmp_path / "published"
    _warehouse_with_rows(url)
    publish = ("publish", "--fiscal-year", "2025", "--prefecture", "08", "--out", out)
    assert cli(*publish, home=home, db_url=url).returncode == 0
    package = out / "2025" / "08_ibaraki"
    before = {p.name: sha256_file(p) for p in package.iterdir()}

    run = cli(*publish, home=home, db_url=url, fault="package_between_renames", python=("-c", TWO_RENAMES))
    assert run.returncode == -9, run.stderr[-2000:]
    assert not package.exists()  # the gap of two renames

    # The next publish of the package first puts the old one back, so even a publish failing later keeps it.
    wh = Warehouse(url)
    wh.home_care_reports = lambda *_: [sample_record("09", 1)]  # a row of another prefecture: ScopeError
    with pytest.raises(ScopeError):
        publish_prefecture(wh, 2025, "08", out, template=load_template("home_care_report", fiscal_year=2025))
    wh.dispose()
    assert sorted(p.name for p in package.parent.iterdir()) == ["08_ibaraki"]
    assert {p.name: sha256_file(p) for p in package.iterdir()} == before
