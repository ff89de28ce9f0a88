"""The ``evaluation`` cycle: each prefecture's analysis of the evaluation results (issue 9 §2, seed 003 ⑦),
released, approved and delivered on the cycle engine like the distribution's data.

Config: ``include/config/cycle/evaluation/<fy>.yaml`` (dates, the 都県事務所 and the prefectures' recipients).

=====================  =========================================  ================================================
kind                   when                                       key
=====================  =========================================  ================================================
(release)              from ``release``, when the warehouse has   a release of dataset ``evaluation``
                       the results of ``evaluation_year`` for     (``releases.dataset``; ``template_version``
                                                                  ``evaluation/<year>`` names the results year)
                       the prefecture
evaluation_notice      from ``pre_delivery_notice``               ``{fy}:evaluation_notice:{pref}:{version}``
evaluation_delivery /  in the delivery window, once the version   ``{fy}:evaluation_delivery:{pref}:{version}``
evaluation_correction  is approved (``tsunagu approve``) and its
                       notice went ≥ lead business days before
=====================  =========================================  ================================================

A release is rebuilt only when its sources change: the sha256 of the national files behind the frames and
of ``include/config/evaluation.yaml``. New results after a delivery give a new version, delivered as 訂正版.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from tsunagu.cycle.engine import ActionResult, Due, Run, open_warehouse_for, plan_and_run, sent_actions
from tsunagu.cycle.schedule import ScheduleError, business_days_between, is_business_day, resolve_date
from tsunagu.settings import Settings, get_settings, include_dir
from tsunagu.yamlfile import read_yaml

CYCLE = "evaluation"
DATASET = "evaluation"
NOTICE, DELIVERY, CORRECTION = "evaluation_notice", "evaluation_delivery", "evaluation_correction"
DELIVERY_KINDS = (DELIVERY, CORRECTION)
KIND_ORDER = (NOTICE, DELIVERY, CORRECTION)


@dataclass(frozen=True)
class EvaluationSchedule:
    fiscal_year: int
    evaluation_year: int
    title_ja: str
    release: dt.date
    pre_delivery_notice: dt.date
    delivery_start: dt.date
    delivery_end: dt.date
    pre_delivery_lead_business_days: int
    max_attach_bytes: int
    sender_ja: str
    offices: dict[str, str] = field(default_factory=dict)
    recipients: dict[str, tuple[str, ...]] = field(default_factory=dict)
    placeholder: bool = False

    def in_delivery_window(self, day: dt.date) -> bool:
        return self.delivery_start <= day <= self.delivery_end


def config_dir() -> Path:
    return include_dir() / "config" / "cycle" / "evaluation"


def load_schedule(fiscal_year: int, path: Path | None = None) -> EvaluationSchedule:
    path = path or config_dir() / f"{fiscal_year}.yaml"
    if not path.is_file():
        raise ScheduleError(f"評価結果の分析の{fiscal_year}年度の設定がありません / no evaluation cycle config: {path}")
    data = read_yaml(path) or {}
    fy = int(data.get("fiscal_year", fiscal_year))
    try:
        m = data["milestones"]
        day = {k: resolve_date(m[k], fy)[1] for k in ("release", "pre_delivery_notice")}
        start, end = resolve_date(m["delivery_window"]["start"], fy)[1], resolve_date(m["delivery_window"]["end"], fy)[1]
    except KeyError as exc:
        raise ScheduleError(f"{path}: {exc.args[0]} がありません / missing {exc.args[0]}") from None
    recipients = {str(k).zfill(2): tuple([v] if isinstance(v, str) else v) for k, v in (data.get("recipients") or {}).items()}
    return EvaluationSchedule(
        fiscal_year=fy, evaluation_year=int(data.get("evaluation_year", fy)), title_ja=str(data.get("title_ja", "")),
        release=day["release"], pre_delivery_notice=day["pre_delivery_notice"], delivery_start=start,
        delivery_end=end, pre_delivery_lead_business_days=int(data.get("pre_delivery_lead_business_days", 1)),
        max_attach_bytes=int(data.get("max_attach_bytes", 10_000_000)), sender_ja=str(data.get("sender_ja", "")),
        offices={str(k).zfill(2): v for k, v in (data.get("offices") or {}).items()}, recipients=recipients,
        placeholder=bool(data.get("placeholder", False)),
    )


def active_years(day: dt.date) -> list[int]:
    """Configured cycle years whose calendar covers ``day`` (release date ≤ day ≤ end of the delivery window)."""
    years = []
    for path in sorted(config_dir().glob("*.yaml")):
        if path.stem.isdigit():
            s = load_schedule(int(path.stem), path)
            if s.release <= day <= s.delivery_end:
                years.append(s.fiscal_year)
    return years


def years_to_run(day: dt.date, fiscal_year: int | None = None) -> tuple[list[int], str | None]:
    """The cycle years a run of ``day`` handles, and the skip message when there is none (nothing configured).

    Kept light (no warehouse, no pandas): the DAG's planning task calls it."""
    if fiscal_year is not None:
        if (config_dir() / f"{int(fiscal_year)}.yaml").is_file():
            return [int(fiscal_year)], None
        return [], (f"{fiscal_year}年度の評価結果の分析は設定がありません (config/cycle/evaluation/{fiscal_year}.yaml がない)。"
                    f"何もしません / nothing configured for the fiscal year {fiscal_year} evaluation cycle "
                    f"(config/cycle/evaluation/{fiscal_year}.yaml is missing): nothing to do")
    years = active_years(day)
    if years:
        return years, None
    return [], (f"{day} に期間中の評価結果の分析はありません。何もしません / "
                f"no evaluation cycle is open on {day}: nothing to do")


