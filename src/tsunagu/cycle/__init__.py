"""The September–December distribution cycle of 定例報告の情報提供 (design.md §2.1).

* :mod:`~tsunagu.cycle.schedule`  — the year's milestones from include/config/cycle/<fy>.yaml, as business days
* :mod:`~tsunagu.cycle.releases`  — immutable, versioned snapshots of a prefecture's package; diffs (訂正版)
* :mod:`~tsunagu.cycle.approvals` — approval of a release, a recorded act
* :mod:`~tsunagu.cycle.planner`   — ``run_cycle_day(day)``: everything due, exactly once
* :mod:`~tsunagu.cycle.messages`  — the Japanese mail texts
* :mod:`~tsunagu.cycle.closing`   — the closing report (完了報告)

Nothing here imports Airflow.
"""
