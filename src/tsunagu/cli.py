"""tsunagu: the operators' command line, a thin layer over tsunagu.pipeline and the flow registry.

  tsunagu ingest --kind register FILE...
  tsunagu validate --kind KIND --prefecture 11 --fiscal-year 2025 [--json] [--gx] FILE
  tsunagu validate --kind evaluation_results --fiscal-year 2025 [--json] FILE
  tsunagu ingest --kind home_care_report --prefecture 11 --fiscal-year 2025 FILE...
  tsunagu ingest --kind request_form --prefecture 11 FILE...
  tsunagu ingest --kind survey_return --prefecture 11 --fiscal-year 2025 FILE...
  tsunagu ingest --kind evaluation_results --fiscal-year 2025 FILE
  tsunagu validate|ingest --kind grant --program community_support|care_fund|integrated_health --stage STAGE
          --prefecture 11 --fiscal-year 2025 [--json] FILE...
  tsunagu grants status --program P --fiscal-year 2025 [--prefecture 11] --out DIR
  tsunagu mail problems [--fiscal-year 2025]
  tsunagu mail resolve KEY --decision sent|resend --operator NAME --note TEXT
  tsunagu grants approve-cap --program community_support --fiscal-year 2025 --filer 111005 --item general
          --amount YEN --approver NAME [--note TEXT]
  tsunagu publish --fiscal-year 2025 [--prefecture 11 ...] --out DIR
  tsunagu approve --fiscal-year 2025 --prefecture 11 --version V --approver NAME [--note TEXT]
  tsunagu cycle [--cycle distribution|grant.<program>|evaluation|all] [--day 2025-11-12] [--prefecture 11 ...]
          [--dry-run]
  tsunagu evaluation analyse --fiscal-year 2025 [--prefecture 11 ...] --out DIR
  tsunagu airflow [--executor local|celery] [--port 8080]   (the real services; TSUNAGU_AIRFLOW_DB for PostgreSQL)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tsunagu import faults

EXIT_CODES = {"accepted": 0, "rejected": 1, "unreadable": 2}
# Outages: the run stopped (or its mails stayed unsent) because a server could not be used, whatever the
# files say. Never 1 (rejected): rerun when the server is back; what was done is recorded and skipped.
EXIT_DB_UNAVAILABLE = 3
EXIT_MAIL_UNAVAILABLE = 4
# Kinds named on the command line; a grant is --kind grant with --program and --stage.
BASE_KINDS = ["register", "home_care_report", "request_form", "survey_return"]
GRANT = "grant"
EVALUATION = "evaluation_results"  # the ministry's national file: no --prefecture (the sender is 00, 全国)
PROGRAMS = ["community_support", "care_fund", "integrated_health"]


def _kind_args(p: argparse.ArgumentParser, kinds: list[str]) -> None:
    p.add_argument("--kind", required=True, choices=kinds)
    p.add_argument("--program", choices=PROGRAMS, help="grant program (--kind grant)")
    p.add_argument("--stage", help="grant stage, e.g. application (--kind grant)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tsunagu", description="関東信越厚生局 地域包括ケア推進課 data pipeline")
    sub = parser.add_subparsers(dest="command", required=True)

    ingest = sub.add_parser("ingest", help="archive, validate and load files")
    _kind_args(ingest, [*BASE_KINDS, EVALUATION, GRANT])
    ingest.add_argument("--prefecture", help="sender's prefecture code (all kinds but register)")
    ingest.add_argument("--fiscal-year", type=int, help="fiscal year (home_care_report, survey_return, evaluation_results)")
    ingest.add_argument("--dry-run", action="store_true", help="validate and report only; write nothing")
    ingest.add_argument("--force", action="store_true", help="reprocess files already processed")
    ingest.add_argument("files", nargs="+", type=Path)

    validate = sub.add_parser("validate", help="validate one file without loading it")
    _kind_args(validate, [k for k in BASE_KINDS if k != "register"] + [EVALUATION, GRANT])
    validate.add_argument("--prefecture", help="sender's prefecture code (all kinds but evaluation_results)")
    validate.add_argument("--fiscal-year", type=int, help="fiscal year (all kinds but request_form)")
    validate.add_argument("--json", action="store_true", help="print the machine-readable result")
    # One file: the generated GX suite is evaluated in Python (same findings); --gx imports GX (~10 s).
    validate.add_argument("--gx", dest="no_gx", action="store_false", help="run the field rules with Great Expectations")
    validate.add_argument("--no-gx", action="store_true", help=argparse.SUPPRESS)  # the default; kept for scripts
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
                            "grant.integrated_health | evaluation | all; repeatable")
    cycle.add_argument("--day", type=dt.date.fromisoformat, default=None, help="YYYY-MM-DD (default: today, JST)")
    cycle.add_argument("--fiscal-year", type=int, default=None)
    cycle.add_argument("--prefecture", action="append", default=[], help="repeatable; default: all")
    cycle.add_argument("--dry-run", action="store_true", help="plan and print; send and write nothing")

    airflow = sub.add_parser("airflow", help="start the real Airflow services locally (api-server, scheduler, dag-processor)")
    from tsunagu.services import add_arguments as airflow_arguments

    airflow_arguments(airflow)

    mail = sub.add_parser("mail", help="mails waiting for an operator: outcome unknown, or refused for good")
    msub = mail.add_subparsers(dest="mail_command", required=True)
    problems = msub.add_parser("problems", help="list them (one JSON line each)")
    problems.add_argument("--fiscal-year", type=int, default=None)
    resolve = msub.add_parser("resolve", help="decide one: sent (confirmed received; never sent again) or resend")
    resolve.add_argument("key", help="the mail's key, as listed by `tsunagu mail problems`")
    resolve.add_argument("--decision", required=True, choices=["sent", "resend"])
    resolve.add_argument("--operator", required=True)
    resolve.add_argument("--note", required=True, help="why (e.g. found in the relay log with its Message-ID)")

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

    evaluation = sub.add_parser("evaluation", help="評価結果（保険者機能強化推進交付金等）: the analysis per prefecture")
    esub = evaluation.add_subparsers(dest="evaluation_command", required=True)
    analyse = esub.add_parser("analyse", help="one xlsx (with charts) + CSV + datapackage.json per prefecture")
    analyse.add_argument("--fiscal-year", type=int, required=True, help="the results analysed (earlier years: the trend)")
    analyse.add_argument("--prefecture", action="append", default=[],
                         help="repeatable; default: every prefecture of the jurisdiction with results")
    analyse.add_argument("--out", type=Path, required=True)
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
    """Run one command. Exit codes: 0 done/accepted, 1 rejected (or a cycle item failed), 2 unreadable
    (or refused), 3 the database is unavailable, 4 the mail server is unavailable (outages: see _outage)."""
    args = _parser().parse_args(argv)
    if args.command == "airflow":
        from tsunagu.services import main as airflow_main

        return airflow_main(args)
    progress = _Progress()
    try:
        return _run(args, progress)
    except Exception as exc:
        cause = _database_outage(exc)
        if cause is None:
            raise
        return _outage(EXIT_DB_UNAVAILABLE, _database_line(cause), progress)


def _run(args: argparse.Namespace, progress: _Progress) -> int:
    from tsunagu import pipeline

    if args.command == "validate":
        kind = _kind(args)
        if kind != "request_form":
            _require(args, "fiscal_year")
        if kind != EVALUATION:  # the national file has no sender prefecture
            _require(args, "prefecture_code")
        warehouse = None
        try:
            warehouse = pipeline.open_warehouse()
        except Exception as exc:  # validation still runs without the roster; say so
            if _database_outage(exc) is not None:
                raise  # an outage is not a missing warehouse: the roster checks would silently pass
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
        progress.pending = [str(p) for p in args.files]
        if flow.batch:  # one call for all files (parsed in parallel): outcomes only at the end
            progress.batch = True
            outcomes = flow.ingest_many(args.files, dry_run=args.dry_run, force=args.force)
            for outcome in outcomes:
                progress.finished(outcome)
        else:  # each outcome printed as it is decided: after an outage, stdout holds the files done
            outcomes = [
                progress.finished(pipeline.ingest_file(
                    pipeline.LandingFile(kind, str(path), args.prefecture, args.fiscal_year),
                    dry_run=args.dry_run, force=args.force,
                ))
                for path in args.files
            ]
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
        from tsunagu.cycle.engine import NOT_DONE, cycle_ids, run_cycles

        day = args.day or dt.datetime.now(dt.timezone(dt.timedelta(hours=9))).date()
        cycles = cycle_ids() if "all" in args.cycle else (args.cycle or ["distribution"])
        unknown = set(cycles) - set(cycle_ids())
        if unknown:
            sys.exit(f"tsunagu: unknown cycle {sorted(unknown)[0]!r} (cycles: {', '.join(cycle_ids())}, all)")
        results = []
        for cycle in cycles:  # one by one, printed as each ends: after an outage, stdout holds what was done
            done = run_cycles(day, cycles=[cycle], fiscal_year=args.fiscal_year,
                              prefectures=args.prefecture or None, dry_run=args.dry_run)
            for r in done:
                print(json.dumps(r.to_dict(), ensure_ascii=False), flush=True)
            results += done
        if outage := _cycle_outage(results):
            return outage
        return 1 if any(r.status in NOT_DONE for r in results) else 0

    if args.command == "mail":
        return _mail(args)
    if args.command == "grants":
        return _grants(args)
    if args.command == "evaluation":
        return _evaluation(args)
    return 2


def _evaluation(args: argparse.Namespace) -> int:
    """tsunagu evaluation analyse: read the warehouse (every insurer: the national figures need them) and
    write one package per prefecture."""
    from tsunagu import pipeline
    from tsunagu.evaluation.analysis import NoResultsError
    from tsunagu.evaluation.config import EvaluationConfigError
    from tsunagu.jurisdiction import load_jurisdiction
    from tsunagu.publish.evaluation_workbook import publish

    prefectures = [str(p).zfill(2) for p in args.prefecture] or None
    for code in prefectures or []:
        if code not in load_jurisdiction():
            print(f"tsunagu: 管轄外の都道府県コードです: {code} / prefecture {code} is not in the jurisdiction",
                  file=sys.stderr)
            return 2
    try:
        packages = publish(pipeline.open_warehouse(), args.fiscal_year, prefectures, args.out)
    except (NoResultsError, EvaluationConfigError) as exc:
        print(f"tsunagu: {exc}", file=sys.stderr)
        return 1
    for p in packages:
        print(f"{p.fiscal_year} {p.prefecture_code}: {p.rows} municipalities -> {p.dir}")
    if not packages:
        print(f"tsunagu: {args.fiscal_year}年度の評価結果がありません / no evaluation results for {args.fiscal_year}",
              file=sys.stderr)
        return 1
    return 0


def _mail(args: argparse.Namespace) -> int:
    from tsunagu import pipeline
    from tsunagu.deliver import problem_mails, resolve_unknown

    warehouse = pipeline.open_warehouse()
    if args.mail_command == "problems":
        for entry in problem_mails(warehouse, args.fiscal_year):
            print(json.dumps({"key": entry.key, "status": entry.status, "kind": entry.kind,
                              "prefecture_code": entry.prefecture_code, "message_id": entry.message_id,
                              "attempts": entry.attempts, "smtp_status": entry.smtp_status,
                              "smtp_reply": entry.smtp_reply, "last_error": entry.last_error,
                              "last_attempt_at": entry.last_attempt_at.isoformat()}, ensure_ascii=False))
        return 0
    try:
        entry = resolve_unknown(warehouse, args.key, args.decision, args.operator, args.note)
    except (KeyError, ValueError) as exc:
        print(f"tsunagu: {exc}", file=sys.stderr)
        return 2
    print(f"{entry.key}: {entry.status} (decided by {args.operator})")
    return 0


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


# ------------------------------------------------------------------------------------ outages


@dataclass
class _Progress:
    """What a command finished before an outage stopped it (ingest: the files)."""

    pending: list[str] = field(default_factory=list)
    done: int = 0
    batch: bool = False

    def finished(self, outcome: Any) -> Any:
        print(json.dumps(outcome.to_dict(), ensure_ascii=False), flush=True)
        self.done += 1
        if outcome.path in self.pending:
            self.pending.remove(outcome.path)
        faults.point("after_outcome_printed")
        return outcome


# (pattern in the error, 日本語, English): the cause of an outage in a few words.
_DB_CAUSES = [
    (r"connection refused", "接続が拒否されました", "connection refused"),
    (r"statement timeout", "SQLの実行が時間切れになりました", "statement timeout"),
    (r"timeout expired|timed out|connection timeout", "接続が時間切れになりました", "connection timed out"),
    (r"terminating connection|server closed the connection|connection (is |was )?(closed|lost)|consuming input failed"
     r"|connection reset|server conn crashed|ssl syscall error|the database system is (shutting down|starting up)",
     "接続が切断されました", "connection lost"),
    (r"database is locked", "データベースがロックされたままです", "database is locked"),
    (r"unable to open database file|disk i/o error|readonly database", "データベースファイルを開けません",
     "cannot open the database file"),
    (r"could not translate host name|name or service not known|nodename nor servname|name resolution",
     "ホスト名を解決できません", "unknown host"),
    (r"authentication failed|no pg_hba\.conf entry", "認証に失敗しました", "authentication failed"),
    (r"database \"[^\"]*\" does not exist", "データベースがありません", "no such database"),
    (r"too many (clients|connections)|remaining connection slots", "接続数が上限に達しています", "too many connections"),
]
_MAIL_CAUSES = [
    (r"connectionrefused|connection refused", "接続が拒否されました", "connection refused"),
    (r"timeouterror|timed out", "接続が時間切れになりました", "connection timed out"),
    (r"serverdisconnected|unable to connect to smtp server|connectionreset|connectionaborted|brokenpipe"
     r"|connection unexpectedly closed", "接続が切断されました", "connection lost"),
    (r"gaierror|name or service not known|nodename nor servname", "ホスト名を解決できません", "unknown host"),
    (r"smtpconnecterror", "サーバが接続を拒みました", "the server refused the session"),
    (r"network is unreachable|no route to host", "ネットワークに到達できません", "network unreachable"),
]


def _cause(text: str, causes: list[tuple[str, str, str]]) -> tuple[str, str] | None:
    low = text.lower()
    return next(((ja, en) for pattern, ja, en in causes if re.search(pattern, low)), None)


def _chain(exc: BaseException):
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen and len(seen) < 20:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _database_outage(exc: BaseException) -> tuple[str, str] | None:
    """(日本語, English) cause when ``exc`` (or what caused it) means the database cannot be used, else None.

    PostgreSQL: any connection-level error (psycopg OperationalError: refused, dropped, timed out,
    shut down …). SQLite: only a database that stays locked or cannot be opened, not "no such table".
    """
    import sqlalchemy.exc as sa_exc

    for e in _chain(exc):
        orig = getattr(e, "orig", None) or e
        text = str(orig)
        if isinstance(e, (sa_exc.TimeoutError, sa_exc.DisconnectionError)):  # pool exhausted, disconnect
            return _cause(text, _DB_CAUSES) or ("接続を確保できません", "no connection available")
        if isinstance(e, sa_exc.DBAPIError) and e.connection_invalidated:
            return _cause(text, _DB_CAUSES) or ("接続が切断されました", "connection lost")
        kinds = {c.__name__ for c in type(orig).__mro__}
        module = type(orig).__module__
        if module.startswith("sqlite3"):
            if "OperationalError" in kinds and (found := _cause(text, _DB_CAUSES)):
                return found
        elif module.startswith("psycopg") and kinds & {"OperationalError", "InterfaceError"}:
            return _cause(text, _DB_CAUSES) or ("接続できません", _first_line(orig))
    return None


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]


def _database_where() -> str:
    """Where the warehouse is (host:port/database, or the SQLite file), never a password."""
    import sqlalchemy as sa

    from tsunagu.settings import get_settings

    try:
        url = sa.make_url(get_settings().db_url)
    except Exception:
        return "TSUNAGU_DB_URL"
    if url.get_backend_name() == "sqlite":
        return url.database or ":memory:"
    return f"{url.host or 'localhost'}:{url.port or 5432}/{url.database or ''}"


def _database_line(cause: tuple[str, str]) -> str:
    where = _database_where()
    return f"tsunagu: データベースを利用できません（{cause[0]}）: {where} / database unavailable ({cause[1]}): {where}"


def _mail_where(conn_id: str = "smtp_default") -> str:
    try:
        from airflow.providers.smtp.hooks.smtp import SmtpHook

        conn = SmtpHook.get_connection(conn_id)
        return f"{conn.host}:{conn.port}" if conn.port else str(conn.host)
    except Exception:  # the connection itself is missing: name it
        return conn_id


def _cycle_outage(results: list[Any]) -> int:
    """A cycle whose mails failed because a server was down: 3 (database) or 4 (mail server), else 0."""
    failed = [r for r in results if r.status == "failed"]
    db = next((c for r in failed if re.match(r"(OperationalError|InterfaceError|DisconnectionError)\b", r.detail)
               and (c := _cause(r.detail, _DB_CAUSES) or ("接続できません", "cannot connect"))), None)
    mail = None if db else next((c for r in failed if (c := _cause(r.detail, _MAIL_CAUSES))), None)
    if db is None and mail is None:
        return 0
    sent = sum(r.status in ("sent", "already_sent") for r in results)
    note = (f"送信済み {sent} 件、未送信 {len(failed)} 件（次回の実行で再送されます） / "
            f"sent {sent}, not sent {len(failed)} (sent again on the next run)")
    if db is not None:
        return _outage(EXIT_DB_UNAVAILABLE, _database_line(db), None, note)
    where = _mail_where()
    line = f"tsunagu: メールサーバを利用できません（{mail[0]}）: {where} / mail server unavailable ({mail[1]}): {where}"
    return _outage(EXIT_MAIL_UNAVAILABLE, line, None, note)


def _outage(code: int, line: str, progress: _Progress | None, note: str | None = None) -> int:
    """The one-line cause (Japanese / English) on stderr, then what was done and what was not."""
    print(line, file=sys.stderr)
    if note:
        print(note, file=sys.stderr)
    if progress is not None and (progress.done or progress.pending):
        if progress.batch:
            print(f"一括処理のため個々の結果は不明です（再実行すると処理済みのファイルは飛ばされます） / batch: results of "
                  f"each file unknown (a rerun skips the files already done): {', '.join(progress.pending)}",
                  file=sys.stderr)
        else:
            print(f"処理済み {progress.done} 件（標準出力）、未処理 {len(progress.pending)} 件 / done {progress.done} "
                  f"(on stdout), not processed {len(progress.pending)}: {', '.join(progress.pending)}",
                  file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
