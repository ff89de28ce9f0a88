"""make bench: speed as ratios against baselines measured in the same run.

Each ratio is printed with its target and OK or MISSED. A baseline and what it is compared with are
measured as a pair, one right after the other, each in a fresh interpreter (import costs and caches
counted the same way on both sides), and pairs are repeated: the ratio shown is the median of the
pairs' ratios, so a busy machine slows both sides of a pair alike. Items 1 and 5 run with Python's
bytecode cached (var/bench/pycache, after one unmeasured run of each script), as an installed system runs.

1. Register intake (archive, read, normalise, validate, load the 8 real registers, ~135,000 rows)
   against pandas.read_excel(engine="openpyxl") reading the same files. Target ≥ 6×, median of 3.
   For information, the raw calamine read of the same files against the same baseline.
   Peak memory of the intake. Target < 1 GiB.
2. Parse time of each DAG file against an empty DAG file. Target ≤ 1.5×.
3. One file's latency: `tsunagu validate --json` of 埼玉's 様式11の3 CSV (659 rows) as a whole process
   (埼玉's register loaded, so the roster checks run), against a bare `python -c "import pandas"`.
   Target ≤ 3×. The CLI evaluates the generated GX suite in Python; for information, the import cost
   of GX (`python -c "import great_expectations"` against `import pandas`) and `validate --gx`.
4. The same for 埼玉's consolidated 交付申請 (`--kind grant`, 63 insurers × 3 事業区分). Target ≤ 3×.
5. National scale: register intake of ~580,000 rows (47 registers written by
   scripts/make_national_registers.py into var/bench/national, generated once) against the raw calamine
   read of the same files (one process, file after file). Target ≤ 2×; peak memory < 512 MiB.

6. Evaluation results (issue 9): `tsunagu ingest --kind evaluation_results` of one national file and
   `tsunagu evaluation analyse` of the 10 prefectures over 3 national years, whole processes, wall time
   as a ratio to `python -c "import pandas"` and peak RSS. Target: peak < 512 MiB each.

    .venv/bin/python bench/run.py [register] [dags] [validate] [grant] [national] [evaluation]   (default: all)
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MEIBO = REPO.parent / "shared" / "reference" / "meibo"
DEMO = REPO / "include" / "demo"
SAITAMA_CSV = DEMO / "home_care_reports" / "2025" / "11" / "埼玉_定例報告_R7.csv"
TSUNAGU = str(Path(sys.executable).with_name("tsunagu"))

BASELINE = r"""
import sys, time, json, resource
import pandas as pd
files = sys.argv[1:]
t = time.perf_counter()
rows = sum(len(pd.read_excel(f, engine="openpyxl", header=None, dtype=str)) for f in files)
print(json.dumps({"seconds": time.perf_counter() - t, "rows": rows,
                  "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""

# The raw read the intake starts with (tsunagu.intake.reader): every sheet of every file, as Python values.
CALAMINE = r"""
import sys, time, json, resource
from python_calamine import CalamineWorkbook
files = sys.argv[1:]
t = time.perf_counter()
rows = 0
for f in files:
    wb = CalamineWorkbook.from_path(f)
    for name in wb.sheet_names:
        rows += len(wb.get_sheet_by_name(name).to_python(skip_empty_area=False))
    wb.close()
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
                  "warnings": sum(o.warnings for o in outcomes),
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


# Bytecode as an installed system has it after its first run. Without a cache (PYTHONDONTWRITEBYTECODE, as in
# some sandboxes, and no .pyc in the venv) every fresh interpreter compiles each module it imports from source,
# inside the timed part of both sides (openpyxl, alembic, numpy … are imported lazily): seconds of compiling
# that no real intake pays. The register and national items therefore cache it in var/bench/pycache
# (PYTHONPYCACHEPREFIX: the venv is left as it is) and run each script once, unmeasured, before the pairs.
PYCACHE = REPO / "var" / "bench" / "pycache"


def run(code: str, *args: str, env: dict | None = None, bytecode: bool = False) -> dict:
    full = {**os.environ, **(env or {})}
    if bytecode:
        full.pop("PYTHONDONTWRITEBYTECODE", None)
        full["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=full, cwd=REPO)
    if proc.returncode:
        raise SystemExit(proc.stderr[-4000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def wall(argv: list[str], env: dict, ok: tuple[int, ...] = (0,)) -> float:
    """Wall time of a whole process (interpreter start and imports included)."""
    t = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, cwd=REPO, check=False, env=env)
    elapsed = time.perf_counter() - t
    if proc.returncode not in ok:
        raise SystemExit(f"{argv} exited {proc.returncode}: {proc.stderr.decode()[-4000:]}")
    return elapsed


def warm_up(scripts: list[str], file: str, env: dict | None = None) -> None:
    """Each script once on one small file, unmeasured: what it imports is compiled and cached (PYCACHE)."""
    for code in scripts:
        with tempfile.TemporaryDirectory() as home:
            run(code, file, env={**(env or {}), "BENCH_HOME": home}, bytecode=True)


def pairs(baseline: Callable[[], float], ours: Callable[[], float], runs: int) -> list[tuple[float, float]]:
    """(baseline, ours) measured right after one another, ``runs`` times."""
    return [(baseline(), ours()) for _ in range(runs)]


def verdict(ok: bool) -> str:
    return "OK" if ok else "MISSED"


def at_most(ratio: float, target: float) -> str:
    return f"{ratio:5.2f}x  (target <= {target:g}x)  {verdict(ratio <= target)}"


def at_least(ratio: float, target: float) -> str:
    return f"{ratio:5.2f}x  (target >= {target:g}x)  {verdict(ratio >= target)}"


def median_ratio(measured: list[tuple[float, float]], *, speedup: bool) -> float:
    return statistics.median(b / o if speedup else o / b for b, o in measured)


def seconds(values: list[float]) -> str:
    return " ".join(f"{v:.2f}" for v in values) + " s"


# --------------------------------------------------------------------------- 1. register intake


def register_intake(runs: int = 3) -> None:
    files = sorted(MEIBO.glob("*.xlsx")) or sorted((DEMO / "register").glob("*.xlsx"))
    names = [str(f) for f in files]
    print(f"1. register intake: {len(files)} files from {files[0].parent}, {runs} paired runs")
    warm_up([BASELINE, CALAMINE, INTAKE], min(names, key=os.path.getsize))
    results = []
    for _ in range(runs):
        base = run(BASELINE, *names, bytecode=True)
        raw = run(CALAMINE, *names, bytecode=True)
        with tempfile.TemporaryDirectory() as home:
            ours = run(INTAKE, *names, env={"BENCH_HOME": home}, bytecode=True)
        results.append((base, raw, ours))
    base_s = [b["seconds"] for b, _, _ in results]
    raw_s = [r["seconds"] for _, r, _ in results]
    ours_s = [o["seconds"] for _, _, o in results]
    ours = results[-1][2]
    speedup = median_ratio(list(zip(base_s, ours_s, strict=True)), speedup=True)
    raw_speedup = median_ratio(list(zip(base_s, raw_s, strict=True)), speedup=True)
    print(f"  pandas.read_excel(openpyxl), read only: {seconds(base_s)}  {results[-1][0]['rows']:,} rows")
    print(f"  raw calamine read (for information):    {seconds(raw_s)}  {raw_speedup:.1f}x the baseline")
    print(f"  tsunagu read+normalise+validate+load:   {seconds(ours_s)}  {ours['rows']:,} rows, "
          f"{ours['roster']:,} roster entries, GX imported: {ours['gx_imported']}")
    print(f"  speed-up, median of the pairs: {at_least(speedup, 6)}")
    peak_mib = max(o["peak_kib"] for _, _, o in results) / 1024
    print(f"  peak memory of the intake: {peak_mib:.0f} MiB   (target < 1024 MiB)  {verdict(peak_mib < 1024)}"
          f"   [pandas baseline: {results[-1][0]['peak_kib'] / 1024:.0f} MiB]")


# --------------------------------------------------------------------------- 2. DAG parse time


def dag_parse() -> None:
    print("2. DAG parse time, fresh interpreter per parse (Airflow's import included), median of 5:")
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
            print(f"  {dag_file.name:<32} {t * 1000:7.0f} ms  {at_most(t / baseline, 1.5)}")
        print("  for information, each file's own cost once Airflow and @task are loaded:")
        for dag_file in [empty, *dag_files]:
            print(f"    {dag_file.name:<30} {median(PARSE_WARM, dag_file) * 1000:7.1f} ms")


# --------------------------------------------------------------------------- 3./4. one file's latency


def _same_output(args: list[str], env: dict) -> bool:
    """The CLI's default (suite in Python) and --gx print the same JSON."""
    outs = [subprocess.run(a, capture_output=True, text=True, cwd=REPO, env=env, check=False).stdout
            for a in (args, [*args[:2], "--gx", *args[2:]])]
    return bool(outs[0]) and outs[0] == outs[1]


def _latency(title: str, args: list[str], env: dict, runs: int) -> None:
    ok = (0, 1)  # accepted or rejected: both are a validation
    pandas = [sys.executable, "-c", "import pandas"]
    measured = pairs(lambda: wall(pandas, env), lambda: wall(args, env, ok), runs)
    gx = pairs(lambda: wall(pandas, env), lambda: wall([*args[:2], "--gx", *args[2:]], env, ok), 2)
    print(title)
    print(f"  python -c 'import pandas':          {seconds([b for b, _ in measured])}")
    print(f"  tsunagu validate --json:            {seconds([o for _, o in measured])}  "
          f"{at_most(median_ratio(measured, speedup=False), 3)}")
    print(f"  for information, tsunagu validate --gx --json: {seconds([o for _, o in gx])}  "
          f"{median_ratio(gx, speedup=False):.1f}x;  same JSON as without GX: {_same_output(args, env)}")


def one_file_latency(runs: int = 5) -> None:
    register = (sorted(MEIBO.glob("11*.xlsx")) or sorted((DEMO / "register").glob("11*.xlsx")))[0]
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "TSUNAGU_HOME": home}
        wall([TSUNAGU, "ingest", "--kind", "register", str(register)], env)  # the roster of 埼玉
        pandas = [sys.executable, "-c", "import pandas"]
        gx = [sys.executable, "-c", "import great_expectations"]
        imports = pairs(lambda: wall(pandas, env), lambda: wall(gx, env), 3)
        print("3. one file's latency, whole process, paired runs:")
        print(f"  import cost: python -c 'import great_expectations' {seconds([o for _, o in imports])} vs "
              f"'import pandas' {seconds([b for b, _ in imports])}: {median_ratio(imports, speedup=False):.1f}x")
        args = [TSUNAGU, "validate", "--kind", "home_care_report", "--prefecture", "11", "--fiscal-year", "2025",
                "--json", str(SAITAMA_CSV)]
        _latency(f"  埼玉 様式11の3 CSV (659 rows), {runs} paired runs:", args, env, runs)


def grant_validation(runs: int = 5) -> None:
    (file,) = (DEMO / "grants").glob("2025-02-21/**/11/*.xlsx")
    args = [TSUNAGU, "validate", "--kind", "grant", "--program", "community_support", "--stage", "application",
            "--prefecture", "11", "--fiscal-year", "2024", "--json", str(file)]
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "TSUNAGU_HOME": home}
        _latency(f"4. grant validation, 埼玉 交付申請 (189 rows), whole process, {runs} paired runs:", args, env, runs)


# --------------------------------------------------------------------------- 5. national scale


def national(runs: int = 3) -> None:
    sys.path.insert(0, str(REPO / "scripts"))
    from make_national_registers import DEFAULT_OUT, ensure

    manifest = ensure()
    names = [str(DEFAULT_OUT / "registers" / f["file"]) for f in manifest["files"]]
    env = {"TSUNAGU_INCLUDE": manifest["include"]}  # a jurisdiction of all 47 prefectures
    print(f"5. national scale: {len(names)} registers, {manifest['rows']:,} rows "
          f"(scripts/make_national_registers.py), {runs} paired runs")
    warm_up([CALAMINE, INTAKE], min(names, key=os.path.getsize), env)
    results = []
    for _ in range(runs):
        raw = run(CALAMINE, *names, bytecode=True)
        with tempfile.TemporaryDirectory() as home:
            ours = run(INTAKE, *names, env={**env, "BENCH_HOME": home}, bytecode=True)
        results.append((raw, ours))
    raw_s = [r["seconds"] for r, _ in results]
    ours_s = [o["seconds"] for _, o in results]
    ours = results[-1][1]
    ratio = median_ratio(list(zip(raw_s, ours_s, strict=True)), speedup=False)
    print(f"  raw calamine read:                    {seconds(raw_s)}  {results[-1][0]['rows']:,} rows")
    print(f"  tsunagu read+normalise+validate+load: {seconds(ours_s)}  {ours['rows']:,} rows, "
          f"{ours['roster']:,} roster entries, {ours['warnings']} warnings")
    print(f"  intake / raw read, median of the pairs: {at_most(ratio, 2)}")
    peak_mib = max(o["peak_kib"] for _, o in results) / 1024
    print(f"  peak memory of the intake: {peak_mib:.0f} MiB   (target < 512 MiB)  {verdict(peak_mib < 512)}"
          f"   [raw read: {results[-1][0]['peak_kib'] / 1024:.0f} MiB]")


# --------------------------------------------------------------------------- evaluation results (issue 9)


def measure(argv: list[str], env: dict, ok: tuple[int, ...] = (0,)) -> tuple[float, float]:
    """(wall seconds, peak RSS in MiB) of one whole process: its own rusage, not the children's maximum."""
    with tempfile.TemporaryFile() as err:  # a file, not a pipe: nothing blocks while we wait
        t = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err, cwd=REPO, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - t
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        if code not in ok:
            err.seek(0)
            raise SystemExit(f"{argv} exited {code}: {err.read().decode()[-4000:]}")
    return elapsed, usage.ru_maxrss / 1024


def evaluation(runs: int = 2) -> None:
    """The ministry's national evaluation results (1,741 insurers × ~330 indicator columns, written by
    scripts/make_evaluation_results.py into a temp dir): `tsunagu ingest --kind evaluation_results` of one
    national file, and `tsunagu evaluation analyse` of the 10 prefectures over three national years
    (2024–2026, the first two loaded beforehand, unmeasured), each a whole process against
    `python -c "import pandas"` in the same run. Peak memory targets < 512 MiB."""
    years = (2024, 2025, 2026)
    print(f"6. evaluation results: {len(years)} national files (scripts/make_evaluation_results.py), {runs} runs")
    with tempfile.TemporaryDirectory() as tmp:
        files = {y: Path(tmp) / f"national_{y}.xlsx" for y in years}
        for y, f in files.items():
            wall([sys.executable, "scripts/make_evaluation_results.py", "--fiscal-year", str(y), "--out", str(f)],
                 dict(os.environ))
        pandas = [sys.executable, "-c", "import pandas"]
        rows = []
        for i in range(runs):
            home = Path(tmp) / f"home{i}"
            env = {**os.environ, "TSUNAGU_HOME": str(home), "TSUNAGU_DB_URL": f"sqlite:///{home / 'warehouse.sqlite'}"}
            for y in years[:-1]:  # last years' results, loaded beforehand
                wall([TSUNAGU, "ingest", "--kind", "evaluation_results", "--fiscal-year", str(y), str(files[y])], env)
            base_i = measure(pandas, env)
            ingest = measure([TSUNAGU, "ingest", "--kind", "evaluation_results", "--fiscal-year", str(years[-1]),
                              str(files[years[-1]])], env)
            base_a = measure(pandas, env)
            analyse = measure([TSUNAGU, "evaluation", "analyse", "--fiscal-year", str(years[-1]), "--out",
                               str(home / "out")], env)
            rows.append((base_i, ingest, base_a, analyse))
    for title, at in (("ingest of one national file (1,741 insurers)", 1),
                      ("analyse, 10 prefectures × 3 national years ", 3)):
        base = [r[at - 1] for r in rows]
        ours = [r[at] for r in rows]
        ratio = statistics.median(o[0] / b[0] for b, o in zip(base, ours, strict=True))
        peak = max(o[1] for o in ours)
        print(f"  {title}: {seconds([o[0] for o in ours])}  {ratio:6.1f}x 'import pandas' "
              f"({seconds([b[0] for b in base])});  peak {peak:.0f} MiB (target < 512 MiB)  {verdict(peak < 512)}")


ITEMS = {"register": register_intake, "dags": dag_parse, "validate": one_file_latency, "grant": grant_validation,
         "national": national, "evaluation": evaluation}


def main(argv: list[str]) -> None:
    unknown = [a for a in argv if a not in ITEMS]
    if unknown:
        raise SystemExit(f"unknown item {unknown[0]!r}; items: {', '.join(ITEMS)}")
    for name in argv or ITEMS:
        ITEMS[name]()
        sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1:])
