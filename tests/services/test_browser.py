"""The operator's path in a real browser: Playwright driving Debian's chromium (headless) against the real
services, here with the newcomer's defaults (`make airflow`): SQLite metadata and warehouse, LocalExecutor.
Screenshots go to test-output/screenshots/ (git-ignored)."""

from __future__ import annotations

import datetime as dt
import re
import time
from pathlib import Path

import pytest

from tests.services.conftest import FISCAL_YEAR, land_inputs, need, running_airflow

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
INGEST, PUBLISH = "ingest_submissions", "publish_home_care_reports"
# The prefectures chosen in the form, by the Japanese names shown in its multi-select.
CHOSEN = {"09": "栃木", "11": "埼玉"}


@pytest.fixture(scope="module")
def airflow_sqlite(tmp_path_factory):
    need(CHROMIUM.is_file(), f"chromium not found at {CHROMIUM} (apt-get install chromium)")
    with running_airflow(tmp_path_factory.mktemp("browser")) as af:
        af.wait_parsed(INGEST, PUBLISH)
        af.unpause(INGEST, PUBLISH)
        af.settle(INGEST)  # the monthly run that unpausing makes, before anything lands
        yield af


@pytest.fixture(scope="module")
def page(airflow_sqlite):
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="ja-JP", timezone_id="Asia/Tokyo")
        context.set_default_timeout(60_000)
        yield context.new_page()
        browser.close()


def shot(page, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def login(page, af) -> None:
    page.goto(f"{af.url}/")
    page.wait_for_url(re.compile(r"/auth/login"))
    page.fill("input[name=username]", af.services.config.username)
    page.fill("input[name=password]", af.services.config.password)
    shot(page, "01_login")
    page.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(r"^(?!.*/auth/login)"))


def open_trigger_form(page, af):
    page.goto(f"{af.url}/dags/{INGEST}")
    page.get_by_test_id("trigger-dag-button").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_test_id("trigger-dag-submit").wait_for()
    return dialog


def fill_form(page, dialog, *, dry_run: bool) -> None:
    year = dialog.get_by_role("spinbutton")
    year.fill(str(FISCAL_YEAR))
    prefectures = dialog.locator("input[role=combobox][aria-autocomplete=list]")
    for name in CHOSEN.values():
        prefectures.fill(name)
        page.get_by_role("option", name=re.compile(name)).first.click()
    if dry_run:
        dialog.locator("label[id='switch:element_dry_run']").click()


def trigger_from_form(page, af, *, dry_run: bool, name: str) -> dict:
    known = {r["dag_run_id"] for r in af.runs(INGEST)}
    dialog = open_trigger_form(page, af)
    fill_form(page, dialog, dry_run=dry_run)
    shot(page, f"{name}_form")
    dialog.get_by_test_id("trigger-dag-submit").click()
    run = af.new_run(INGEST, known)
    return run


def see_run_state(page, af, run: dict, name: str) -> str:
    """The run's page shows its state; returns the text of the state badge."""
    page.goto(f"{af.url}/dags/{INGEST}/runs/{run['dag_run_id']}")
    badge = page.get_by_text(re.compile(r"^(成功|success)$")).first
    badge.wait_for()
    time.sleep(1)  # let the grid finish drawing for the screenshot
    shot(page, name)
    return badge.inner_text()


def test_trigger_form_dry_run_then_run(airflow_sqlite, page):
    af = airflow_sqlite
    login(page, af)
    landed = land_inputs(af.home)

    dry = trigger_from_form(page, af, dry_run=True, name="02_dry_run")
    assert dry["conf"] == {"fiscal_year": FISCAL_YEAR, "prefectures": sorted(CHOSEN), "dry_run": True, "force": False}
    assert dry["state"] == "success"
    see_run_state(page, af, dry, "03_dry_run_succeeded")
    assert not (af.home / "archive").exists()  # a dry run writes nothing
    assert not (af.home / "published").exists()

    known_publish = {r["dag_run_id"] for r in af.runs(PUBLISH)}
    run = trigger_from_form(page, af, dry_run=False, name="04_run")
    assert run["conf"] == {"fiscal_year": FISCAL_YEAR, "prefectures": sorted(CHOSEN), "dry_run": False, "force": False}
    assert run["state"] == "success"
    assert see_run_state(page, af, run, "05_run_succeeded") in ("成功", "success")
    publish = af.new_run(PUBLISH, known_publish)
    assert publish["state"] == "success"
    latency = dt.datetime.fromisoformat(publish["end_date"]).timestamp() - landed
    since_submit = dt.datetime.fromisoformat(publish["end_date"]) - dt.datetime.fromisoformat(run["queued_at"])
    print(f"[SQLite metadata, LocalExecutor] landing → published: {latency:.1f} s (incl. the dry run); "
          f"submit → published: {since_submit.total_seconds():.1f} s")
    assert sorted(p.name for p in (af.home / "published" / str(FISCAL_YEAR)).iterdir()) == ["09_tochigi", "11_saitama"]


def test_board_counts_match_the_warehouse(airflow_sqlite, page):
    af = airflow_sqlite
    from tsunagu.jurisdiction import load_jurisdiction
    from tsunagu.pipeline import open_warehouse
    from tsunagu.settings import get_settings

    warehouse = open_warehouse(get_settings(af.home, f"sqlite:///{af.home / 'warehouse.sqlite'}"))
    rows = warehouse.outcomes(kind="home_care_report", fiscal_year=FISCAL_YEAR)
    accepted = {r["sender"] for r in rows if r["status"] == "accepted"}
    senders = {r["sender"] for r in rows}
    expected = {
        "accepted": len(accepted),
        "rejected": len(senders - accepted),
        "received": 0,
        "missing": len(load_jurisdiction().prefectures) - len(senders),
    }
    assert expected == {"accepted": 2, "rejected": 0, "received": 0, "missing": 8}

    page.goto(f"{af.url}/")
    page.get_by_label("状況ボード / Status board").first.wait_for()  # the plugin's entry in the navigation
    page.goto(f"{af.url}/tsunagu/board?fiscal_year={FISCAL_YEAR}")
    shown = {
        status: int(page.get_by_test_id(f"count-home_care_report-{status}").inner_text())
        for status in ("accepted", "rejected", "received", "missing")
    }
    shot(page, "06_board")
    assert shown == expected
