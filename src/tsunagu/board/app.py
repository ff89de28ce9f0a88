"""The board's FastAPI app, mounted by ``plugins/tsunagu_board.py`` under ``/tsunagu`` in the Airflow api-server.

Routes (relative to the mount):

* ``GET board?fiscal_year=YYYY`` — the page (Japanese, English subtitles); with ``preview=1`` (and
  ``prefectures``, ``force``) it also shows the rerun preview;
* ``GET api/board?fiscal_year=YYYY`` — the same data as JSON (:func:`tsunagu.board.data.board_data`);
* ``GET api/preview?fiscal_year=YYYY&prefectures=11&prefectures=19&force=true`` — :func:`.preview.rerun_preview`;
* ``GET reports/<path>`` — an annotated report, only from inside the reports dir.

Every route needs a logged-in Airflow user: the auth manager's JWT (``Authorization: Bearer`` or the UI's
``_token`` cookie), checked by Airflow's own dependency. The app reads; it never writes.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from tsunagu.settings import Settings, get_settings

TEMPLATES = Path(__file__).parent / "templates"
LOGIN_URL = "/auth/login/"


def airflow_login_required() -> Any:
    """Airflow's dependency: any user the auth manager authenticates (the api-server's own check)."""
    from airflow.api_fastapi.core_api.security import requires_authenticated

    return Depends(requires_authenticated())


def _environment():
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined)
    env.globals["STATUSES"] = ("received", "accepted", "rejected", "missing")
    return env


def _fiscal_year(value: int | None) -> int:
    from tsunagu.board.data import today_tokyo
    from tsunagu.cycle.schedule import fiscal_year_of

    return value if value is not None else fiscal_year_of(today_tokyo())


def _check_prefectures(codes: list[str]) -> list[str]:
    from tsunagu.jurisdiction import load_jurisdiction

    jurisdiction = load_jurisdiction()
    bad = [c for c in codes if str(c).zfill(2) not in jurisdiction]
    if bad:
        raise HTTPException(status_code=422, detail={
            "ja": f"管轄外の都県コードです: {', '.join(bad)}（管轄: {', '.join(jurisdiction.prefectures)}）",
            "en": f"prefecture codes outside the jurisdiction: {', '.join(bad)} (known: {', '.join(jurisdiction.prefectures)})",
        })
    return sorted({str(c).zfill(2) for c in codes})


def create_app(settings: Settings | None = None, *, auth: bool = True, day: dt.date | None = None) -> FastAPI:
    """The board app. ``settings`` default to the environment's at each request (TSUNAGU_HOME, TSUNAGU_DB_URL);
    ``day`` fixes "today" (tests); ``auth=False`` only for tools that call the app inside an authenticated process."""
    from tsunagu.board.chart import completeness_svg
    from tsunagu.board.data import board_data
    from tsunagu.board.preview import rerun_preview

    app = FastAPI(title="tsunagu 状況ボード / status board", dependencies=[airflow_login_required()] if auth else [],
                  docs_url=None, redoc_url=None, openapi_url=None)
    env = _environment()

    def current() -> Settings:
        return settings or get_settings()

    @app.exception_handler(StarletteHTTPException)
    async def refused(request: Request, exc: StarletteHTTPException):
        # The page gets a bilingual page with the way to log in; the API keeps Airflow's JSON.
        if exc.status_code in (401, 403) and "/api/" not in request.url.path:
            page = env.get_template("refused.html").render(login=LOGIN_URL, next=str(request.url.path))
            return HTMLResponse(page, status_code=exc.status_code)
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.get("/api/board")
    def api_board(fiscal_year: int | None = None) -> dict[str, Any]:
        return board_data(_fiscal_year(fiscal_year), day=day, settings=current())

    @app.get("/api/preview")
    def api_preview(fiscal_year: int | None = None, prefectures: Annotated[list[str], Query()] = [],  # noqa: B006
                    force: bool = False) -> dict[str, Any]:
        return rerun_preview(fiscal_year, _check_prefectures(prefectures), force, settings=current())

    @app.get("/board", response_class=HTMLResponse)
    def board(request: Request, fiscal_year: int | None = None, preview: bool = False,
              prefectures: Annotated[list[str], Query()] = [], force: bool = False) -> HTMLResponse:  # noqa: B006
        from tsunagu.jurisdiction import load_jurisdiction

        fy = _fiscal_year(fiscal_year)
        data = board_data(fy, day=day, settings=current())
        chosen = _check_prefectures(prefectures)
        plan = rerun_preview(fy, chosen, force, settings=current()) if preview else None
        page = env.get_template("board.html").render(
            data=data, preview=plan, chosen=chosen, force=force, chart=completeness_svg(data),
            jurisdiction=load_jurisdiction().prefectures, fiscal_year=fy,
        )
        return HTMLResponse(page)

    @app.get("/reports/{path:path}")
    def report(path: str) -> FileResponse:
        reports = current().reports_dir.resolve()
        target = (reports / path).resolve()
        # Only a regular file inside the reports dir; "..", absolute paths and links out of it are refused.
        if not target.is_relative_to(reports) or not target.is_file():
            raise HTTPException(status_code=404, detail="報告書が見つかりません / report not found")
        return FileResponse(target, filename=target.name)

    return app


# The routes a check of a running api-server fetches without credentials (relative to its base URL).
ANONYMOUS_PATHS = ("/tsunagu/board", "/tsunagu/api/board", "/tsunagu/api/preview", "/tsunagu/reports/x.xlsx")


def anonymous_refusals(base_url: str, *, timeout: float = 10.0) -> dict[str, int]:
    """Fetch each board route of a running api-server with no credentials; -> path: HTTP status.

    Redirects are not followed (a redirect to the login page is a refusal too). The caller asserts that every
    status is 401, 403 or a 3xx to the login page; the services tests call it against the real api-server.
    """
    import urllib.error
    import urllib.request

    class _NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(_NoRedirect)
    out = {}
    for path in ANONYMOUS_PATHS:
        try:
            with opener.open(base_url.rstrip("/") + path, timeout=timeout) as response:
                out[path] = response.status
        except urllib.error.HTTPError as exc:
            out[path] = exc.code
    return out