# ----------------------------------------------------------------------------- releases
def _sources(frames: dict[str, Any], prefecture_code: str) -> tuple[str, ...]:
    """What the analysis is made of: the national files (sha256) and the analysis config."""
    from tsunagu.evaluation.config import config_path

    files = sorted({str(s) for s in frames["insurers"]["source_sha256"].dropna()})
    cfg = config_path()
    digest = hashlib.sha256(cfg.read_bytes()).hexdigest() if cfg.is_file() else ""
    return (*files, f"config:{digest}")


def _build(frames: dict[str, Any], s: EvaluationSchedule, pref: str, folder: Path, cache: dict[str, Any]) -> Any:
    from tsunagu.evaluation.analysis import prepare
    from tsunagu.evaluation.config import load_config
    from tsunagu.publish.evaluation_workbook import publish_prefecture

    if "scores" not in frames:  # only the insurers were read: now the whole frames, once per run
        if "frames" not in cache:
            cache["frames"] = cache["load"]()
        frames = cache["frames"]
    if "prepared" not in cache:  # the national part once per run, whatever the number of prefectures rebuilt
        cache["prepared"] = prepare(frames, s.evaluation_year)
    return publish_prefecture(frames, s.evaluation_year, pref, folder, load_config(), cache["prepared"])


def ensure_release(warehouse: Any, settings: Settings, s: EvaluationSchedule, pref: str,
                   frames: dict[str, Any], *, dry_run: bool = False, cache: dict[str, Any] | None = None,
                   ) -> tuple[str, Any]:
    """(version, Release or None): the latest release while its sources are current, else a new one
    (a dry run only computes the version, in a throw-away folder)."""
    from tsunagu.cycle.releases import (
        compute_version,
        get_release,
        keep_release,
        latest_release,
        package_files,
        releases_root,
    )
    from tsunagu.jurisdiction import load_jurisdiction

    sources = _sources(frames, pref)
    latest = latest_release(warehouse, s.fiscal_year, pref, dataset=DATASET) if warehouse is not None else None
    if latest is not None and latest.sources == sources:
        return latest.version, latest
    root = releases_root(settings)
    scratch_parent = root / ".scratch"
    scratch_parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=scratch_parent) as scratch:
        package = _build(frames, s, pref, Path(scratch), cache if cache is not None else {})
        if dry_run:
            version = compute_version(package_files(package))
            return version, get_release(warehouse, s.fiscal_year, pref, version) if warehouse is not None else None
        folder = root / DATASET / str(s.fiscal_year) / load_jurisdiction().get(pref).package_name
        release = keep_release(warehouse, s.fiscal_year, pref, package, folder, sources=sources,
                               template_version=f"{DATASET}/{s.evaluation_year}", dataset=DATASET,
                               delivery_kinds=DELIVERY_KINDS)
    return release.version, release


# ----------------------------------------------------------------------------- mails
def _footer(s: EvaluationSchedule) -> str:
    return f"\n--\n{s.sender_ja}\n※本メールは tsunagu（評価結果の分析資料の提供）から送信しています。ご不明な点は本メールにご返信ください。\n"


def _files(release: Any) -> str:
    return "\n".join(f"  ・{n}（SHA-256 {h[:16]}…）" for n, h in sorted(release.data_files.items()))


