"""The board's FastAPI app behind Airflow's own login check: refused without a valid JWT, then the page, the JSON
and the report files for a logged-in user (a real token of the auth manager, checked against the metadata DB)."""

from __future__ import annotations

import datetime as dt
import json
import re
import socket
import threading
import time
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from tests.board.conftest import HTML_NAME
from tsunagu.board.app import ANONYMOUS_PATHS, anonymous_refusals, create_app
from tsunagu.board.data import board_data
from tsunagu.board.preview import rerun_preview

DAY = dt.date(2025, 11, 5)
REPORT = "home_care_report/2025/19/7c6beaf23f03_山梨_定例報告_R7_v1.xlsx"


@pytest.fixture(scope="module")
def token(airflow_db) -> str:
    """A JWT issued by Airflow's auth manager, as /auth/token gives the UI (the _token cookie)."""
    from airflow.api_fastapi.app import create_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    return create_auth_manager().generate_jwt(SimpleAuthManagerUser(username="operator", role="viewer"))


@pytest.fixture
def app(sqlite_home):
    return create_app(settings=sqlite_home.settings, day=DAY)


@pytest.fixture
def client(app, token) -> TestClient:
    return TestClient(app, headers={"Authorization": f"Bearer {token}"})


def test_anonymous_requests_are_refused(app, token):
    anonymous = TestClient(app)
    page = anonymous.get("/board?fiscal_year=2025")
    assert page.status_code == 401
    assert "ログインが必要です" in page.text and "Login required" in page.text
    assert 'href="/auth/login/?next=/board"' in page.text
    assert anonymous.get("/api/board?fiscal_year=2025").json() == {"detail": "Not authenticated"}
    for path in ("/api/board", "/api/preview?fiscal_year=2025", f"/reports/{quote(REPORT)}"):
        assert anonymous.get(path).status_code == 401, path
    forged = TestClient(app, headers={"Authorization": "Bearer " + token[:-4] + "AAAA"})
    assert forged.get("/api/board").status_code == 403
    assert TestClient(app, cookies={"_token": "not-a-jwt"}).get("/board").status_code == 403
    # the UI's session cookie is enough
    assert TestClient(app, cookies={"_token": token}).get("/api/board?fiscal_year=2025").status_code == 200


def test_anonymous_refusals_against_a_running_server(sqlite_home, airflow_db):
    """The check the services tests run against the real api-server, here against the app served by uvicorn."""
    import uvicorn
    from fastapi import FastAPI

    root = FastAPI()
    root.mount("/tsunagu", create_app(settings=sqlite_home.settings, day=DAY))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(root, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.05)
        assert anonymous_refusals(f"http://127.0.0.1:{port}") == dict.fromkeys(ANONYMOUS_PATHS, 401)
    finally:
        server.should_exit = True
        thread.join(10)


def test_page_shows_the_counts_and_prefectures(client):
    page = client.get("/board?fiscal_year=2025")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    counts = dict(re.findall(r'data-testid="count-([a-z_.]+-[a-z]+)">(\d+)<', html))
    assert {k: int(v) for k, v in counts.items() if k.startswith(("home_care_report", "request_form", "survey"))} == {
        "home_care_report-received": 0, "home_care_report-accepted": 2, "home_care_report-rejected": 2,
        "home_care_report-missing": 6,
        "request_form-received": 0, "request_form-accepted": 1, "request_form-rejected": 1, "request_form-missing": 8,
        "survey_return-received": 1, "survey_return-accepted": 1, "survey_return-rejected": 0,
        "survey_return-missing": 8,
    }
    assert counts["grant.community_support.pre_consultation-missing"] == "450"
    assert re.findall(r'data-testid="pref-(\d\d)"', html) == ["08", "09", "10", "11", "12", "13", "14", "15", "19",
                                                               "20"]
    assert "状況ボード 2025年度" in html and "Status board, fiscal year 2025" in html
    assert f'href="reports/{quote(REPORT)}"' in html
    assert "<svg" in html and 'data-series="home_care_report"' in html
    assert "2025:survey_summary:19" in html  # the mail an operator must decide


def test_page_escapes_what_senders_wrote(client):
    html = client.get("/board?fiscal_year=2025").text
    assert "<img src=x" not in html
    assert HTML_NAME.replace("<", "&lt;").replace(">", "&gt;") == "茨城_&lt;img src=x onerror=alert(1)&gt;.csv"
    assert "茨城_&lt;img src=x onerror=alert(1)&gt;.csv" in html


