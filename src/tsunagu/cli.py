"""tsunagu: the operators' command line, a thin layer over tsunagu.pipeline.

  tsunagu ingest --kind register FILE...
  tsunagu validate --kind home_care_report --prefecture 11 --fiscal-year 2025 [--json] FILE
  tsunagu ingest --kind home_care_report --prefecture 11 --fiscal-year 2025 FILE...
  tsunagu ingest --kind request_form --prefecture 11 FILE...
  tsunagu ingest --kind survey_return --prefecture 11 --fiscal-year 2025 FILE...
  tsunagu publish --fiscal-year 2025 [--prefecture 11 ...] --out DIR
  tsunagu approve --fiscal-year 2025 --prefecture 11 --version V --approver NAME [--note TEXT]
  tsunagu cycle [--day 2025-11-12] [--prefecture 11 ...] [--dry-run]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

EXIT_CODES = {"accepted": 0, "rejected": 1, "unreadable": 2}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tsunagu", description="関東信越厚生局 地域包括ケア推進課 data pipeline")
    sub = parser.add_subparsers(dest="command", required=True)

    ingest = sub.add_parser("ingest", help="archive, validate and load files")
    ingest.add_argument("--kind", required=True, choices=["register", "home_care_report", "request_form", "survey_return"])
    ingest.add_argument("--prefecture", help="sender's prefecture code (all kinds but register)")
    ingest.add_argument("--fiscal-year", type=int, help="fiscal year (home_care_report, survey_return)")
    ingest.add_argument("--dry-run", action="store_true", help="validate and report only; write nothing")
    ingest.add_argument("--force", action="store_true", help="reprocess files already processed")
    ingest.add_argument("files", nargs="+", type=Path)

    validate = sub.add_parser("validate", help="validate one file without loading it")
    validate.add_argument("--kind", required=True, choices=["home_care_report"])
    validate.add_argument("--prefecture", required=True)
    validate.add_argument("--fiscal-year", type=int, required=True)
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

    cycle = sub.add_parser("cycle", help="do what the Sept–Dec distribution cycle has due on a day (exactly once)")
    cycle.add_argument("--day", type=dt.date.fromisoformat, default=None, help="YYYY-MM-DD (default: today, JST)")
    cycle.add_argument("--fiscal-year", type=int, default=None)
    cycle.add_argument("--prefecture", action="append", default=[], help="repeatable; default: all")
    cycle.add_argument("--dry-run", action="store_true", help="plan and print; send and write nothing")

    return parser


def _require(args: argparse.Namespace, *names: str) -> None:
    missing = [n for n in names if getattr(args, n) is None]
    if missing:
        sys.exit(f"tsunagu: --{missing[0].replace('_', '-')} is required for --kind {args.kind}")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from tsunagu import pipeline

    if args.command == "validate":
        warehouse = None
        try:
            warehouse = pipeline.open_warehouse()
        except Exception as exc:  # validation still runs without the roster; say so
            print(f"warning: warehouse unavailable ({exc}); roster checks skipped", file=sys.stderr)
        result, _ = pipeline.validate_home_care_report(
            args.file, prefecture_code=args.prefecture, fiscal_year=args.fiscal_year, warehouse=warehouse,
            use_gx=not args.no_gx,
        )
        if args.json:
            print(json.dumps(result.to_json(), ensure_ascii=False, indent=2))
        else:
            print(f"{args.file}: {result.status}, {result.rows} rows")
            for f in result.findings:
                where = " ".join(x for x in (f.sheet, f"{f.column or ''}{f.row or ''}") if x)
                print(f"  [{f.severity}] {where} {f.code}: {f.message_ja} / {f.message_en}")
        return EXIT_CODES[result.status]

    if args.command == "ingest":
        if args.kind in ("home_care_report", "survey_return"):
            _require(args, "prefecture", "fiscal_year")
        elif args.kind == "request_form":
            _require(args, "prefecture")
        if args.kind == "register":
            outcomes = pipeline.ingest_registers(args.files, dry_run=args.dry_run, force=args.force)
        else:
            outcomes = [
                pipeline.ingest_file(
                    pipeline.LandingFile(args.kind, str(path), args.prefecture, args.fiscal_year),
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
        from tsunagu.cycle.planner import run_cycle_day

        day = args.day or dt.datetime.now(dt.timezone(dt.timedelta(hours=9))).date()
        results = run_cycle_day(day, fiscal_year=args.fiscal_year, prefectures=args.prefecture or None,
                                dry_run=args.dry_run)
        for r in results:
            print(json.dumps(r.to_dict(), ensure_ascii=False))
        return 1 if any(r.status in ("failed", "blocked") for r in results) else 0

    return 2


if __name__ == "__main__":
    sys.exit(main())
