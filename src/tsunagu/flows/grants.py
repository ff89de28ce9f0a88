"""Grant applications (交付金): one flow per program × stage, declared by the programs' config.

A prefecture sends one consolidated file per program, stage and fiscal year, landing in
``landing/grants/<program>/<stage>/<fiscal_year>/<pref_code>/``. The rows name their filers
(insurers, the prefecture itself, or its 広域連合); a later file replaces only the filers it holds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tsunagu.flows.base import Checked, Flow, Intake, Landing, Loaded

PREFIX = "grant"


def grant_kind(program: str, stage: str) -> str:
    return f"{PREFIX}.{program}.{stage}"


class GrantFlow(Flow):
    """One stage of one grant program."""

    order = 40

    def __init__(self, program: str, stage: str, label_ja: str):
        self.program = program
        self.stage = stage
        self.kind = grant_kind(program, stage)
        self.label_ja = label_ja
        self.landing = Landing(f"grants/{program}/{stage}")

    def check(self, path: Path, *, prefecture_code: str, fiscal_year: int | None, warehouse=None,
              use_gx: bool = True, **_: Any) -> Checked:
        from tsunagu.grants.validate import check_grant_file

        return check_grant_file(Path(path), program=self.program, stage=self.stage, prefecture_code=prefecture_code,
                                fiscal_year=fiscal_year, warehouse=warehouse, use_gx=use_gx)

    def load(self, intake: Intake, checked: Checked) -> Loaded:
        from tsunagu.warehouse.grants import load_grant

        return load_grant(intake.warehouse, intake.sid, program=self.program, stage=self.stage,
                          prefecture_code=intake.prefecture_code, fiscal_year=intake.fiscal_year,
                          records=checked.result.records)


def grant_flows() -> list[GrantFlow]:
    from tsunagu.grants.config import PROGRAMS, load_program

    flows = []
    for program in PROGRAMS:
        config = load_program(program)
        flows += [GrantFlow(program, s.id, f"{config.title_ja} {s.label_ja}") for s in config.stages]
    return flows
