"""The trigger forms: typed params, the check of a run's conf, the per-try outcomes record, and the
cycles that end in a "nothing configured" skip (issue 8 §2)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest

from tsunagu.cycle.dag_params import approval_params, cycle_config_missing, cycle_params, grant_programs_configured
from tsunagu.dag_params import (
    check_conf,
    check_run_conf,
    current_fiscal_year,
    fiscal_year_param,
    prefectures_param,
    rerun_params,
    run_params,
)
from tsunagu.pipeline import write_outcomes
from tsunagu.settings import REPO_ROOT, Settings

CODES = ["08", "09", "10", "11", "12", "13", "14", "15", "19", "20"]
NAMES = ["茨城県", "栃木県", "群馬県", "埼玉県", "千葉県", "東京都", "神奈川県", "新潟県", "山梨県", "長野県"]
ALLOWED_JA = ", ".join(f"{c} {n}" for c, n in zip(CODES, NAMES, strict=True))
OUTSIDE_99 = (f"都県: 99 は管轄外の都県コードです（管轄: {ALLOWED_JA}） / "
              f"Prefectures: 99 not in the jurisdiction (allowed: {', '.join(CODES)})")
UNKNOWN_PREFECTURE = (
    "不明な項目 'prefecture' です（prefectures の誤りでは？）。使える項目: fiscal_year, prefectures, dry_run, force / "
    "Unknown key 'prefecture' (did you mean 'prefectures'?); known keys: fiscal_year, prefectures, dry_run, force"
)


# --- the form ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("utc", "expected"), [
    (dt.datetime(2026, 3, 31, 14, 59, tzinfo=dt.UTC), 2025),  # 23:59 JST on 31 March
    (dt.datetime(2026, 3, 31, 15, 0, tzinfo=dt.UTC), 2026),  # 00:00 JST on 1 April
    (dt.datetime(2027, 1, 15, 0, 0, tzinfo=dt.UTC), 2026),
    (dt.datetime(2025, 12, 31, 23, 0, tzinfo=dt.UTC), 2025),  # already 2026-01-01 in Tokyo, still FY2025
])
def test_current_fiscal_year_starts_in_april_in_tokyo(utc, expected):
    assert current_fiscal_year(utc) == expected


def test_prefectures_are_a_multi_select_of_the_jurisdiction_and_not_required():
    schema = prefectures_param().schema
    assert schema["type"] == ["null", "array"]  # the form marks a field required unless it allows null
    assert schema["items"] == {"type": "string", "pattern": "^[0-9]{2}$"}  # codes: checked by check_params
    assert schema["examples"] == CODES  # an array with examples is rendered as a multi-select
    assert schema["values_display"] == {c: f"{c} {n}" for c, n in zip(CODES, NAMES, strict=True)}
    assert schema["values_display"]["11"] == "11 埼玉県"
    assert schema["uniqueItems"] is True
    assert prefectures_param().value == []


def test_fiscal_year_defaults_to_the_current_one_and_may_be_emptied():
    param = fiscal_year_param()
    assert param.value == current_fiscal_year()
    assert param.schema["type"] == ["null", "integer"]
    assert param.resolve(None) is None


def test_approval_prefecture_is_a_drop_down():
    schema = approval_params()["prefecture"].schema
    assert (schema["type"], schema["enum"], schema["values_display"]["13"]) == ("string", CODES, "13 東京都")
    assert approval_params()["fiscal_year"].value == current_fiscal_year()


def test_run_params_keep_empty_meaning_when_the_conf_names_no_fiscal_year():
    params = {"fiscal_year": 2026, "prefectures": None, "dry_run": False, "force": False}
    assert run_params(params, {}) == {"fiscal_year": None, "prefectures": [], "dry_run": False, "force": False}
    assert run_params(params, None)["fiscal_year"] is None
    assert run_params(params, {"fiscal_year": 2025})["fiscal_year"] == 2025
    assert run_params({**params, "prefectures": ["11"]}, {"fiscal_year": None})["prefectures"] == ["11"]


# --- the check of the conf -----------------------------------------------------------------------


def test_good_confs_pass():
    spec = rerun_params()
    assert check_conf({}, spec) == []
    assert check_conf(None, spec) == []
    assert check_conf({"fiscal_year": 2025, "prefectures": ["11", "13"], "dry_run": True, "force": False}, spec) == []
    assert check_conf({"fiscal_year": None, "prefectures": None}, spec) == []  # the form sends null for "none chosen"
    assert check_conf({"day": "2025-11-04", "prefectures": [], "dry_run": False, "fiscal_year": None},
                      cycle_params()) == []


def test_a_misspelt_key_is_named_with_its_nearest_known_key():
    assert check_conf({"prefecture": "11"}, rerun_params()) == [UNKNOWN_PREFECTURE]
    assert check_conf({"zzz": 1}, rerun_params()) == [
        "不明な項目 'zzz' です。使える項目: fiscal_year, prefectures, dry_run, force / "
        "Unknown key 'zzz'; known keys: fiscal_year, prefectures, dry_run, force"
    ]


def test_a_code_outside_the_jurisdiction_is_named():
    assert check_conf({"prefectures": ["11", "99"]}, rerun_params()) == [OUTSIDE_99]
    assert check_conf({"prefectures": ["99"]}, cycle_params()) == [OUTSIDE_99]
    assert check_conf({"prefecture": "47"}, approval_params()) == [
        f"都県: 47 は管轄外の都県コードです（管轄: {ALLOWED_JA}） / "
        f"Prefecture: 47 not in the jurisdiction (allowed: {', '.join(CODES)})"
    ]


def test_other_bad_values_are_named_with_their_field():
    assert check_conf({"fiscal_year": "2025", "force": 1, "prefectures": [11]}, rerun_params()) == [
        "報告年度: 値 '2025' は使えません / Fiscal year: invalid value '2025' ('2025' is not of type 'null', 'integer')",
        "都県: 値 [11] は使えません / Prefectures: invalid value [11] (11 is not of type 'string')",
        "再処理: 値 1 は使えません / Force: invalid value 1 (1 is not of type 'boolean')",
    ]
    assert check_conf({"day": "2025-13-01"}, cycle_params()) == [
        "処理日: 値 '2025-13-01' は使えません / Day handled: invalid value '2025-13-01' "
        "('2025-13-01' is not a 'date')"
    ]


def test_check_run_conf_fails_without_retry_and_lists_every_problem():
    from airflow.sdk.exceptions import AirflowFailException

    assert check_run_conf({"prefectures": ["11"]}, rerun_params()) is True
    with pytest.raises(AirflowFailException) as exc:
        check_run_conf({"prefecture": "11", "prefectures": ["99"]}, rerun_params())
    assert str(exc.value) == (
        "実行時の設定 (conf) に誤りがあるため、何もせずに終了します / The run's conf is wrong; nothing was done:\n"
        f"- {UNKNOWN_PREFECTURE}\n- {OUTSIDE_99}"
    )


# --- nothing configured --------------------------------------------------------------------------


def test_a_cycle_year_without_config_is_a_skip_message():
    assert (REPO_ROOT / "include" / "config" / "cycle" / "2025.yaml").exists()
    assert cycle_config_missing(2025) is None
    assert cycle_config_missing(2031) == (
        "2031年度の情報提供サイクルは設定がありません (config/cycle/2031.yaml がない)。何もしません / "
        "nothing configured for the fiscal year 2031 cycle (config/cycle/2031.yaml is missing): nothing to do"
    )


def test_grant_programs_without_a_schedule_for_the_year_are_left_out():
    programs = ["community_support", "care_fund", "integrated_health"]
    assert grant_programs_configured(programs, None) == (programs, None)
    assert grant_programs_configured(programs, 2023) == (["community_support"], None)
    assert grant_programs_configured(programs, 2099) == ([], (
        "2099年度の交付金 (community_support, care_fund, integrated_health) は設定がありません。何もしません / "
        "nothing configured for the fiscal year 2099 of the grant programs "
        "(community_support, care_fund, integrated_health): nothing to do"
    ))


# --- the outcomes record, per try ----------------------------------------------------------------


def test_outcomes_are_recorded_per_try_and_never_overwritten(tmp_path):
    settings = Settings(home=tmp_path, db_url=f"sqlite:///{tmp_path / 'wh.sqlite'}")
    first = [{"path": "a.xlsx", "status": "accepted"}, {"path": "b.pdf", "status": "unreadable"}]
    rerun = [{"path": "a.xlsx", "status": "skipped"}, {"path": "b.pdf", "status": "skipped"}]
    run_id = "manual__2026-12-02T01:00:00+00:00"
    folder = tmp_path / "reports" / "runs" / "manual__2026-12-02T01_00_00_00_00"

    assert write_outcomes(first, settings, run_id, try_number=1) == folder / "try-1.json"
    assert write_outcomes(rerun, settings, run_id, try_number=2) == folder / "try-2.json"
    # The same try number again (e.g. a record written by hand): kept beside, not over, the first.
    assert write_outcomes(rerun, settings, run_id, try_number=1) == folder / "try-1-2.json"
    assert write_outcomes(rerun, settings, run_id, try_number=1) == folder / "try-1-3.json"
    assert sorted(p.name for p in folder.iterdir()) == ["try-1-2.json", "try-1-3.json", "try-1.json", "try-2.json"]
    assert json.loads((folder / "try-1.json").read_text("utf-8")) == first
    assert json.loads((folder / "try-2.json").read_text("utf-8")) == rerun
    assert (folder / "try-1.json").read_text("utf-8") == json.dumps(
        first, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


# --- runs of the DAGs ----------------------------------------------------------------------------


@pytest.fixture()
def home(tmp_path, monkeypatch) -> Path:
    from demo.run import stage_inputs

    home = tmp_path / "home"
    monkeypatch.setenv("TSUNAGU_HOME", str(home))
    for name in ("TSUNAGU_DB_URL", "TSUNAGU_LANDING", "TSUNAGU_PUBLISH_DIR"):
        monkeypatch.delenv(name, raising=False)
    stage_inputs(home)
    return home


def _tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _states(run) -> dict[str, str]:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        tis = session.query(TaskInstance).filter(TaskInstance.dag_id == run.dag_id, TaskInstance.run_id == run.run_id)
        return {ti.task_id: str(ti.state) for ti in tis if ti.map_index == -1}


@pytest.mark.slow
def test_ingest_with_a_misspelt_key_fails_at_the_check_and_touches_nothing(airflow_db, dag_bag, home):
    before = _tree(home)
    run = dag_bag.dags["ingest_submissions"].test(run_conf={"prefecture": "11"})
    assert str(run.state) == "failed"
    assert _states(run) == {
        "check_params": "failed",
        "prepare_warehouse": "upstream_failed",
        "scan_landing": "upstream_failed",
        "ingest_registers": "upstream_failed",
        "list_senders": "upstream_failed",
        "ingest_sender": "upstream_failed",
        "record_outcomes": "upstream_failed",
    }
    assert _tree(home) == before  # no archive, no warehouse, no report, no outcomes record


@pytest.mark.slow
def test_a_code_outside_the_jurisdiction_fails_at_the_check_and_touches_nothing(airflow_db, dag_bag, home):
    before = _tree(home)
    run = dag_bag.dags["ingest_submissions"].test(run_conf={"prefectures": ["99"]})
    assert str(run.state) == "failed"
    assert _states(run)["check_params"] == "failed"
    assert {s for t, s in _states(run).items() if t != "check_params"} == {"upstream_failed"}
    assert _tree(home) == before


@pytest.mark.slow
def test_a_cycle_year_without_config_ends_in_a_skip(airflow_db, dag_bag, home):
    before = _tree(home)
    run = dag_bag.dags["distribution_cycle"].test(
        run_conf={"day": "2031-11-04", "dry_run": False, "fiscal_year": None, "prefectures": []})
    assert str(run.state) == "success"
    assert _states(run) == {
        "check_params": "success", "plan_day": "skipped", "run_prefecture": "skipped", "close_day": "skipped",
    }
    conf = {"day": "2031-11-04", "dry_run": False, "fiscal_year": 2031, "prefectures": [], "programs": []}
    run = dag_bag.dags["run_grant_cycles"].test(run_conf=conf)
    assert str(run.state) == "success"
    assert _states(run) == {"check_params": "success", "plan_programs": "skipped", "run_program": "skipped"}
    assert _tree(home) == before


# --- times ---------------------------------------------------------------------------------------


def test_the_project_airflow_settings_set_tokyo_time_and_docker_compose_agrees():
    import yaml

    lines = (REPO_ROOT / "include" / "config" / "airflow.env").read_text("utf-8").splitlines()
    settings = dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))
    assert settings == {"AIRFLOW__CORE__DEFAULT_TIMEZONE": "Asia/Tokyo", "TZ": "Asia/Tokyo"}
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yaml").read_text("utf-8"))
    common = compose["x-airflow-common"]["environment"]
    assert {k: common[k] for k in settings} == settings
