"""The typed Params of the trigger forms, shared by the DAGs, and the check of a run's conf.

Parse time stays cheap: airflow.sdk.Param, the standard library and one read of jurisdiction.yaml
(the prefectures of the multi-select). jsonschema and the exceptions are imported when a run checks.
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from airflow.sdk import Param

TOKYO = ZoneInfo("Asia/Tokyo")
# The keys that hold prefecture codes, checked against the jurisdiction with a readable message.
PREFECTURE_KEYS = ("prefectures", "prefecture")


def current_fiscal_year(now: dt.datetime | None = None) -> int:
    """The 年度 of ``now`` (default: this moment) in Asia/Tokyo; it starts on 1 April."""
    day = (now or dt.datetime.now(dt.UTC)).astimezone(TOKYO).date()
    return day.year if day.month >= 4 else day.year - 1


def _prefectures() -> dict[str, str]:
    """code -> Japanese name, in code order, from include/config/jurisdiction.yaml."""
    from tsunagu.jurisdiction import load_jurisdiction

    prefs = load_jurisdiction().prefectures
    return {code: prefs[code].name_ja for code in sorted(prefs)}


def _choices() -> dict[str, Any]:
    """The jurisdiction's codes as form choices ("11 埼玉県"), validated by ``enum``."""
    names = _prefectures()
    return {"enum": list(names), "values_display": {c: f"{c} {n}" for c, n in names.items()}}


def fiscal_year_param(empty_means: str = "すべての年度 / every year found") -> Param:
    # The default only pre-fills the form; see run_params for runs whose conf has no fiscal year.
    ja, en = empty_means.split(" / ")
    return Param(
        current_fiscal_year(), type=["null", "integer"], minimum=2020, maximum=2100,
        title="報告年度 / Fiscal year",
        description=f"西暦の年度 (例 2025)。既定は今年度 (4月始まり)。空欄: {ja}。定期実行では常に空欄扱い / "
                    f"Western fiscal year; the form proposes the current one (April start). Empty means {en}; "
                    f"scheduled and Asset-triggered runs always run as empty.",
    )


def prefectures_param() -> Param:
    choices = _choices()
    # type array+null: not required, and the form's multi-select sends null when nothing is chosen.
    # examples (not enum) make the form show a multi-select. Codes are not an enum of the schema: a
    # code outside the jurisdiction (from the API or the JSON conf) fails check_params with a bilingual
    # message, where an enum would answer with jsonschema's English text.
    return Param(
        [], type=["null", "array"], items={"type": "string", "pattern": "^[0-9]{2}$"}, uniqueItems=True,
        examples=choices["enum"], values_display=choices["values_display"],
        title="都県 / Prefectures",
        description="管轄の都県から選ぶ。未選択: すべて / Choose among the bureau's prefectures; none means all.",
    )


def prefecture_param() -> Param:
    """One prefecture, required (a drop-down of the jurisdiction's prefectures)."""
    return Param(type="string", **_choices(), title="都県 / Prefecture")


def dry_run_param(does: str = "検証とレポートのみ。DBや公開ファイルには書き込まない / Validate and report only; write nothing.") -> Param:
    return Param(False, type="boolean", title="ドライラン / Dry run", description=does)


def rerun_params() -> dict[str, Param]:
    return {
        "fiscal_year": fiscal_year_param(),
        "prefectures": prefectures_param(),
        "dry_run": dry_run_param(),
        "force": Param(
            False, type="boolean", title="再処理 / Force",
            description="処理済みのファイルも再処理する / Reprocess files that were already processed.",
        ),
    }


def run_params(params: Mapping[str, Any], conf: Mapping[str, Any] | None) -> dict[str, Any]:
    """The params a run acts on.

    The fiscal year's default (the current one) only pre-fills the trigger form, which always sends
    it. A run whose conf names no fiscal year (scheduled, Asset-triggered, an API call without it)
    keeps the meaning of an empty one: a scheduled ingest in April must still take March's files
    of the year before.
    """
    out = dict(params)
    out["fiscal_year"] = (conf or {}).get("fiscal_year")
    out["prefectures"] = out.get("prefectures") or []
    return out


def _split(label: str) -> tuple[str, str]:
    ja, _, en = label.partition(" / ")
    return ja, en or ja


def check_conf(conf: Mapping[str, Any] | None, spec: Mapping[str, Any]) -> list[str]:
    """Bilingual messages (Japanese / English) for what is wrong in a run's conf; empty when it is fine.

    ``spec`` maps each param name to its ``Param`` (or its JSON schema). Checked: unknown keys
    (with the nearest known one), prefecture codes outside the jurisdiction, then each value
    against its schema.
    """
    import jsonschema

    conf = dict(conf or {})
    known = list(spec)
    problems = []
    for key in sorted(k for k in conf if k not in spec):
        near = difflib.get_close_matches(key, known, n=1)
        ja = f"（{near[0]} の誤りでは？）" if near else ""
        en = f" (did you mean {near[0]!r}?)" if near else ""
        problems.append(f"不明な項目 {key!r} です{ja}。使える項目: {', '.join(known)} / "
                        f"Unknown key {key!r}{en}; known keys: {', '.join(known)}")
    for key in known:
        if key not in conf:
            continue
        value, schema = conf[key], getattr(spec[key], "schema", spec[key])
        ja_title, en_title = _split(schema.get("title") or key)
        if key in PREFECTURE_KEYS and value is not None:
            names = _prefectures()
            codes = [value] if isinstance(value, str) else value if isinstance(value, list) else []
            outside = [c for c in codes if isinstance(c, str) and c not in names]
            if outside:
                allowed = ", ".join(f"{c} {n}" for c, n in names.items())
                problems.append(f"{ja_title}: {', '.join(outside)} は管轄外の都県コードです（管轄: {allowed}） / "
                                f"{en_title}: {', '.join(outside)} not in the jurisdiction (allowed: {', '.join(names)})")
                continue
        error = jsonschema.exceptions.best_match(
            jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker()).iter_errors(value))
        if error is not None:
            problems.append(f"{ja_title}: 値 {value!r} は使えません / {en_title}: invalid value {value!r} "
                            f"({error.message})")
    return problems


def check_run_conf(conf: Mapping[str, Any] | None, spec: Mapping[str, Any]) -> bool:
    """Fail the run, without retry, when its conf is wrong; the first task of every DAG calls this."""
    problems = check_conf(conf, spec)
    if problems:
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(
            "実行時の設定 (conf) に誤りがあるため、何もせずに終了します / The run's conf is wrong; nothing was done:\n"
            + "\n".join(f"- {p}" for p in problems))
    return True


def check_params(spec: Mapping[str, Any]):
    """The first task of a DAG: check the run's conf against ``spec`` before anything else runs.

    A setup task (with no teardown), so that when it fails every task after it is upstream_failed
    and the run fails, including the tasks that run on ``all_done`` (a failed setup upstream wins
    over the trigger rule). Its direct downstream tasks must keep ``all_success``. Clearing a task
    reruns the check.
    """
    from airflow.sdk import task

    @task(task_id="check_params", retries=0)
    def check(dag_run=None) -> bool:
        return check_run_conf(dag_run.conf if dag_run is not None else {}, spec)

    return check().as_setup()