def notice_message(s: EvaluationSchedule, pref: Any, release: Any, correction: bool) -> tuple[str, str]:
    from tsunagu.cycle.messages import fiscal_year_ja

    what = "訂正版の" if correction else ""
    subject = (f"【事前共有】{fiscal_year_ja(s.evaluation_year)} 保険者機能強化推進交付金等 評価結果の分析資料の"
               f"{what}{pref.name_ja}への提供について（版 {release.version}）")
    body = (
        f"{pref.office_ja} ご担当者様\n\n{s.sender_ja}です。\n"
        f"{fiscal_year_ja(s.evaluation_year)}の保険者機能強化推進交付金・介護保険保険者努力支援交付金の評価結果を"
        f"経年比較し、{pref.name_ja}の市町村について分析した資料を作成しました。{pref.name_ja}へ提供する前に共有いたします。\n\n"
        f"■ 提供資料（版 {release.version}、{release.rows}市町村）\n{_files(release)}\n"
        f"■ 提供先\n" + "\n".join(f"  ・{a}" for a in s.recipients.get(pref.code, ())) + "\n\n"
        "内容に誤り等がございましたら、本メールにご返信ください。当課での確認（承認）後に上記の提供先へ送付いたします。\n"
        + _footer(s)
    )
    return subject, body


def delivery_message(s: EvaluationSchedule, pref: Any, release: Any, previous: str | None) -> tuple[str, str]:
    from tsunagu.cycle.messages import fiscal_year_ja

    fy = fiscal_year_ja(s.evaluation_year)
    tag = "【訂正版】" if previous else ""
    subject = f"{tag}{fy} 保険者機能強化推進交付金等 評価結果の分析資料の送付について（{pref.name_ja}）"
    intro = (f"先にお送りした分析資料（版 {previous}）について、評価結果の更新がありましたので訂正版をお送りいたします。"
             "先の資料に替えてご利用ください。\n" if previous else
             f"{fy}の保険者機能強化推進交付金・介護保険保険者努力支援交付金の評価結果を経年比較し、"
             f"貴都県の市町村について分析した資料をお送りいたします。\n")
    body = (
        f"{pref.name_ja} 介護保険担当課 ご担当者様\n\nいつもお世話になっております。{s.sender_ja}です。\n\n{intro}\n"
        f"■ 資料（版 {release.version}、{release.rows}市町村）\n{_files(release)}\n"
        "  Excel（概要・市町村別得点・市町村別推移・目標別推移・未達成指標・著しく低い市町村、グラフ付き）と"
        "CSV は同じ数値です。datapackage.json はデータの定義、manifest.json は各ファイルのSHA-256です。\n\n"
        "■ ご利用にあたって\n"
        "  ・資料には貴都県の市町村のみが含まれます（全国の数値は平均などの集計値のみ）。\n"
        "  ・配点2,185点の年度（令和5年度まで）は400点満点の年度と比較できないため、推移に含めていません。\n"
        + _footer(s)
    )
    return subject, body


def _mail(**kwargs: Any) -> Any:
    from tsunagu.deliver import Mail

    return Mail(**kwargs)


# ----------------------------------------------------------------------------- planning
@dataclass
class _State(Run):
    schedule: EvaluationSchedule | None = None
    frames: dict[str, Any] | None = None
    cache: dict[str, Any] = field(default_factory=dict)


