"""The operators' CLI: exit codes, the --json contract, ingest and publish through the same library."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tsunagu.cli import main

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "include" / "demo"
YAMANASHI_REGISTER = next((DEMO / "register").glob("19*.xlsx"))
V1 = DEMO / "home_care_reports" / "2025" / "19" / "山梨_定例報告_R7_v1.xlsx"
V2 = DEMO / "cycle" / "2025-11-10" / "home_care_reports" / "2025" / "19" / "山梨_定例報告_R7_v2_訂正.xlsx"
PDF = DEMO / "home_care_reports" / "2025" / "09" / "栃木_集計表_スキャン.pdf"


@pytest.fixture()
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("TSUNAGU_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("TSUNAGU_DB_URL", raising=False)
    monkeypatch.delenv("TSUNAGU_PUBLISH_DIR", raising=False)
    return tmp_path / "home"


def _json(capsys) -> dict:
    return json.loads(capsys.readouterr().out)


def test_validate_json_rejected_points_at_each_cell(home, capsys):
    assert main(["ingest", "--kind", "register", str(YAMANASHI_REGISTER)]) == 0
    capsys.readouterr()
    code = main(["validate", "--kind", "home_care_report", "--prefecture", "19", "--fiscal-year", "2025", "--json", str(V1)])
    out = _json(capsys)
    assert code == 1
    assert out["status"] == "rejected"
    assert out["rows"] == 89
    assert [(e["code"], e["severity"], e["sheet"], e["row"], e["column"], e["field"]) for e in out["errors"]] == [
        ("death_sum", "error", "集計表", 8, "I", "deaths_total"),
        ("death_sum", "error", "集計表", 8, "I", "deaths_total"),
        ("check_digit", "error", "集計表", 11, "B", "institution_number"),
        ("not_in_roster", "error", "集計表", 11, "B", "institution_number"),
        ("emergency_exceeds_house_calls", "error", "集計表", 13, "Q", "emergency_house_calls"),
    ]
    assert list(out["errors"][0]) == ["code", "severity", "sheet", "row", "column", "field", "message_ja", "message_en"]
    assert "8行目" in out["errors"][0]["message_ja"] and "I列" in out["errors"][0]["message_ja"]


def test_validate_json_accepted_and_unreadable_exit_codes(home, capsys):
    main(["ingest", "--kind", "register", str(YAMANASHI_REGISTER)])
    capsys.readouterr()
    args = ["validate", "--kind", "home_care_report", "--prefecture", "19", "--fiscal-year", "2025", "--json"]
    assert main([*args, str(V2)]) == 0
    assert _json(capsys) == {"status": "accepted", "rows": 89, "errors": []}
    assert main([*args, str(PDF)]) == 2
    out = _json(capsys)
    assert out["status"] == "unreadable" and out["rows"] == 0
    assert [e["code"] for e in out["errors"]] == ["unsupported_pdf"]


def test_ingest_then_publish_from_the_cli(home, tmp_path, capsys):
    assert main(["ingest", "--kind", "register", str(YAMANASHI_REGISTER)]) == 0
    capsys.readouterr()
    ingest = ["ingest", "--kind", "home_care_report", "--prefecture", "19", "--fiscal-year", "2025"]
    assert main([*ingest, str(V1), str(V2)]) == 1  # the worst outcome sets the exit code
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [o["status"] for o in lines] == ["rejected", "accepted"]
    # The same bytes again are recognised and skipped.
    assert main([*ingest, str(V2)]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "skipped"
    out = tmp_path / "out"
    assert main(["publish", "--fiscal-year", "2025", "--prefecture", "19", "--out", str(out)]) == 0
    package = out / "2025" / "19_yamanashi"
    names = sorted(p.name for p in package.iterdir())
    assert [n for n in names if not re.search(r"_\d{6}\.csv$", n)] == [
        "datapackage.json", "home_care_reports_2025_19.csv", "home_care_reports_2025_19.xlsx", "manifest.json",
    ]
    assert len(names) == 4 + 19  # and one CSV per municipality of 山梨 with data (19 of its 27)


def test_home_care_ingest_requires_prefecture_and_year(home):
    with pytest.raises(SystemExit, match="--prefecture"):
        main(["ingest", "--kind", "home_care_report", str(V2)])


def test_approve_and_cycle_from_the_cli(home, capsys):
    from tests.support.warehouse import add_active_request
    from tsunagu.cycle.releases import ensure_release
    from tsunagu.pipeline import open_warehouse
    from tsunagu.settings import get_settings

    main(["ingest", "--kind", "register", str(YAMANASHI_REGISTER)])
    main(["ingest", "--kind", "home_care_report", "--prefecture", "19", "--fiscal-year", "2025", str(V2)])
    warehouse = open_warehouse()
    add_active_request(warehouse, "19", 2025, "kai-hanako@pref.yamanashi.lg.jp")
    version = ensure_release(warehouse, get_settings(), 2025, "19").version
    capsys.readouterr()

    approve = ["approve", "--fiscal-year", "2025", "--prefecture", "19", "--approver", "ケア課 山田"]
    assert main([*approve, "--version", "0000000000000000"]) == 2
    assert main([*approve, "--version", version]) == 0
    assert main([*approve, "--version", version]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [f"approved: 2025 19 {version} by ケア課 山田", f"already approved: 2025 19 {version} by ケア課 山田"]

    # A dry run plans the day's mails for 山梨 and sends nothing.
    assert main(["cycle", "--day", "2025-11-12", "--prefecture", "19", "--dry-run"]) == 0
    planned = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {(r["kind"], r["status"]) for r in planned} >= {("pre_delivery_notice", "planned"), ("office_request", "planned")}
    assert all(r["status"] != "sent" for r in planned)
