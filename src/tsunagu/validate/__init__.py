"""Validation of submissions: GX field rules, project rules, and the reports sent back to offices.

Entry points (imported lazily so that `import tsunagu.validate` stays cheap and never imports GX):
    validate_home_care_report(table, *, prefecture_code, fiscal_year, roster, previous=None, use_gx=True)
    write_reports(result, table, source_path, out_dir, *, stem, metadata=None)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["validate_home_care_report", "write_reports"]

if TYPE_CHECKING:
    from tsunagu.validate.home_care_report import validate_home_care_report
    from tsunagu.validate.reports import write_reports


def __getattr__(name: str) -> Any:
    if name == "validate_home_care_report":
        from tsunagu.validate.home_care_report import validate_home_care_report

        return validate_home_care_report
    if name == "write_reports":
        from tsunagu.validate.reports import write_reports

        return write_reports
    raise AttributeError(name)
