from __future__ import annotations

import os
import stat

from tsunagu.findings import error, warning
from tsunagu.settings import get_settings
from tsunagu.warehouse.archive import archive_raw, archived_path, quarantine, sha256_file


def _settings(tmp_path):
    return get_settings(home=tmp_path / "home", db_url="sqlite://")


def test_archive_is_content_addressed_read_only_and_deduplicated(tmp_path):
    s = _settings(tmp_path)
    src = tmp_path / "報告（茨城）.XLSX"
    src.write_bytes(b"PK\x03\x04 some bytes" * 100_000)
    a = archive_raw(src, s)
    sha = sha256_file(src)
    assert a.sha256 == sha and a.size == src.stat().st_size and a.is_new
    assert a.archive_path == s.archive_dir / "sha256" / sha[:2] / sha[2:4] / f"{sha}.xlsx"
    assert a.archive_path.read_bytes() == src.read_bytes()
    assert stat.S_IMODE(a.archive_path.stat().st_mode) == 0o444
    mtime = a.archive_path.stat().st_mtime_ns

    copy = tmp_path / "same-bytes-other-name.xlsx"
    copy.write_bytes(src.read_bytes())
    b = archive_raw(copy, s)
    assert (b.sha256, b.archive_path, b.is_new) == (sha, a.archive_path, False)
    assert a.archive_path.stat().st_mtime_ns == mtime  # not rewritten
    files = [p for p in (s.archive_dir / "sha256").rglob("*") if p.is_file()]
    assert files == [a.archive_path]  # no temp files left behind
    assert archived_path(sha, s) == a.archive_path

    other = tmp_path / "other.csv"
    other.write_bytes(b"a,b\n1,2\n")
    c = archive_raw(other, s)
    assert c.sha256 != sha and c.archive_path.suffix == ".csv"


def test_quarantine_folder_and_bilingual_reason(tmp_path):
    s = _settings(tmp_path)
    src = tmp_path / "栃木_報告.xlsx"
    src.write_bytes(b"not really xlsx")
    a = archive_raw(src, s)
    findings = [
        error("E_NEGATIVE", "合計診療患者数が負の値です", "total_patients is negative", sheet="集計", row=7, column="L",
              field="total_patients"),
        warning("W_YOY", "前年度から3倍以上の増加", "more than triple last year", sheet="集計", row=9, column="L"),
        error("E_ENCRYPTED", "パスワード付きファイルです", "the file is encrypted"),
    ]
    folder = quarantine(a, findings, s, kind="home_care_report", sender="09", fiscal_year=2025)
    assert folder == s.quarantine_dir / "2025" / "09" / f"{a.sha256[:12]}_栃木_報告.xlsx"
    assert (folder / "栃木_報告.xlsx").read_bytes() == src.read_bytes()
    reason = (folder / "REASON.txt").read_text(encoding="utf-8")
    assert "シート「集計」 7行目 L列" in reason and "sheet '集計', row 7, column L" in reason
    assert "合計診療患者数が負の値です" in reason and "total_patients is negative" in reason
    assert "ファイル全体" in reason and "whole file" in reason
    assert a.sha256 in reason
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.iterdir()}
    assert quarantine(a, findings, s, kind="home_care_report", sender="09", fiscal_year=2025) == folder
    after = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.iterdir()}
    assert before == after
    assert os.listdir(folder) == sorted(os.listdir(folder)) or set(os.listdir(folder)) == {"REASON.txt", "栃木_報告.xlsx"}


def test_quarantine_of_register_without_year_or_sender(tmp_path):
    s = _settings(tmp_path)
    src = tmp_path / "meibo.xlsx"
    src.write_bytes(b"broken")
    a = archive_raw(src, s)
    folder = quarantine(a, [error("E_UNREADABLE", "読めません", "unreadable")], s, kind="register", sender="",
                        fiscal_year=None, original_name="../../meibo.xlsx")
    assert folder == s.quarantine_dir / "register" / "unknown" / f"{a.sha256[:12]}_meibo.xlsx"
    assert (folder / "REASON.txt").exists()
