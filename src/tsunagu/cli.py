"""tsunagu: the operators' command line, a thin layer over tsunagu.pipeline and the flow registry.

  tsunagu ingest --kind register FILE...
  tsunagu validate --kind KIND --prefecture 11 --fiscal-year 2025 [--json] FILE
  tsunagu ingest --kind home_care_report --prefecture 11 --fiscal-year 2025 FILE...
  tsunagu ingest --kind request_form --prefecture 11 FILE...
  tsunagu ingest --kind survey_return --prefecture 11 --fiscal-year 2025 FILE...
  tsunagu validate|ingest --kind grant --program community_support|care_fund|integrated_health --stage STAGE
          --prefecture 11 --fiscal-year 2025 [--json] FILE...
  tsunagu grants status --program P --fiscal-year 2025 [--prefecture 11] --out DIR
  tsunagu grants approve-cap --program community_support --fiscal-year 2025 --filer 111005 --item general
          --amount YEN --approver NAME [--note TEXT]
  tsunagu publish --fiscal-year 2025 [--prefecture 11 ...] --out DIR
  tsunagu approve --fiscal-year 2025 --prefecture 11 --version V --approver NAME [--note TEXT]
  tsunagu cycle [--cycle distribution|grant.<program>|all] [--day 2025-11-12] [--prefecture 11 ...] [--dry-run]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

EXIT_CODES = {"accepted": 0, "rejected": 1, "unreadable": 2}
# Kinds named on the command line; a grant is --kind grant with --program and --stage.
BASE_KINDS = ["register", "home_care_report", "request_form", "survey_return"]
GRANT = "grant"
PROGRAMS = ["community_support", "care_fund", "integrated_health"]


def _kind_args(p: argparse.ArgumentParser, kinds: list[str]) -> None:
    p.add_argument("--kind", required=True, choices=kinds)
    p.add_argument("--program", choices=PROGRAMS, help="grant program (--kind grant)")
    p.add_argument("--stage", help="grant stage, e.g. application (--kind grant)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tsunagu", description="関東信越厚生局 地域包括ケア推進課 data pipeline")
    sub = parser.add_subparsers(dest="command", required=True)

    ingest = sub.add_parser("ingest", help="archive, validate and load files")
    _kind_args(ingest, [*BASE_KINDS, GRANT])
    ingest.add_argument("--prefecture", help="sender's prefecture code (all kinds but register)")
    ingest.add_argument("--fiscal-year", type=int, help="fiscal year (home_care_report, survey_return)")
    ingest.add_argument("--dry-run", action="store_true", help="validate and report only; write nothing")
    ingest.add_argument("--force", action="store_true", help="reprocess files already processed")
    ingest.add_argument("files", nargs="+", type=Path)

    validate = sub.add_parser("validate", help="validate one file without loading it")
    _kind_args(validate, [k for k in BASE_KINDS if k != "register"] + [GRANT])
    validate.add_argument("--prefecture", required=True)
    validate.add_argument("--fiscal-year", type=int, help="fiscal year (all kinds but request_form)")
    validate.add_argument("--json", action="store_true", help="print the machine-readable result")
    validate.add_argument("--no-gx", action="store_true", help="skip the Great Expectations layer (faster)")
    validate.add_argument("file", type=Path)

    publish = sub.add_parser("publish", help="write one package per prefecture")
    publish.add_argument("--fiscal-year", type=int, required=True)
    publish.add_argument("--prefecture", action="append", default=[], help="repeatable; default: all with data")
    publish.add_argument("--out", type=Path, help="output folder (default: $TSUNAGU_HOME/published)")

    approve = sub.add_parser("approve", help="承認: record the approval of one prefecture's release (data version)")
    approve.add_argument("--fiscal-year", type=int, required=True)
    approve.add_argument("--prefecture", required=True, help="2-digit JIS code, e.g. 11")
    approve.add_argument("--version", required=True, help="the version named in the pre-delivery notice")
    approve.add_argument("--approver", required=True)
    approve.add_argument("--note", default="")

    cycle = sub.add_parser("cycle", help="do what a cycle (distribution, or a grant program's) has due on a day, exactly once")
    cycle.add_argument("--cycle", action="append", default=[],
                       help="distribution (default) | grant.community_support | grant.care_fund | "
                            "grant.integrated_health | all; repeatable")
    cycle.add_argument("--day", type=dt.date.fromisoformat, default=None, help="YYYY-MM-DD (default: today, JST)")
    cycle.add_argument("--fiscal-year", type=int, default=None)
    cycle.add_argument("--prefecture", action="append", default=[], help="repeatable; default: all")
    cycle.add_argument("--dry-run", action="store_true", help="plan and print; send and write nothing")

    grants = sub.add_parser("grants", help="交付金: status boards and 個別協議 approvals")
    gsub = grants.add_subparsers(dest="grants_command", required=True)
    status = gsub.add_parser("status", help="the status board of a program and year (xlsx with a chart, and CSV)")
    status.add_argument("--program", required=True, choices=PROGRAMS)
    status.add_argument("--fiscal-year", type=int, required=True)
    status.add_argument("--prefecture", action="append", default=[], help="repeatable; default: the bureau-wide board and one per prefecture")
    status.add_argument("--out", type=Path, required=True)
    status.add_argument("--day", type=dt.date.fromisoformat, default=None, help="as of (default: today, JST)")
    cap = gsub.add_parser("approve-cap", help="個別協議: record an approved cap above the 総合事業 上限額")
    cap.add_argument("--program", default="community_support", choices=["community_support"])
    cap.add_argument("--fiscal-year", type=int, required=True)
    cap.add_argument("--filer", required=True, help="保険者番号 (6 digits)")
    cap.add_argument("--item", default="general", help="事業区分 id (default: general = 総合事業)")
    cap.add_argument("--amount", type=int, required=True, help="the approved cap (上限超過承認額), integer yen")
    cap.add_argument("--approver", required=True)
    cap.add_argument("--note", default="")
    return parser


def _require(args: argparse.Namespace, *names: str) -> None:
    """``names`` are flow fields (prefecture_code, fiscal_year); the flags are --prefecture, --fiscal-year."""
    flags = [{"prefecture_code": "prefecture"}.get(n, n) for n in names]
    missing = [f for f in flags if getattr(args, f) is None]
    if missing:
        sys.exit(f"tsunagu: --{missing[0].replace('_', '-')} is required for --kind {args.kind}")


def _kind(args: argparse.Namespace) -> str:
    """The flow kind named by --kind (and --program/--stage for grants)."""
    if args.kind != GRANT:
        return args.kind
    from tsunagu.flows import kinds
    from tsunagu.flows.grants import grant_kind

    if not args.program or not args.stage:
        sys.exit("tsunagu: --program and --stage are required for --kind grant")
    kind = grant_kind(args.program, args.stage)
    if kind not in kinds():
        stages = [k.rsplit(".", 1)[1] for k in kinds() if k.startswith(grant_kind(args.program, ""))]
        sys.exit(f"tsunagu: unknown stage {args.stage!r} of {args.program} (stages: {', '.join(stages)})")
    return kind


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from tsunagu import pipeline

    if args.command == "validate":
        kind = _kind(args)
        if kind != "request_form":
            _require(args, "fiscal_year")
        warehouse = None
        try:
            warehouse = pipeline.open_warehouse()
        except Exception as exc:  # validation still runs without the roster; say so
            print(f"warning: warehouse unavailable ({exc}); roster checks skipped", file=sys.stderr)
        result = pipeline.validate_file(
            kind, args.file, prefecture_code=args.prefecture, fiscal_year=args.fiscal_year, warehouse=warehouse,
            use_gx=not args.no_gx,
        ).result
        if args.json:
            print(json.dumps(result.to_json(), ensure_ascii=False, indent=2))
        else:
            print(f"{args.file}: {result.status}, {result.rows} rows")
            for f in result.findings:
                where = " ".join(x for x in (f.sheet, f"{f.column or ''}{f.row or ''}") if x)
                print(f"  [{f.severity}] {where} {f.code}: {f.message_ja} / {f.message_en}")
        return EXIT_CODES[result.status]

    if args.command == "ingest":
        from tsunagu.flows import get_flow

        kind = _kind(args)
        flow = get_flow(kind)
        _require(args, *flow.requires)
        if flow.batch:
            outcomes = flow.ingest_many(args.files, dry_run=args.dry_run, force=args.force)
        else:
            outcomes = [
                pipeline.ingest_file(
                    pipeline.LandingFile(kind, str(path), args.prefecture, args.fiscal_year),
                    dry_run=args.dry_run, force=args.force,
                )
                for path in args.files
            ]
        for outcome in outcomes:
            print(json.dumps(outcome.to_dict(), ensure_ascii=False))
        return max((EXIT_CODES.get(o.status, 0) for o in outcomes), default=0)

    if args.command == "publish":
        packages = pipeline.publish(args.fiscal_year, prefectures=args.prefecture or None, out_dir=args.out)
        for p in packages:
            print(f"{p['fiscal_year']} {p['prefecture_code']}: {p['rows']} rows -> {p['dir']}")
        if not packages:
            print("nothing to publish: no accepted rows for that year and prefecture")
        return 0

    if args.command == "approve":
        from tsunagu.cycle.approvals import ApprovalError, approve_release

        try:
            a = approve_release(args.fiscal_year, args.prefecture, args.version, args.approver, args.note)
        except ApprovalError as exc:
            print(f"tsunagu: {exc}", file=sys.stderr)
            return 2
        state = "approved" if a.recorded else "already approved"
        print(f"{state}: {a.fiscal_year} {a.prefecture_code} {a.version} by {a.approver}")
        return 0

    if args.command == "cycle":
        from tsunagu.cycle.engine import cycle_ids, run_cycles

        day = args.day or dt.datetime.now(dt.timezone(dt.timedelta(hours=9))).date()
        cycles = cycle_ids() if "all" in args.cycle else (args.cycle or ["distribution"])
        unknown = set(cycles) - set(cycle_ids())
        if unknown:
            sys.exit(f"tsunagu: unknown cycle {sorted(unknown)[0]!r} (cycles: {', '.join(cycle_ids())}, all)")
        results = run_cycles(day, cycles=cycles, fiscal_year=args.fiscal_year, prefectures=args.prefecture or None,
                             dry_run=args.dry_run)
        for r in results:
            print(json.dumps(r.to_dict(), ensure_ascii=False))
        return 1 if any(r.status in ("failed", "blocked") for r in results) else 0

    if args.command == "grants":
        return _grants(args)
    return 2


def _grants(args: argparse.Namespace) -> int:
    from tsunagu import pipeline

    if args.grants_command == "status":
        from tsunagu.grants.status import write_status_boards

        day = args.day or dt.datetime.now(dt.timezone(dt.timedelta(hours=9))).date()
        boards = write_status_boards(pipeline.open_warehouse(), args.program, args.fiscal_year, args.out,
                                     prefectures=args.prefecture or None, day=day)
        for b in boards:
            print(f"{b.scope}: {b.rows} rows -> {b.xlsx} {b.csv}")
        return 0
    if args.grants_command == "approve-cap":
        from tsunagu.warehouse.grants import approve_cap

        approval, created = approve_cap(
            pipeline.open_warehouse(), program=args.program, fiscal_year=args.fiscal_year, filer_code=args.filer,
            item_key=args.item, approved_cap=args.amount, approver=args.approver, note=args.note,
        )
        state = "approved" if created else "already approved"
        print(f"{state}: {args.program} {args.fiscal_year} {args.filer}/{args.item} cap {args.amount:,} yen by {args.approver}")
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