def test_json_is_the_board_data(client, sqlite_home):
    got = client.get("/api/board?fiscal_year=2025").json()
    assert got == json.loads(json.dumps(board_data(2025, day=DAY, settings=sqlite_home.settings)))
    assert client.get("/api/board?fiscal_year=twenty").status_code == 422


def test_preview_json_and_form(client, sqlite_home):
    got = client.get("/api/preview", params={"fiscal_year": 2025, "prefectures": ["11", "19"], "force": "true"})
    assert got.json() == rerun_preview(2025, ["11", "19"], True, settings=sqlite_home.settings)
    assert got.json()["reprocess"] == 10
    bad = client.get("/api/preview", params={"fiscal_year": 2025, "prefectures": ["99"]})
    assert bad.status_code == 422
    assert bad.json()["detail"]["ja"].startswith("管轄外の都県コードです: 99")
    assert bad.json()["detail"]["en"].startswith("prefecture codes outside the jurisdiction: 99")
    html = client.get("/board", params={"fiscal_year": 2025, "preview": "true", "prefectures": ["19"]}).text
    assert "再処理 2 件、スキップ 6 件" in html
    assert 'value="19" checked' in html and 'value="11" checked' not in html
    assert "山梨_定例報告_R7_v2_訂正.xlsx" in html and "built if the file is accepted" in html


def test_report_route_serves_only_inside_the_reports_dir(client, sqlite_home):
    reports = sqlite_home.settings.reports_dir
    got = client.get(f"/reports/{quote(REPORT)}")
    assert got.status_code == 200 and got.content == (reports / REPORT).read_bytes()
    for path in ("../warehouse.sqlite", "%2e%2e/warehouse.sqlite", "..%2fwarehouse.sqlite",
                 "home_care_report/..%2f..%2fwarehouse.sqlite", "%2fetc%2fpasswd", "home_care_report/2025",
                 "no/such.xlsx"):
        assert client.get(f"/reports/{path}").status_code == 404, path
    link = reports / "outside.xlsx"
    link.symlink_to(sqlite_home.settings.home / "warehouse.sqlite")
    try:
        assert client.get("/reports/outside.xlsx").status_code == 404
    finally:
        link.unlink()


PLUGIN_CHECK = """
import json
from fastapi.testclient import TestClient
from airflow.api_fastapi.app import create_app, get_auth_manager
from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

client = TestClient(create_app())
token = get_auth_manager().generate_jwt(SimpleAuthManagerUser(username="operator", role="viewer"))
out = {p: client.get(p, follow_redirects=False).status_code
       for p in ("/tsunagu/board", "/tsunagu/api/board", "/tsunagu/api/preview")}
page = client.get("/tsunagu/board?fiscal_year=2025", cookies={"_token": token})
out["logged_in"] = [page.status_code, 'data-testid="count-home_care_report-accepted">2<' in page.text]
plugins = client.get("/api/v2/plugins", cookies={"_token": token}).json()["plugins"]
out["plugins"] = [{k: p[k] for k in ("name", "external_views", "fastapi_apps")} for p in plugins]
print("RESULT " + json.dumps(out, ensure_ascii=False))
"""


def test_plugin_in_the_airflow_api_server_app(sqlite_home, tmp_path):
    """plugins/tsunagu_board.py loaded by Airflow's own api-server app (its plugin loading and auth middleware),
    in a process of its own with a metadata database of its own."""
    import os
    import subprocess
    import sys

    from tests.conftest import REPO

    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path / "airflow"), "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
           "TSUNAGU_HOME": str(sqlite_home.settings.home)}
    env.pop("TSUNAGU_DB_URL", None)
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, check=True, capture_output=True,
                   timeout=600)
    run = subprocess.run([sys.executable, "-c", PLUGIN_CHECK], env=env, capture_output=True, text=True, timeout=300,
                         cwd=REPO)
    lines = [x for x in run.stdout.splitlines() if x.startswith("RESULT ")]
    assert len(lines) == 1, run.stdout[-2000:] + run.stderr[-4000:]
    (line,) = lines
    got = json.loads(line.removeprefix("RESULT "))
    assert {k: got[k] for k in ANONYMOUS_PATHS[:3]} == dict.fromkeys(ANONYMOUS_PATHS[:3], 401)
    assert got["logged_in"] == [200, True]
    assert got["plugins"] == [{
        "name": "tsunagu_board",
        "external_views": [{"name": "状況ボード / Status board", "icon": None, "icon_dark_mode": None,
                            "url_route": "tsunagu_board", "category": None, "nav_top_level": False,
                            "href": "/tsunagu/board", "destination": "nav"}],
        "fastapi_apps": [{"app": "fastapi.applications.FastAPI", "url_prefix": "/tsunagu", "name": "tsunagu"}],
    }]
