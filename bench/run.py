"""make bench: speed as ratios against baselines measured in the same run.

1. Register intake (read, normalise, validate, load the 8 real registers) against
   pandas.read_excel(engine="openpyxl") reading the same files. Target ≥ 4×.
2. Parse time of each DAG file against an empty DAG file. Target ≤ 1.5×.
3. Peak memory of the register intake. Target < 1 GiB.

Each measurement runs in a fresh interpreter, so import costs and caches are
counted the same way for both sides.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MEIBO = REPO.parent / "shared" / "reference" / "meibo"

BASELINE = r"""
import sys, time, json, resource
import pandas as pd
files = sys.argv[1:]
t = time.perf_counter()
rows = sum(len(pd.read_excel(f, engine="openpyxl", header=None, dtype=str)) for f in files)
print(json.dumps({"seconds": time.perf_counter() - t, "rows": rows,
                  "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""

INTAKE = r"""
import sys, time, json, resource, os
t = time.perf_counter()
from tsunagu.pipeline import ingest_register, open_warehouse
from tsunagu.settings import get_settings
settings = get_settings(home=os.environ["BENCH_HOME"])
warehouse = open_warehouse(settings)
outcomes = [ingest_register(f, settings=settings, warehouse=warehouse) for f in sys.argv[1:]]
elapsed = time.perf_counter() - t
assert all(o.status == "accepted" for o in outcomes), [o.to_dict() for o in outcomes]
print(json.dumps({"seconds": elapsed, "rows": sum(o.rows for o in outcomes),
                  "roster": len(warehouse.roster()),
                  "gx_imported": "great_expectations" in sys.modules,
                  "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""

PARSE = r"""
import sys, time, json
from airflow.dag_processing.dagbag import DagBag
DagBag(dag_folder=sys.argv[2])  # warm Airflow itself; the file under test is parsed cold below
t = time.perf_counter()
bag = DagBag(dag_folder=sys.argv[1])
elapsed = time.perf_counter() - t
assert not bag.import_errors, bag.import_errors
print(json.dumps({"seconds": elapsed, "dags": len(bag.dags)}))
"""

EMPTY_DAG = '''
import pendulum
from airflow.sdk import dag

@dag(dag_id="empty", schedule=None, start_date=pendulum.datetime(2025, 1, 1), catchup=False)
def empty():
    pass

empty()
'''


def run(code: str, *args: str, env: dict | None = None) -> dict:
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=REPO)
    if proc.returncode:
        raise SystemExit(proc.stderr[-4000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    files = sorted(MEIBO.glob("*.xlsx")) or sorted((REPO / "include" / "demo" / "register").glob("*.xlsx"))
    names = [str(f) for f in files]
    print(f"register intake: {len(files)} files from {files[0].parent}")
    base = run(BASELINE, *names)
    with tempfile.TemporaryDirectory() as home:
        ours = run(INTAKE, *names, env={"BENCH_HOME": home})
    ratio = base["seconds"] / ours["seconds"]
    print(f"  pandas.read_excel(openpyxl), read only: {base['seconds']:7.2f} s  {base['rows']:,} rows")
    print(f"  tsunagu read+normalise+validate+load:   {ours['seconds']:7.2f} s  {ours['rows']:,} rows, "
          f"{ours['roster']:,} roster entries, GX imported: {ours['gx_imported']}")
    print(f"  speed-up: {ratio:.1f}x   (target >= 4x)  {'OK' if ratio >= 4 else 'MISSED'}")
    peak_mib = ours["peak_kib"] / 1024
    print(f"  peak memory of the intake: {peak_mib:.0f} MiB   (target < 1024 MiB)  "
          f"{'OK' if peak_mib < 1024 else 'MISSED'}   [pandas baseline: {base['peak_kib'] / 1024:.0f} MiB]")

    print("DAG parse time (fresh interpreter each, Airflow warmed, median of 5):")
    with tempfile.TemporaryDirectory() as tmp:
        empty = Path(tmp) / "empty_dag.py"
        empty.write_text(EMPTY_DAG)
        warm = Path(tmp) / "warm"
        warm.mkdir()
        (warm / "empty_dag.py").write_text(EMPTY_DAG.replace('"empty"', '"warm"'))

        def median(path: Path) -> float:
            return statistics.median(run(PARSE, str(path), str(warm))["seconds"] for _ in range(5))

        baseline = median(empty)
        print(f"  empty DAG file: {baseline * 1000:7.1f} ms")
        for dag_file in sorted((REPO / "dags").glob("*.py")):
            t = median(dag_file)
            r = t / baseline
            print(f"  {dag_file.name:<32} {t * 1000:7.1f} ms  {r:.2f}x  (target <= 1.5x)  {'OK' if r <= 1.5 else 'MISSED'}")


if __name__ == "__main__":
    main()
