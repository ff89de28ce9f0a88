"""The rerun preview: what ``ingest_submissions`` and ``publish_home_care_reports`` would do with given params.

It runs the same landing scan as the DAG (:func:`tsunagu.pipeline.scan_landing`) and the same "already processed"
check as :func:`tsunagu.flows.base.begin_submission` (the file's sha256 against the submissions registry), on
the existing warehouse only. It archives, registers, parses and writes nothing: a preview of a home without a
warehouse says every file is new.

Packages: the (fiscal year, prefecture) pairs :func:`tsunagu.pipeline.plan_publication` would plan with the same
params (those with accepted rows), plus the pairs of home-care files that would be processed and have no
package yet (published only if the file is accepted).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tsunagu.settings import Settings, get_settings


def _decision(warehouse: Any, kind: str, sha: str, sender: str | None, fiscal_year: int | None, force: bool,
              registers: dict[str, dict[str, Any]]) -> tuple[str, str | None, str, str]:
    """-> (action, previous status, reason_ja, reason_en); action is ``process`` or ``skip``."""
    from tsunagu.flows.base import processed

    if warehouse is None:
        return "process", None, "新しいファイル（倉庫はまだありません）", "new file (no warehouse yet)"
    if kind == "register":  # its sender is read from the file: matched on the bytes alone, as the flow does
        done = registers.get(sha)
    else:
        done = warehouse.get_submission(kind=kind, sha256=sha, sender=sender or "", fiscal_year=fiscal_year)
    if done is None:
        return "process", None, "新しいファイル", "new file"
    previous = done["status"]
    if force:
        return "process", previous, f"強制再処理（前回: {previous}）", f"forced (was {previous})"
    if kind == "register" or processed(done):
        return "skip", previous, f"処理済み（{previous}）", f"already processed as {previous}"
    return "process", previous, "前回の処理が完了していません", "an earlier run did not finish it"


def rerun_preview(fiscal_year: int | None = None, prefectures: list[str] | None = None, force: bool = False, *,
                  settings: Settings | None = None) -> dict[str, Any]:
    """The files a rerun would reprocess (and skip), and the packages it would rewrite. Writes nothing."""
    from tsunagu.board.data import board_warehouse
    from tsunagu.flows.base import processed
    from tsunagu.jurisdiction import load_jurisdiction
    from tsunagu.pipeline import scan_landing
    from tsunagu.warehouse.archive import file_sha256

    settings = settings or get_settings()
    prefectures = sorted({str(p).zfill(2) for p in prefectures or []})
    jurisdiction = load_jurisdiction()
    for code in prefectures:
        jurisdiction.get(code)  # KeyError: a code outside the jurisdiction
    landing = settings.landing_dir
    warehouse = board_warehouse(settings)
    try:
        registers = {}
        if warehouse is not None:
            registers = {o["sha256"]: o for o in warehouse.outcomes(kind="register") if processed(o)}
        files = []
        for item in scan_landing(landing, fiscal_year=fiscal_year, prefectures=prefectures or None):
            path = Path(item.path)
            sha = file_sha256(path)
            action, previous, reason_ja, reason_en = _decision(
                warehouse, item.kind, sha, item.prefecture_code, item.fiscal_year, force, registers)
            files.append({
                "kind": item.kind, "path": path.relative_to(landing).as_posix(), "sha256": sha,
                "prefecture_code": item.prefecture_code, "fiscal_year": item.fiscal_year, "action": action,
                "previous_status": previous, "reason_ja": reason_ja, "reason_en": reason_en,
            })
        scopes = warehouse.report_scopes() if warehouse is not None else []
        planned = {(fy, pref) for fy, pref in scopes
                   if (fiscal_year is None or fy == fiscal_year) and (not prefectures or pref in prefectures)}
        incoming = {(f["fiscal_year"], f["prefecture_code"]) for f in files
                    if f["kind"] == "home_care_report" and f["action"] == "process"}
        packages = []
        for fy, pref in sorted(planned | incoming):
            target = settings.publish_dir / str(fy) / jurisdiction.get(pref).package_name
            exists = target.is_dir()
            when = ("再作成", "rewritten") if exists else ("作成", "built")
            if (fy, pref) not in planned:
                when = ("受理された場合に作成", "built if the file is accepted")
            packages.append({
                "fiscal_year": fy, "prefecture_code": pref, "name_ja": jurisdiction.get(pref).name_ja,
                "dir": target.relative_to(settings.publish_dir).as_posix(), "exists": exists,
                "when_ja": when[0], "when_en": when[1],
            })
        return {
            "params": {"fiscal_year": fiscal_year, "prefectures": prefectures, "force": force},
            "files": files,
            "reprocess": sum(f["action"] == "process" for f in files),
            "skip": sum(f["action"] == "skip" for f in files),
            "publication_triggered": bool(incoming),
            "packages": packages,
        }
    finally:
        if warehouse is not None:
            warehouse.dispose()
