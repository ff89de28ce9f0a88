"""Grants (交付金, design.md §2.3): the pure domain layer — no database, no Airflow.

* :mod:`tsunagu.grants.config`   — the three programs' config (stages, rates, caps, yearly schedules);
* :mod:`tsunagu.grants.insurers` — the insurer master (介護保険 保険者, 後期高齢者医療広域連合) and the
  filers expected for a program's stage;
* :mod:`tsunagu.grants.money`    — integer-yen arithmetic (exact rates, 千円未満切捨て, 確定・返還).

Import the submodules directly; this package imports nothing heavy.
"""
