"""One prefecture's plan that raises is one failed result, never a stopped cycle (engine.plan_and_run, used
by the distribution, grant and evaluation cycles)."""

from __future__ import annotations

import datetime as dt

from tsunagu.cycle.engine import ActionResult, Run, plan_and_run
from tsunagu.settings import get_settings

DAY = dt.date(2025, 11, 11)


def _run(tmp_path) -> Run:
    return Run("distribution", 2025, DAY, None, get_settings(tmp_path / "home"), True)


def test_a_plan_that_raises_is_one_failed_result(tmp_path):
    def plan():
        raise ValueError("release cannot be built")

    assert plan_and_run(_run(tmp_path), plan, "11", ("delivery",)) == [
        ActionResult("plan", 2025, DAY, "failed", "11", detail="ValueError: release cannot be built",
                     cycle="distribution")]


def test_notes_follow_the_items(tmp_path):
    note = ActionResult("delivery", 2025, DAY, "waiting", "19", detail="承認待ち / waiting for approval")
    assert plan_and_run(_run(tmp_path), lambda: ([], [note]), "19", ("delivery",)) == [note]
