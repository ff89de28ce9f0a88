"""What a grant rule sees: the program's config, the stage, the filers, and what earlier stages accepted."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# (filer_code, item_key): one row of a grant file — an insurer × 事業区分, a 区分 × 事業, a municipality.
RowKey = tuple[str, str]


@dataclass
class GrantContext:
    program: str  # community_support | care_fund | integrated_health
    stage: str  # e.g. application
    fiscal_year: int
    prefecture_code: str  # the sending prefecture
    config: Any  # tsunagu.grants.config.ProgramConfig
    insurers: Any  # tsunagu.grants.insurers.InsurerMaster
    template: Any  # tsunagu.model.FormTemplate
    columns: dict[str, str] = field(default_factory=dict)  # table-level field id -> column letter
    # stage id -> (filer_code, item_key) -> field id -> integer yen (the current accepted rows of earlier stages)
    earlier: Mapping[str, Mapping[RowKey, Mapping[str, int]]] = field(default_factory=dict)
    # (filer_code, item_key) -> approved cap in yen (個別協議 approvals recorded for this fiscal year)
    approvals: Mapping[RowKey, int] = field(default_factory=dict)
    jurisdiction: Any = None  # tsunagu.jurisdiction.Jurisdiction

    def label(self, field_id: str) -> str:
        try:
            return self.template.field(field_id).label_ja
        except (KeyError, AttributeError):
            return field_id

    def earlier_amount(self, stage: str, key: RowKey, field_id: str) -> int | None:
        return (self.earlier.get(stage) or {}).get(key, {}).get(field_id)
