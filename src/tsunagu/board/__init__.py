"""The operators' status board (状況ボード): what the warehouse says about one fiscal year, and what a rerun
would touch. Served in the Airflow UI by ``plugins/tsunagu_board.py``; all logic lives here.

* :mod:`.data` — per channel and expected sender: received / accepted / rejected / missing, days late; per
  prefecture what it was sent and what it waits for; the mails an operator must decide; completeness over time.
* :mod:`.preview` — the files a rerun of ``ingest_submissions`` would reprocess and the packages
  ``publish_home_care_reports`` would rewrite. Reads only.
* :mod:`.app` — the FastAPI app (HTML page, JSON API, the annotated reports), behind the Airflow login.
"""
