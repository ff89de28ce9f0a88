"""tsunagu evaluation analyse: the warehouse → one package per prefecture (issue 9 §3)."""

from __future__ import annotations

import pytest

from .builders import load_into_warehouse, sample_frames


@pytest.fixture
def stored(warehouse_url, tmp_path, monkeypatch):
    from tsunagu.pipeline import open_warehouse
    from tsunagu.settings import get_settings

    monkeypatch.setenv("TSUNAGU_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TSUNAGU_DB_URL", warehouse_url)
    wh = open_warehouse(get_settings())
    load_into_warehouse(wh, sample_frames(), "c" * 64)
    wh.dispose()
    return tmp_path


def test_analyse_every_prefecture_with_results(stored, capsys):
    from tsunagu.cli import main

    out = stored / "out"
    assert main(["evaluation", "analyse", "--fiscal-year", "2025", "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"2025 11: 3 municipalities -> {out / '2025' / '11_saitama'}",
                     f"2025 12: 2 municipalities -> {out / '2025' / '12_chiba'}"]
    ws_rows = (out / "2025" / "12_chiba" / "evaluation_2025_12_scores.csv").read_text(encoding="utf-8-sig")
    assert "2025,12,121001,千葉市,combined,total,true,50,50,1,1,1,10," in ws_rows
    assert "さいたま市" not in ws_rows


def test_analyse_one_prefecture_and_the_refusals(stored, capsys):
    from tsunagu.cli import main

    out = stored / "out"
    assert main(["evaluation", "analyse", "--fiscal-year", "2025", "--prefecture", "11", "--out", str(out)]) == 0
    assert [p.name for p in (out / "2025").iterdir() if not p.name.startswith(".")] == ["11_saitama"]
    assert main(["evaluation", "analyse", "--fiscal-year", "2025", "--prefecture", "13", "--out", str(out)]) == 1
    assert "no evaluation results for prefecture 13 in 2025" in capsys.readouterr().err
    assert main(["evaluation", "analyse", "--fiscal-year", "2025", "--prefecture", "27", "--out", str(out)]) == 2
    assert "prefecture 27 is not in the jurisdiction" in capsys.readouterr().err
    assert main(["evaluation", "analyse", "--fiscal-year", "2027", "--out", str(out)]) == 1
    assert "no evaluation results for 2027" in capsys.readouterr().err
