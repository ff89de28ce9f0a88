"""approve_release: record the approval of one release (a prefecture's data version) — by hand only.

The distribution cycle delivers a prefecture's latest release only once it is approved, and ships
exactly the approved version. Refused: an unknown version, or one that is not the latest release.
The version is given in the pre-delivery notice (事前共有) mail and in the cycle's daily record.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

from tsunagu.cycle.dag_params import approval_params
from tsunagu.dag_params import check_params

PARAMS = approval_params()


@dag(
    dag_id="approve_release",
    schedule=None,
    start_date=pendulum.datetime(2025, 9, 1, tz="Asia/Tokyo"),
    catchup=False,
    params=PARAMS,
    tags=["tsunagu", "deliver"],
    doc_md=__doc__,
)
def approve_release():
    @task(multiple_outputs=False)
    def approve(params: dict | None = None) -> dict:
        from tsunagu.cycle.approvals import approve_release as record

        approval = record(params["fiscal_year"], params["prefecture"], params["version"], params["approver"],
                          params.get("note") or "")
        print(("recorded" if approval.recorded else "already approved") + f": {approval.to_dict()}")
        return approval.to_dict()

    check_params(PARAMS) >> approve()


approve_release()
