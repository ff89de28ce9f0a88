"""make bench: speed as ratios against baselines measured in the same run.

1. Register intake (read, normalise, validate, load the 8 real registers) against
   pandas.read_excel(engine="openpyxl") reading the same files. Target ≥ 4×.
2. Parse time of each DAG file against an empty DAG file. Target ≤ 1.5×.
3. Peak memory of the register intake. Target < 1 GiB.
4. Validating 埼玉's consolidated 交付申請 (63 insurers × 3 事業区分) as a whole process
   (`tsunagu validate --kind grant … --json`), with and without GX, against a bare
   `python -c "import pandas"`. For information (no target yet).

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
from tsunagu.pipeline import ingest_registers, open_warehouse
from tsunagu.settings import get_settings
t = time.perf_counter()  # after the imports, as for the baseline
settings = get_settings(home=os.environ["BENCH_HOME"])
warehouse = open_warehouse(settings)
outcomes = ingest_registers(sys.argv[1:], settings=settings, warehouse=warehouse)
elapsed = time.perf_counter() - t
assert all(o.status == "accepted" for o in outcomes), [o.to_dict() for o in outcomes]
print(json.dumps({"seconds": elapsed, "rows": sum(o.rows for o in outcomes),
                  "roster": len(warehouse.roster()),
                  "gx_imported": "great_expectations" in sys.modules,
                  "peak_kib": max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                                  resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)}))
"""

# Parse one DAG file the way the DAG processor does, in a fresh interpreter: Airflow's import included.
PARSE_COLD = r"""
import sys, time, json
t = time.perf_counter()
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
elapsed = time.perf_counter() - t
assert not bag.import_errors, bag.import_errors
print(json.dumps({"seconds": elapsed, "dags": len(bag.dags)}))
"""

# The file's own cost once Airflow and the TaskFlow machinery are loaded (argv[2] warms them).
PARSE_WARM = r"""
import sys, time, json
from airflow.dag_processing.dagbag import DagBag
DagBag(dag_folder=sys.argv[2])
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

ONE_TASK_DAG = '''
import pendulum
from airflow.sdk import dag, task

@dag(dag_id="warm", schedule=None, start_date=pendulum.datetime(2025, 1, 1), catchup=False)
def warm():
    @task
    def hello():
        return 1

    hello()

warm()
'''


def run(code: str, *args: str, env: dict | None = None) -> dict:
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=REPO)
    if proc.returncode:
        raise SystemExit(proc.stderr[-4000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def wall(argv: list[str], env: dict, runs: int = 3) -> float:
    """Median wall time of a whole process (interpreter start and imports included)."""
    import time

    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(argv, capture_output=True, cwd=REPO, check=False, env=env)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def grant_validation() -> None:
    (file,) = (REPO / "include" / "demo" / "grants").glob("2025-02-21/**/11/*.xlsx")
    tsunagu = str(Path(sys.executable).with_name("tsunagu"))
    args = [tsunagu, "validate", "--kind", "grant", "--program", "community_support", "--stage", "application",
            "--prefecture", "11", "--fiscal-year", "2024", "--json", str(file)]
    print("grant validation, 埼玉 交付申請 (189 rows), whole process, median of 3:")
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "TSUNAGU_HOME": home}
        base = wall([sys.executable, "-c", "import pandas"], env)
        gx = wall(args, env)
        plain = wall([*args[:-1], "--no-gx", args[-1]], env)
    print(f"  python -c 'import pandas':        {base:6.2f} s")
    print(f"  tsunagu validate --json (GX):     {gx:6.2f} s  {gx / base:.1f}x")
    print(f"  tsunagu validate --json --no-gx:  {plain:6.2f} s  {plain / base:.1f}x")


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

    print("DAG parse time, fresh interpreter per parse (Airflow's import included), median of 5:")
    with tempfile.TemporaryDirectory() as tmp:
        empty = Path(tmp) / "empty" / "empty_dag.py"
        warm = Path(tmp) / "warm" / "warm_dag.py"
        for path, text in ((empty, EMPTY_DAG), (warm, ONE_TASK_DAG)):
            path.parent.mkdir()
            path.write_text(text)

        def median(code: str, path: Path) -> float:
            return statistics.median(run(code, str(path), str(warm))["seconds"] for _ in range(5))

        baseline = median(PARSE_COLD, empty)
        print(f"  empty DAG file: {baseline * 1000:7.0f} ms")
        dag_files = sorted((REPO / "dags").glob("*.py"))
        for dag_file in dag_files:
            t = median(PARSE_COLD, dag_file)
            r = t / baseline
            print(f"  {dag_file.name:<32} {t * 1000:7.0f} ms  {r:.2f}x  (target <= 1.5x)  {'OK' if r <= 1.5 else 'MISSED'}")
        print("  for information, each file's own cost once Airflow and @task are loaded:")
        for dag_file in [empty, *dag_files]:
            print(f"    {dag_file.name:<30} {median(PARSE_WARM, dag_file) * 1000:7.1f} ms")
    grant_validation()


if __name__ == "__main__":
    main()
