"""The operators' CLI on the grant path: validate (--json, exit codes), 個別協議 approval, ingest, status boards."""

from __future__ import annotations

import csv
import json

import pytest

from demo.grant_inputs import rows as rows_of
from tsunagu.cli import main
from tsunagu.settings import REPO_ROOT

STORY = REPO_ROOT / "include" / "demo" / "grants"
YAMANASHI = next(STORY.glob("2024-09-19/**/*.xlsx"))  # 甲府市's 総合事業 above its 上限額
GRANT = ["--kind", "grant", "--program", "community_support", "--stage", "pre_consultation", "--prefecture", "19",
         "--fiscal-year", "2024"]


def test_validate_a_grant_file_as_json(home, capsys):
    assert main(["validate", *GRANT, "--json", "--no-gx", str(YAMANASHI)]) == 1
    out = json.loads(capsys.readouterr().out)
    assert (out["status"], out["rows"]) == ("rejected", 81)
    errors = [(e["code"], e["sheet"], e["row"], e["column"], e["field"]) for e in out["errors"] if e["severity"] == "error"]
    assert errors == [("general_cap_exceeded", "保険者別一覧", 4, "H", "selected")]
    first = next(e for e in out["errors"] if e["severity"] == "error")
    assert first["message_ja"].startswith("4行目 H列『選定額』: 総合事業の選定額 600,000,000円が192013（甲府市）の上限額 580,000,000円")


def test_cap_approval_then_ingest_then_status_boards(home, tmp_path, capsys):
    ingest = ["ingest", *GRANT, str(YAMANASHI)]
    assert main(ingest) == 1
    assert json.loads(capsys.readouterr().out)["status"] == "rejected"
    approve = ["grants", "approve-cap", "--fiscal-year", "2024", "--filer", "192013", "--amount", "600000000",
               "--approver", "地域包括ケア推進課長"]
    assert main(approve) == 0 and main(approve) == 0
    assert capsys.readouterr().out.splitlines() == [
        "approved: community_support 2024 192013/general cap 600,000,000 yen by 地域包括ケア推進課長",
        "already approved: community_support 2024 192013/general cap 600,000,000 yen by 地域包括ケア推進課長",
    ]
    assert main([*ingest, "--force"]) == 0  # decided again with the approval recorded
    outcome = json.loads(capsys.readouterr().out)
    assert (outcome["status"], outcome["rows"], outcome["errors"]) == ("accepted", 81, 0)

    out = tmp_path / "boards"
    status = ["grants", "status", "--program", "community_support", "--fiscal-year", "2024", "--out", str(out),
              "--day", "2024-10-01", "--prefecture", "19"]
    assert main(status) == 0
    board = out / "2024" / "community_support" / "status_19_yamanashi.csv"
    assert capsys.readouterr().out.splitlines() == [
        f"19: 162 rows -> {board.with_suffix('.xlsx')} {board}"]
    with board.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    pre = [r for r in rows if r["stage"] == "pre_consultation"]
    assert len(pre) == 27 and {r["state_ja"] for r in pre} == {"受理"}
    kofu = next(r for r in pre if r["filer_code"] == "192013")
    expected = sum(r["grant"] for r in rows_of("19", "pre_consultation") if r["insurer_number"] == "192013")
    assert int(kofu["grant"]) == expected == 120_000_000 + 10_837_000 + 2_483_000  # its three 事業区分 rows
    assert {r["prefecture_code"] for r in rows} == {"19"}


def test_grant_kind_needs_program_and_a_known_stage(home):
    with pytest.raises(SystemExit, match="--program and --stage"):
        main(["validate", "--kind", "grant", "--prefecture", "19", "--fiscal-year", "2024", str(YAMANASHI)])
    with pytest.raises(SystemExit, match="stages: pre_consultation, application, change, actual_report"):
        main(["validate", "--kind", "grant", "--program", "community_support", "--stage", "survey",
              "--prefecture", "19", "--fiscal-year", "2024", str(YAMANASHI)])


def test_one_engine_runs_every_cycle_and_skips_what_is_not_configured(home, capsys):
    assert main(["cycle", "--cycle", "all", "--day", "2024-08-09", "--prefecture", "19", "--dry-run"]) == 0
    results = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["cycle"], r["kind"], r["status"], r["key"]) for r in results] == [
        ("distribution", "day", "skipped", None),  # no include/config/cycle/2024.yaml
        ("grant.community_support", "grant_request", "planned", "2024:grant.community_support.pre_consultation:request:19"),
    ]
    assert results[0]["detail"].startswith("設定がありません / nothing configured: no distribution cycle configured")
    with pytest.raises(SystemExit, match="unknown cycle 'grant.pension'"):
        main(["cycle", "--cycle", "grant.pension", "--day", "2024-08-09"])