def _plan_prefecture(st: _State, pref_code: str) -> tuple[list[Due], list[ActionResult]]:
    from tsunagu.cycle.approvals import approval_of
    from tsunagu.cycle.releases import delivered_versions
    from tsunagu.jurisdiction import load_jurisdiction

    s, day, fy = st.schedule, st.day, st.fy
    pref = load_jurisdiction().get(pref_code)
    due: list[Due] = []
    notes: list[ActionResult] = []
    if day < s.release or day > s.delivery_end:
        return due, notes
    ins = st.frames["insurers"] if st.frames is not None else None
    if ins is None or not ((ins["fiscal_year"] == s.evaluation_year) & (ins["prefecture_code"] == pref_code)).any():
        notes.append(st.waiting(DELIVERY, pref_code, f"{s.evaluation_year}年度の評価結果が取り込まれていません / "
                                                     f"no evaluation results for {s.evaluation_year} yet"))
        return due, notes
    version, release = ensure_release(st.warehouse, st.settings, s, pref_code, st.frames, dry_run=st.dry_run,
                                      cache=st.cache)
    delivered = delivered_versions(st.warehouse, fy, pref_code, kinds=DELIVERY_KINDS) if st.warehouse else []
    delivered_set = {v for v, _ in delivered}
    delivery_key = f"{fy}:{DELIVERY}:{pref_code}:{version}"
    if version in delivered_set or delivery_key in st.sent:
        return due, notes
    correction = bool(delivered_set)
    kind = CORRECTION if correction else DELIVERY
    office = s.offices.get(pref_code)
    notice_key = f"{fy}:{NOTICE}:{pref_code}:{version}"
    if day >= s.pre_delivery_notice and office and (release is not None or st.dry_run):
        def build_notice(release=release) -> Any:
            subject, body = notice_message(s, pref, release, correction)
            return _mail(key=notice_key, kind=NOTICE, fiscal_year=fy, to=(office,), subject=subject, body=body,
                         prefecture_code=pref_code, data_version=release.version)
        due.append(Due(NOTICE, notice_key, pref_code, build_notice, version, (office,)))
    if not s.in_delivery_window(day):
        notes.append(st.waiting(kind, pref_code, f"提供期間（{s.delivery_start}〜{s.delivery_end}）外です / "
                                                 "outside the delivery window", key=delivery_key, version=version))
        return due, notes
    if st.warehouse is None or approval_of(st.warehouse, fy, pref_code, version) is None:
        notes.append(st.waiting(kind, pref_code, f"版 {version} の承認待ち（tsunagu approve --fiscal-year {fy} "
                                                 f"--prefecture {pref_code} --version {version}） / waiting for the "
                                                 f"approval of version {version}", key=delivery_key, version=version))
        return due, notes
    lead = s.pre_delivery_lead_business_days
    if office:
        notice_day = st.sent.get(notice_key)
        if notice_day is None or business_days_between(notice_day, day) < lead:
            notes.append(st.waiting(kind, pref_code, f"都県事務所への事前共有から{lead}営業日後に送付します / "
                                                     f"sent {lead} business day(s) after the notice to the office",
                                    key=delivery_key, version=version))
            return due, notes
    recipients = s.recipients.get(pref_code, ())
    if not recipients:
        notes.append(st.waiting(kind, pref_code, "提供先（recipients）が設定されていません / no recipients configured",
                                key=delivery_key, version=version))
        return due, notes

    def build_delivery(release=release) -> Any:
        previous = delivered[-1][0] if correction else None
        subject, body = delivery_message(s, pref, release, previous)
        return _mail(key=delivery_key, kind=kind, fiscal_year=fy, to=recipients, subject=subject, body=body,
                     attachments=tuple(release.paths()), prefecture_code=pref_code, data_version=release.version,
                     scope_prefecture=pref_code, allowed_recipients=frozenset(recipients))
    due.append(Due(kind, delivery_key, pref_code, build_delivery, version, recipients))
    return due, notes


def run_evaluation_cycle_day(
    day: dt.date, *, fiscal_year: int | None = None, prefectures: Iterable[str] | None = None,
    settings: Settings | None = None, warehouse: Any = None, conn_id: str = "smtp_default", dry_run: bool = False,
    now: dt.datetime | None = None,
) -> list[ActionResult]:
    """Do what the evaluation cycle has due on or before ``day``, exactly once (see the module docstring)."""
    from tsunagu.jurisdiction import load_jurisdiction

    if isinstance(day, dt.datetime):
        day = day.date()
    settings = settings or get_settings()
    years = [fiscal_year] if fiscal_year is not None else active_years(day)
    results: list[ActionResult] = []
    if not years:
        return results
    if not is_business_day(day):
        return [ActionResult("day", years[0], day, "skipped", detail="閉庁日のため送信しません / closed day: nothing is sent",
                             cycle=CYCLE)]
    for fy in years:
        s = load_schedule(fy)
        wh = open_warehouse_for(settings, warehouse, dry_run)
        st = _State(CYCLE, s.fiscal_year, day, wh, settings, dry_run, s.max_attach_bytes, schedule=s)
        if day < s.release:
            continue
        if wh is not None:
            from tsunagu.warehouse.evaluation import load_frames

            st.sent = sent_actions(wh, s.fiscal_year)
            # the insurers (small) say whether there are results and which files they came from; the
            # scores are read only when a release is (re)built (_build), not on every day of the cycle
            st.frames = load_frames(wh, up_to=s.evaluation_year, frames=("insurers",))
            st.cache["load"] = lambda wh=wh, year=s.evaluation_year: load_frames(wh, up_to=year)
        wanted = [p for p in sorted(load_jurisdiction().prefectures) if not prefectures or p in set(prefectures)]
        for pref in wanted:  # one prefecture's analysis failing never stops the others
            results += plan_and_run(st, partial(_plan_prefecture, st, pref), pref, KIND_ORDER, conn_id, now)
    return results
