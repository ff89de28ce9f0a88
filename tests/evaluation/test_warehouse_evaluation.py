"""Evaluation results in the warehouse (SQLite and PostgreSQL): round trip of the model's frames, a re-sent
year replacing that year only (lineage kept), the flow from the landing folder and the CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from tests.evaluation.test_generator_evaluation import generator
from tsunagu.evaluation import model
from tsunagu.intake.evaluation import parse_evaluation, to_frames
from tsunagu.settings import get_settings
from tsunagu.warehouse import evaluation as repo

KIND = "evaluation_results"


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """山梨 and 長野 (27 + 77 insurers): 2024, 2025, and 2025 sent again with other scores."""
    root = tmp_path_factory.mktemp("evaluation_wh")
    out = {}
    for name, year, seed in (("2024", 2024, 1), ("2025", 2025, 1), ("2025b", 2025, 2)):
        out[name] = root / name / f"hyoka_{year}.xlsx"
        generator().write(year, out[name], seed=seed, prefectures=["19", "20"])
    return out


def _frames(path: Path, year: int, sha: str):
    parsed = parse_evaluation(path)
    return to_frames(parsed, fiscal_year=year, source_sha256=sha), parsed.scale


def _submission(warehouse, name: str, year: int) -> tuple[int, str]:
    sha = (name.encode().hex() * 64)[:64]
    sid, _ = warehouse.register_submission(kind=KIND, sha256=sha, original_name=f"{name}.xlsx", sender="00",
                                           fiscal_year=year, archive_path=None, channel="landing")
    return sid, sha


def _plain(frame) -> list[list]:
    """Rows as plain values (NaN/NA as None), for exact comparison across backends."""
    def plain(v):
        if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
            return None
        return v.item() if hasattr(v, "item") else v

    return [[plain(v) for v in row] for row in frame.astype(object).itertuples(index=False, name=None)]


def test_round_trip_and_prefecture_scope(warehouse, files):
    frames, scale = {}, {}
    for name, year in (("2024", 2024), ("2025", 2025)):
        sid, sha = _submission(warehouse, name, year)
        frames[year], scale[year] = _frames(files[name], year, sha)
        loaded = repo.load_evaluation(warehouse, sid, year, frames[year], scale=scale[year])
        n = len(frames[year]["indicators"])
        assert (loaded.note, loaded.current) == (f"104 insurers × {n} indicators loaded for {year}", True)
    got = repo.load_frames(warehouse)
    assert list(got) == ["indicators", "insurers", "scores", "national_stats"]
    for key, columns in (("indicators", model.INDICATOR_COLUMNS), ("insurers", model.INSURER_COLUMNS),
                         ("scores", model.SCORE_COLUMNS), ("national_stats", model.NATIONAL_STAT_COLUMNS)):
        assert list(got[key].columns) == columns
        sort = [c for c in ("fiscal_year", "insurer_number", "indicator_key") if c in columns]
        expected = pd.concat([frames[2024][key], frames[2025][key]]).sort_values(sort, kind="stable")
        assert _plain(got[key]) == _plain(expected), key
    assert len(got["scores"]) == 104 * (283 + 288)
    assert str(got["scores"]["points"].dtype) == "float64" and got["indicators"]["comparable"].dtype == bool
    one = repo.load_frames(warehouse, fiscal_years=[2025], prefecture_code="19")
    assert set(one["insurers"]["prefecture_code"]) == {"19"} and len(one["insurers"]) == 27
    assert len(one["scores"]) == 27 * 288 and set(one["scores"]["fiscal_year"]) == {2025}
    assert len(one["indicators"]) == 288 and len(one["national_stats"]) == 288  # national: never scoped
    assert repo.stored_years(warehouse) == [2024, 2025]
    assert warehouse.evaluation_frames([2024])["insurers"]["fiscal_year"].tolist() == [2024] * 104


def test_a_resent_year_replaces_that_year_only_with_lineage(warehouse, files):
    s24, sha24 = _submission(warehouse, "2024", 2024)
    f24, _ = _frames(files["2024"], 2024, sha24)
    repo.load_evaluation(warehouse, s24, 2024, f24, scale=400)
    first, sha1 = _submission(warehouse, "2025", 2025)
    second, sha2 = _submission(warehouse, "2025b", 2025)
    f1, _ = _frames(files["2025"], 2025, sha1)
    f2, _ = _frames(files["2025b"], 2025, sha2)
    repo.load_evaluation(warehouse, first, 2025, f1, scale=400)
    loaded = repo.load_evaluation(warehouse, second, 2025, f2, scale=400)
    assert loaded.note == f"104 insurers × 288 indicators loaded for 2025; replaced submissions {first}"
    got = repo.load_frames(warehouse, fiscal_years=[2025])
    assert _plain(got["scores"]) == _plain(f2["scores"].sort_values(["insurer_number", "indicator_key"]))
    assert set(got["insurers"]["source_sha256"]) == {sha2}
    assert len(repo.load_frames(warehouse, fiscal_years=[2024])["scores"]) == 104 * 283  # 2024 untouched
    assert [(r["fiscal_year"], r["submission_id"], r["superseded_by"]) for r in repo.loads(warehouse)] == [
        (2024, s24, None), (2025, first, second), (2025, second, None)]
    assert warehouse.get_submission(first)["status"] == "superseded"
    assert warehouse.get_submission(first)["superseded_by"] == second
    again = repo.load_evaluation(warehouse, second, 2025, f2, scale=400)
    assert again.note == f"submission {second} was loaded before: nothing done"
    t = warehouse.table("evaluation_scores")
    with warehouse.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t).where(t.c.fiscal_year == 2025)).scalar() == 104 * 288
        assert set(conn.execute(sa.select(t.c.submission_id).where(t.c.fiscal_year == 2025).distinct()).scalars()) == {second}


def test_an_older_file_never_replaces_a_newer_one(warehouse, files):
    older, sha1 = _submission(warehouse, "2025", 2025)
    newer, sha2 = _submission(warehouse, "2025b", 2025)
    f2, _ = _frames(files["2025b"], 2025, sha2)
    repo.load_evaluation(warehouse, newer, 2025, f2, scale=400)
    f1, _ = _frames(files["2025"], 2025, sha1)
    stale = repo.load_evaluation(warehouse, older, 2025, f1, scale=400)
    assert (stale.note, stale.current) == (f"submission {newer} is newer and current for 2025: rows not reloaded", False)
    assert set(repo.load_frames(warehouse)["insurers"]["source_sha256"]) == {sha2}
    assert warehouse.get_submission(older)["status"] == "superseded"


def test_the_flow_from_landing_accepts_and_rejects(warehouse, files, tmp_path):
    from openpyxl import load_workbook

    from tsunagu.flows import get_flow
    from tsunagu.pipeline import ingest_file, scan_landing, sender_batches

    settings = get_settings(tmp_path / "home", db_url=str(warehouse.engine.url.render_as_string(hide_password=False)))
    landing = tmp_path / "landing"
    good = landing / "evaluation" / "2025" / "hyoka_2025.xlsx"
    good.parent.mkdir(parents=True)
    good.write_bytes(files["2025"].read_bytes())
    found = scan_landing(landing)
    assert [(f.kind, f.prefecture_code, f.fiscal_year) for f in found] == [(KIND, None, None)]
    assert [(b["kind"], b["prefecture_code"], len(b["files"])) for b in sender_batches(found)] == [(KIND, None, 1)]
    outcome = ingest_file(found[0], settings=settings, warehouse=warehouse)
    assert (outcome.status, outcome.prefecture_code, outcome.fiscal_year, outcome.rows, outcome.errors) == (
        "accepted", "00", 2025, 104, 0)
    assert outcome.note == "104 insurers × 288 indicators loaded for 2025"
    assert warehouse.get_submission(outcome.submission_id)["sender"] == "00"

    wb = load_workbook(files["2024"])
    wb["評価結果"]["I14"] = 9  # 配点 2
    bad = tmp_path / "bad_2024.xlsx"
    wb.save(bad)
    rejected = get_flow(KIND).ingest(bad, fiscal_year=2024, settings=settings, warehouse=warehouse)
    assert (rejected.status, rejected.errors) == ("rejected", 3)  # the cell, 目標Ⅰ計 and 合計 of 推進
    assert rejected.quarantine and Path(rejected.quarantine).exists()
    report = json.loads(Path(rejected.reports["json"]).read_text(encoding="utf-8"))
    assert [(e["code"], e["sheet"], e["row"], e["column"]) for e in report["errors"]] == [
        ("evaluation_points_range", "評価結果", 14, "I"), ("evaluation_total_mismatch", "評価結果", 14, "FL"),
        ("evaluation_total_mismatch", "評価結果", 14, "FP")]
    assert repo.stored_years(warehouse) == [2025]  # nothing of the rejected year loaded


def test_cli_ingest(tmp_path, monkeypatch, files, capsys):
    from tsunagu.cli import main

    monkeypatch.setenv("TSUNAGU_HOME", str(tmp_path / "home"))
    for var in ("TSUNAGU_DB_URL", "TSUNAGU_LANDING", "TSUNAGU_PUBLISH_DIR"):
        monkeypatch.delenv(var, raising=False)
    assert main(["ingest", "--kind", KIND, "--fiscal-year", "2025", str(files["2025"])]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (out["status"], out["prefecture_code"], out["fiscal_year"], out["rows"]) == ("accepted", "00", 2025, 104)
    assert main(["ingest", "--kind", KIND, "--fiscal-year", "2024", str(files["2025"])]) == 1  # the file says 令和7年度
    with pytest.raises(SystemExit):
        main(["ingest", "--kind", KIND, str(files["2025"])])  # --fiscal-year is required
