"""The flow registry: every submission kind, one flow each.

The landing scan, ``ingest_file``, the CLI and the DAGs all read this registry; adding a kind
means adding a flow module and registering it here (grant stages come from the programs' config).
"""

from __future__ import annotations

from functools import cache

from tsunagu.flows.base import (
    Checked,
    Flow,
    Landing,
    LandingFile,
    Loaded,
    Outcome,
    begin_submission,
    finish_submission,
    open_warehouse,
)

__all__ = [
    "Checked", "Flow", "Landing", "LandingFile", "Loaded", "Outcome", "begin_submission", "finish_submission",
    "all_flows", "get_flow", "kinds", "open_warehouse",
]


@cache
def _registry() -> dict[str, Flow]:
    from tsunagu.flows.evaluation_results import EvaluationResultsFlow
    from tsunagu.flows.grants import grant_flows
    from tsunagu.flows.home_care_report import HomeCareReportFlow
    from tsunagu.flows.register import RegisterFlow
    from tsunagu.flows.request_form import RequestFormFlow
    from tsunagu.flows.survey_return import SurveyReturnFlow

    flows: list[Flow] = [RegisterFlow(), HomeCareReportFlow(), RequestFormFlow(), SurveyReturnFlow(), *grant_flows(),
                        EvaluationResultsFlow()]
    registry: dict[str, Flow] = {}
    for flow in sorted(flows, key=lambda f: f.order):
        if flow.kind in registry:
            raise ValueError(f"two flows for kind {flow.kind!r}")
        registry[flow.kind] = flow
    return registry


def all_flows() -> list[Flow]:
    """Every flow, in ingest order (registers first: the roster checks need them)."""
    return list(_registry().values())


def kinds() -> list[str]:
    return list(_registry())


def get_flow(kind: str) -> Flow:
    try:
        return _registry()[kind]
    except KeyError:
        raise KeyError(f"unknown submission kind {kind!r} (known: {', '.join(kinds())})") from None
