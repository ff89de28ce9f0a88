"""The operators' status board (状況ボード) in the Airflow UI: a FastAPI app under /tsunagu and a nav entry.

Thin on purpose: the app and all its logic are in the tsunagu library (tsunagu.board). Every route needs a
logged-in Airflow user (the auth manager's JWT).
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from tsunagu.board.app import create_app


class TsunaguBoardPlugin(AirflowPlugin):
    name = "tsunagu_board"
    fastapi_apps = [{"app": create_app(), "url_prefix": "/tsunagu", "name": "tsunagu"}]
    external_views = [{
        "name": "状況ボード / Status board",
        "href": "/tsunagu/board",
        "destination": "nav",
        "url_route": "tsunagu_board",
    }]
