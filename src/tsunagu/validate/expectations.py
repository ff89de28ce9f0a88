"""Field rules from the form template, run with Great Expectations 1.x.

The suite is generated from the template's FieldSpecs (`field_expectations`), so the same list drives
both GX and a pure-Python evaluator (`evaluate_python`, used when use_gx=False and as a fallback when
GX raises on one expectation). Each failing cell becomes one Finding pointing at sheet, row and column.

Who uses which: the pipeline (ingest, the DAG tasks) runs GX and keeps its result for the Data Docs;
the one-shot CLI (`tsunagu validate`, any kind) evaluates the same suite in Python, because importing
GX costs a whole process ~10 s for a file that validates in well under one. Both give the same
findings: tests/validate/test_parity.py runs every case of the tests, the demo files and generated
edge cases through both (`gx_outcomes` gives what GX itself computed, expectation by expectation).

great_expectations is imported only inside functions: importing it takes seconds, and DAG parsing,
the register path and the CLI's default must never pay for it.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tsunagu.findings import Finding, error
from tsunagu.model import FieldSpec, FormTemplate
from tsunagu.validate.rules import CLASS_JA, RowView, fmt, where_en, where_ja

# Key fields: every row must have them, whatever the template says.
KEY_FIELDS = ("institution_number", "institution_name")
# Code formats (design.md §2.1/§3); other code fields use ^\d{digits}$ from the template.
CODE_REGEX = {
    "institution_number": r"^\d{7}$",
    "municipality_code": r"^\d{6}$",
    "institution_code": r"^\d{10}$",
    "prefecture_code": r"^\d{2}$",
}
NUMERIC_TYPES = ("int", "decimal")
ENUM_JA = {"clinic": "在支診", "hospital": "在支病", **CLASS_JA}

EXIST = "expect_column_to_exist"
NOT_NULL = "expect_column_values_to_not_be_null"
BETWEEN = "expect_column_values_to_be_between"
REGEX = "expect_column_values_to_match_regex"
IN_SET = "expect_column_values_to_be_in_set"

CODE_OF = {EXIST: "missing_column", NOT_NULL: "missing_value", BETWEEN: "out_of_range", REGEX: "bad_format",
           IN_SET: "not_in_set"}


@dataclass(frozen=True)
class FieldExpectation:
    """One expectation of the generated suite, and the finding code its failures become."""

    type: str
    field: str
    kwargs: dict[str, Any] = field(default_factory=dict, hash=False)

    @property
    def code(self) -> str:
        return CODE_OF[self.type]


def field_expectations(template: FormTemplate, present: Sequence[str] | set[str]) -> list[FieldExpectation]:
    """The suite for a template: column existence for required fields; value rules for present columns."""
    present = set(present)
    out: list[FieldExpectation] = []
    for spec in template.fields:
        if spec.required and not spec.derived:
            out.append(FieldExpectation(EXIST, spec.id))
        if spec.id not in present:
            continue
        if spec.not_null or spec.id in KEY_FIELDS:
            out.append(FieldExpectation(NOT_NULL, spec.id))
        if spec.type in NUMERIC_TYPES and (spec.min is not None or spec.max is not None):
            out.append(FieldExpectation(BETWEEN, spec.id, {"min_value": spec.min, "max_value": spec.max}))
        if spec.type == "code":
            regex = CODE_REGEX.get(spec.id) or (rf"^\d{{{spec.digits}}}$" if spec.digits else None)
            if regex:
                out.append(FieldExpectation(REGEX, spec.id, {"regex": regex}))
        if spec.type == "enum" and spec.enum:
            out.append(FieldExpectation(IN_SET, spec.id, {"value_set": sorted(set(spec.enum.values()))}))
    return out


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def failing(exp: FieldExpectation, value: Any) -> bool:
    """Python semantics of each expectation on one value (nulls only fail not_null, as in GX)."""
    if exp.type == NOT_NULL:
        return _blank(value)
    if _blank(value):
        return False
    if exp.type == BETWEEN:
        lo, hi = exp.kwargs.get("min_value"), exp.kwargs.get("max_value")
        try:
            return (lo is not None and value < lo) or (hi is not None and value > hi)
        except TypeError:
            return True
    if exp.type == REGEX:
        return re.search(exp.kwargs["regex"], str(value)) is None
    if exp.type == IN_SET:
        return value not in exp.kwargs["value_set"]
    return False


def evaluate_python(exp: FieldExpectation, rows: Sequence[RowView], present: set[str]) -> list[int] | bool:
    """Indexes of the failing rows (or, for column existence, whether it holds)."""
    if exp.type == EXIST:
        return exp.field in present
    return [i for i, r in enumerate(rows) if failing(exp, r.values.get(exp.field))]


# --------------------------------------------------------------------------- findings


def _range_ja(kwargs: dict[str, Any]) -> str:
    lo, hi = kwargs.get("min_value"), kwargs.get("max_value")
    if lo is not None and hi is not None:
        return f"{fmt(lo)}〜{fmt(hi)}の範囲"
    if lo is not None:
        return f"{fmt(lo)}以上"
    return f"{fmt(hi)}以下"


def _range_en(kwargs: dict[str, Any]) -> str:
    lo, hi = kwargs.get("min_value"), kwargs.get("max_value")
    if lo is not None and hi is not None:
        return f"between {fmt(lo)} and {fmt(hi)}"
    return f"≥ {fmt(lo)}" if lo is not None else f"≤ {fmt(hi)}"


def _choices_ja(spec: FieldSpec | None, value_set: list[str]) -> str:
    return "、".join(ENUM_JA.get(v, v) for v in value_set)


def cell_message(exp: FieldExpectation, value: Any, spec: FieldSpec | None) -> tuple[str, str]:
    if exp.type == NOT_NULL:
        return "記入が必要です(空欄になっています)", "a value is required, but the cell is blank"
    if exp.type == BETWEEN:
        return (f"値({fmt(value)})が範囲外です。{_range_ja(exp.kwargs)}で記入してください",
                f"value {fmt(value)} is out of range (must be {_range_en(exp.kwargs)})")
    if exp.type == REGEX:
        digits = re.search(r"\\d\{(\d+)\}", exp.kwargs["regex"])
        n = digits.group(1) if digits else "?"
        return (f"『{fmt(value)}』は{n}桁の数字で記入してください",
                f"'{fmt(value)}' must be {n} digits")
    if exp.type == IN_SET:
        return (f"『{fmt(value)}』は選択肢にありません({_choices_ja(spec, exp.kwargs['value_set'])}のいずれか)",
                f"'{fmt(value)}' is not one of {', '.join(exp.kwargs['value_set'])}")
    raise ValueError(exp.type)


def findings_for(
    exp: FieldExpectation, outcome: list[int] | bool, rows: Sequence[RowView], template: FormTemplate,
    columns: dict[str, str], sheet: str | None,
) -> list[Finding]:
    try:
        spec: FieldSpec | None = template.field(exp.field)
    except KeyError:
        spec = None
    label = spec.label_ja if spec else exp.field
    if exp.type == EXIST:
        if outcome:
            return []
        return [error(
            "missing_column",
            f"『{label}』の列が見つかりません。見出しを確認してください",
            f"required column {exp.field} ({label}) was not found in the header",
            sheet=sheet, field=exp.field,
        )]
    out: list[Finding] = []
    for i in outcome:
        r = rows[i]
        value = r.values.get(exp.field)
        column = r.columns.get(exp.field) or columns.get(exp.field)
        ja, en = cell_message(exp, value, spec)
        out.append(error(
            exp.code,
            f"{where_ja(r.row, column, label)}: {ja}",
            f"{where_en(r.row, column, exp.field)}: {en}",
            sheet=r.sheet, row=r.row, column=column, field=exp.field,
        ))
    return out


# --------------------------------------------------------------------------- Great Expectations


def _frame(rows: Sequence[RowView], template: FormTemplate, present: set[str]):
    import pandas as pd

    data: dict[str, Any] = {}
    for spec in template.fields:
        if spec.id not in present:
            continue
        values = [r.values.get(spec.id) for r in rows]
        numeric = spec.type in NUMERIC_TYPES and all(
            v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in values
        )
        if numeric:
            data[spec.id] = pd.Series([math.nan if v is None else float(v) for v in values], dtype="float64")
        else:
            data[spec.id] = pd.Series(values, dtype="object")
    return pd.DataFrame(data, index=pd.RangeIndex(len(rows)))


def _gx_context():
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


def gx_suite(expectations: Sequence[FieldExpectation], name: str, template: FormTemplate | None = None):
    """The GX ExpectationSuite for the generated expectations (meta.tsunagu_index links results back)."""
    import great_expectations as gx
    import great_expectations.expectations as gxe

    classes = {
        EXIST: gxe.ExpectColumnToExist,
        NOT_NULL: gxe.ExpectColumnValuesToNotBeNull,
        BETWEEN: gxe.ExpectColumnValuesToBeBetween,
        REGEX: gxe.ExpectColumnValuesToMatchRegex,
        IN_SET: gxe.ExpectColumnValuesToBeInSet,
    }
    suite = gx.ExpectationSuite(name=name)
    for i, exp in enumerate(expectations):
        label = exp.field
        if template is not None:
            try:
                label = template.field(exp.field).label_ja
            except KeyError:
                pass
        suite.add_expectation(classes[exp.type](
            column=exp.field, meta={"tsunagu_index": i, "code": exp.code, "label_ja": label}, **exp.kwargs,
        ))
    return suite


def run_gx(
    rows: Sequence[RowView], template: FormTemplate, present: set[str], expectations: Sequence[FieldExpectation],
    *, name: str,
) -> tuple[list[list[int] | bool], Any]:
    """Run the whole suite once over a DataFrame of the rows. Returns per-expectation outcomes and the GX result."""
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier

    context = _gx_context()
    frame = _frame(rows, template, present)
    asset = context.data_sources.add_pandas("tsunagu").add_dataframe_asset(name)
    batch = asset.add_batch_definition_whole_dataframe("submission")
    suite = context.suites.add(gx_suite(expectations, name, template))
    definition = context.validation_definitions.add(gx.ValidationDefinition(name=name, data=batch, suite=suite))
    result = definition.run(
        batch_parameters={"dataframe": frame},
        result_format={"result_format": "COMPLETE"},
        run_id=RunIdentifier(run_name=name),
    )
    outcomes = [
        evaluate_python(e, rows, present) if outcome is None else outcome  # GX raised: the Python outcome
        for e, outcome in zip(expectations, gx_outcomes(result, expectations), strict=True)
    ]
    return outcomes, result


def gx_outcomes(result: Any, expectations: Sequence[FieldExpectation]) -> list[list[int] | bool | None]:
    """Each expectation's outcome as GX computed it (the shape of `evaluate_python`); None where GX raised."""
    outcomes: list[list[int] | bool | None] = [None] * len(expectations)
    for res in result.results:
        i = (res.expectation_config.meta or {}).get("tsunagu_index")
        if i is None:
            continue
        exp = expectations[i]
        info = res.exception_info or {}
        raised = info.get("raised_exception") if "raised_exception" in info else any(
            isinstance(v, dict) and v.get("raised_exception") for v in info.values()
        )
        if raised:
            continue
        if exp.type == EXIST:
            outcomes[i] = bool(res.success)
        elif res.success:
            outcomes[i] = []
        else:
            outcomes[i] = sorted(int(x) for x in (res.result or {}).get("unexpected_index_list") or [])
    return outcomes


def build_data_docs(gx_result: Any, target: Path, *, name: str = "tsunagu") -> Path:
    """Render a GX validation result as a filesystem Data Docs site in `target`; returns its index.html."""
    from great_expectations.core.expectation_validation_result import ExpectationSuiteValidationResult
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    if isinstance(gx_result, dict):
        gx_result = ExpectationSuiteValidationResult(**gx_result)
    context = _gx_context()
    context.add_data_docs_site(name, {
        "class_name": "SiteBuilder",
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(target)},
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
    })
    run_id = (gx_result.meta or {}).get("run_id") or RunIdentifier(run_name=name)
    if isinstance(run_id, dict):
        run_id = RunIdentifier(**run_id)
    key = ValidationResultIdentifier(
        expectation_suite_identifier=ExpectationSuiteIdentifier(name=gx_result.suite_name or name),
        run_id=run_id,
        batch_identifier="submission",
    )
    context.validation_results_store.set(key, gx_result)
    context.build_data_docs(site_names=[name])
    return target / "index.html"
