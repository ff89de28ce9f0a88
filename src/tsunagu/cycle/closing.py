"""The closing report (完了報告) of a year's cycle: who was served, when, with which version and sha256;
who was reminded; what is still open.

Written to ``$TSUNAGU_HOME/reports/cycle/<fy>/closing_report.md`` (people) and ``closing_report.csv``
(UTF-8 with BOM, one row per prefecture, for Excel), and mailed to the division by the planner.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tsunagu.cycle.messages import fiscal_year_ja, wareki
from tsunagu.cycle.planner import KIND_ORDER
from tsunagu.settings import Settings, get_settings
from tsunagu.warehouse.cycle import as_date, loads, table

KIND_JA = {
    "office_request": "都県事務所へのデータ提供依頼",
    "prefecture_notice": "都県への案内（依頼書様式）",
    "office_reminder": "都県事務所へのデータ督促",
    "request_reminder": "都県への依頼書督促",
    "pre_delivery_notice": "都県事務所への事前共有",
    "delivery": "データ提供",
    "correction": "訂正版の提供",
    "closing_report": "完了報告",
}
DATE_JA = {
    "office_request": "都県事務所へ提供依頼", "prefecture_notice": "都県へ案内", "request_deadline": "依頼書の期限",
    "office_data_deadline": "事務所データの期限", "office_data_reminder": "事務所への督促",
    "request_reminder": "依頼書の督促", "pre_delivery_notice": "事前共有の開始", "delivery_start": "提供開始",
    "delivery_end": "提供期限", "closing_report": "完了報告",
}
CSV_COLUMNS = (
    "都道府県コード", "都道府県", "依頼書", "提供先所属", "提供先担当者", "提供先メール", "事務所データ", "件数",
    "最新版", "承認者", "承認日時(JST)", "提供版", "提供種別", "提供日", "提供ファイルSHA-256", "督促", "未了事項",
)


@dataclass
class ClosingReport:
    fiscal_year: int
    day: dt.date
    text: str
    rows: list[dict[str, str]]
    open_items: list[str]
    files: dict[str, Path] = field(default_factory=dict)


def _jst(value: dt.datetime) -> str:
    """Stored timestamps are UTC without a zone; people read JST."""
    return (value + dt.timedelta(hours=9)).strftime("%Y-%m-%d %H:%M")


def _actions(warehouse: Any, fiscal_year: int) -> list[dict[str, Any]]:
    a = table(warehouse, "cycle_actions")
    # Only the distribution cycle's actions: the grant cycles log theirs in the same table.
    q = (sa.select(a).where(a.c.fiscal_year == fiscal_year, a.c.kind.in_(KIND_ORDER))
         .order_by(a.c.cycle_day, a.c.action_key))
    with warehouse.read() as conn:
        return [dict(r) for r in conn.execute(q).mappings()]


def build_closing_report(warehouse: Any, schedule: Any, day: dt.date) -> ClosingReport:
    from tsunagu.cycle.approvals import list_approvals
    from tsunagu.cycle.releases import list_releases
    from tsunagu.jurisdiction import load_jurisdiction
    from tsunagu.warehouse.requests import active_requests

    fy = schedule.fiscal_year
    jur = load_jurisdiction()
    requests = active_requests(warehouse, fy, dataset=schedule.dataset)
    data = set(warehouse.report_prefectures(fy))
    statuses: dict[str, set[str]] = {}
    for o in warehouse.outcomes(kind="home_care_report", fiscal_year=fy):
        statuses.setdefault(o["sender"], set()).add(o["status"])
    releases = {}
    for r in list_releases(warehouse, fy):
        releases[r.prefecture_code] = r  # ordered by head_seq: the last one is the latest
    by_version = {(r.prefecture_code, r.version): r for r in list_releases(warehouse, fy)}
    approvals = {(a.prefecture_code, a.version): a for a in list_approvals(warehouse, fy)}
    actions = _actions(warehouse, fy)

    rows, open_items, served, reminded = [], [], [], []
    for code, pref in jur.prefectures.items():
        mine = [a for a in actions if a["prefecture_code"] == code]
        deliveries = [a for a in mine if a["kind"] in ("delivery", "correction") and a["status"] == "sent"]
        reminders = [a for a in mine if a["kind"] in ("office_reminder", "request_reminder") and a["status"] == "sent"]
        failed = [a for a in mine if a["status"] in ("failed", "blocked")]
        request = requests.get(code)
        latest = releases.get(code)
        approval = approvals.get((code, latest.version)) if latest else None
        last = deliveries[-1] if deliveries else None
        issues = []
        if request is None:
            issues.append("依頼書なし（提供対象外）")
        elif code not in data:
            issues.append("事務所データ未受理" + ("（不受理あり）" if statuses.get(code, set()) & {"rejected", "unreadable"} else ""))
        elif latest is None:
            issues.append("提供データ未作成")
        elif last is None or last["version"] != latest.version:
            issues.append("承認待ち" if approval is None else "提供待ち")
            issues[-1] += f"（版 {latest.version}）"
        for a in failed:
            issues.append(f"{KIND_JA.get(a['kind'], a['kind'])}の送信{('失敗' if a['status'] == 'failed' else '停止')}"
                          f"（{a['action_key']}）")
        if request is not None and issues:
            open_items += [f"{code} {pref.name_ja}: {i}" for i in issues]
        elif failed:
            open_items += [f"{code} {pref.name_ja}: {i}" for i in issues if "送信" in i]
        for d in deliveries:
            rel = by_version.get((code, d["version"]))
            served.append((code, pref.name_ja, d, rel, loads(d["recipients"], [])))
        for r in reminders:
            reminded.append((code, pref.name_ja, r))
        delivered_rel = by_version.get((code, last["version"])) if last else None
        rows.append({
            "都道府県コード": code, "都道府県": pref.name_ja, "依頼書": "あり" if request else "なし",
            "提供先所属": request.department if request else "", "提供先担当者": request.contact_name if request else "",
            "提供先メール": "; ".join(request.recipients) if request else "",
            "事務所データ": "受理" if code in data else ("不受理" if statuses.get(code) else "未着"),
            "件数": str(latest.rows) if latest else "", "最新版": latest.version if latest else "",
            "承認者": approval.approver if approval else "",
            "承認日時(JST)": _jst(approval.approved_at) if approval else "",
            "提供版": last["version"] if last else "", "提供種別": KIND_JA.get(last["kind"], "") if last else "",
            "提供日": str(as_date(last["cycle_day"]) or "") if last else "",
            "提供ファイルSHA-256": "; ".join(f"{n}={h}" for n, h in sorted(delivered_rel.data_files.items()))
            if delivered_rel else "",
            "督促": "; ".join(f"{as_date(r['cycle_day'])} {KIND_JA[r['kind']]}" for r in reminders),
            "未了事項": "; ".join(issues if request is not None else [i for i in issues if "送信" in i]),
        })

    lines = [
        f"# {fiscal_year_ja(fy)} 定例報告の情報提供 完了報告（{wareki(day)}現在）", "",
        f"提供した都県: {len({s[0] for s in served})}／依頼のあった都県: {len(requests)}／管内: {len(jur.prefectures)}", "",
        "## 日程", "", "| 項目 | 日付 |", "|---|---|",
        *[f"| {DATE_JA.get(k, k)} | {wareki(v)} |" for k, v in schedule.dates().items()], "",
        "## 提供実績", "",
    ]
    if served:
        lines += ["| 都県 | 種別 | 提供日 | 版 | 件数 | 宛先 |", "|---|---|---|---|---|---|"]
        for code, name, d, rel, to in served:
            lines.append(f"| {code} {name} | {KIND_JA[d['kind']]} | {as_date(d['cycle_day'])} | {d['version']} | "
                         f"{rel.rows if rel else ''} | {', '.join(to)} |")
        lines += ["", "### 提供ファイルの SHA-256", ""]
        for code, name, d, rel, _ in served:
            if rel is None:
                continue
            lines.append(f"- {code} {name} 版 {d['version']}")
            lines += [f"  - {n}: `{h}`" for n, h in sorted(rel.data_files.items())]
    else:
        lines.append("（提供実績なし）")
    lines += ["", "## 督促", ""]
    if reminded:
        lines += ["| 都県 | 種別 | 送信日 | 宛先 |", "|---|---|---|---|"]
        lines += [f"| {c} {n} | {KIND_JA[r['kind']]} | {as_date(r['cycle_day'])} | {', '.join(loads(r['recipients'], []))} |"
                  for c, n, r in reminded]
    else:
        lines.append("（督促なし）")
    lines += ["", "## 未了事項", ""]
    lines += [f"- {i}" for i in open_items] or ["（なし）"]
    no_request = [f"{c} {p.name_ja}" for c, p in jur.prefectures.items() if c not in requests]
    lines += ["", "## 依頼書の提出がなかった都県（提供対象外）", "", ("、".join(no_request) or "（なし）"), ""]
    return ClosingReport(fy, day, "\n".join(lines), rows, open_items)


def closing_report_dir(settings: Settings | None, fiscal_year: int) -> Path:
    return (settings or get_settings()).reports_dir / "cycle" / str(fiscal_year)


def write_closing_report(warehouse: Any, schedule: Any, day: dt.date, *, settings: Settings | None = None) -> ClosingReport:
    report = build_closing_report(warehouse, schedule, day)
    out = closing_report_dir(settings, schedule.fiscal_year)
    out.mkdir(parents=True, exist_ok=True)
    md, csv_path = out / "closing_report.md", out / "closing_report.csv"
    md.write_text(report.text + "\n", encoding="utf-8")
    buf = io.StringIO(newline="")
    w = csv.DictWriter(buf, fieldnames=list(CSV_COLUMNS), lineterminator="\r\n")
    w.writeheader()
    for row in report.rows:
        w.writerow({k: ("'" + v if v.startswith(("=", "+", "-", "@")) else v) for k, v in row.items()})
    csv_path.write_bytes(b"\xef\xbb\xbf" + buf.getvalue().encode("utf-8"))
    report.files = {"md": md, "csv": csv_path}
    return report
