"""The ``ghcrawl`` command: look at, export and steer a crawl database, daemon running or not.

It talks to SQLite directly (no reactor): reads see one consistent snapshot,
writes are single short ``BEGIN IMMEDIATE`` transactions that wait for the
daemon's lock, and a running daemon notices new pending work by polling.
Problems with the database are one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import time
from datetime import UTC, datetime
from typing import Any, TextIO

from ghcrawl import export
from ghcrawl.errors import GhcrawlError
from ghcrawl.models import valid_login
from ghcrawl.pseudonymize import Pseudonymizer, load_salt
from ghcrawl.store import offline as store
from ghcrawl.store import privacy, redact

PROG = "ghcrawl"
STATES = ("pending", "leased", "done", "failed")
#: Smallest and largest fake graph the demo crawls (the fakehub needs 50 users for its edge cases).
DEMO_USERS = (50, 100_000)


class CommandError(GhcrawlError):
    """A request the command refuses (bad login...): one line, exit 2."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Inspect and steer a ghcrawl database.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    status = commands.add_parser("status", help="counts, frontier, failures, rate limits, last activity")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    exporter = commands.add_parser("export", help="write users, repos and contributors, or the graph")
    exporter.add_argument("--format", required=True, choices=export.FORMATS)
    exporter.add_argument("--out", default=".", metavar="DIR", help="output folder (created) [default: .]")
    exporter.add_argument("--pseudonymize", action="store_true",
                          help="replace ids, logins and names by keyed hashes; leave out free text")
    exporter.add_argument("--salt-file", metavar="FILE", help="the key of --pseudonymize (at least 16 bytes)")
    seed = commands.add_parser("seed", help="queue seed users")
    seed_commands = seed.add_subparsers(dest="seed_command", required=True, metavar="ACTION")
    add = seed_commands.add_parser("add", help="queue logins as depth-0 users")
    add.add_argument("logins", nargs="+", metavar="LOGIN")
    retry = commands.add_parser("retry-failed", help="put failed tasks back to pending")
    retry.add_argument("--reason", help="only tasks whose failure reason contains this text")
    forget = commands.add_parser("forget", help="remove people for good and keep them out of the crawl")
    forget.add_argument("people", nargs="+", metavar="LOGIN|ID")
    copier = commands.add_parser("copy", help="copy a whole crawl into a new database (SQLite <-> PostgreSQL)")
    copier.add_argument("src", metavar="SRC", help="the crawl's SQLite file or PostgreSQL URI")
    copier.add_argument("dst", metavar="DST", help="a new or empty SQLite file or PostgreSQL database")
    for sub in (status, exporter, add, retry, forget):
        sub.add_argument("--db", required=True, metavar="DB",
                         help="the crawl's SQLite file or postgresql://user@host/dbname URI")
    demo = commands.add_parser("demo", help="crawl an offline fake GitHub end to end, then show the status")
    demo.add_argument("--dir", default="ghcrawl-demo", metavar="DIR", help="where the demo's files go [default: ghcrawl-demo]")
    demo.add_argument("--users", default="300", metavar="N",
                      help=f"size of the fake graph, {DEMO_USERS[0]} to {DEMO_USERS[1]} [default: 300]")
    return parser


def main(argv: list[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None,
         now: float | None = None) -> int:
    """Run one subcommand; returns the exit status (0 ok, 1 failed, 2 unusable input)."""
    out = out or sys.stdout
    err = err or sys.stderr
    args = _parser().parse_args(argv)
    now = time.time() if now is None else now
    try:
        return _COMMANDS[args.command](args, out, now)
    except GhcrawlError as e:
        err.write(f"{PROG}: error: {e}\n")
        return 2
    except database_errors() as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        db = getattr(args, "db", None) or f"{args.src} -> {args.dst}"
        err.write(f"{PROG}: error: database {redact(db)}: {first}\n")
        return 1
    except OSError as e:
        err.write(f"{PROG}: error: {e.filename or ''}: {e.strerror or e}\n")
        return 1


def database_errors() -> tuple[type[Exception], ...]:
    """What a database driver raises: sqlite3's, and psycopg's when it is installed."""
    psycopg = sys.modules.get("psycopg")
    return (sqlite3.Error, psycopg.Error) if psycopg is not None else (sqlite3.Error,)


def _demo(args: argparse.Namespace, out: TextIO, now: float) -> int:
    from ghcrawl import demo

    try:
        users = int(args.users)
    except ValueError:
        users = -1
    if not DEMO_USERS[0] <= users <= DEMO_USERS[1]:
        raise CommandError(f"--users must be an integer from {DEMO_USERS[0]} to {DEMO_USERS[1]}, not {args.users!r}")
    args.db = demo.run(args.dir, users, out)
    args.json = False
    return _status(args, out, time.time())


def _status(args: argparse.Namespace, out: TextIO, now: float) -> int:
    conn = store.open_offline(args.db)
    try:
        with store.snapshot(conn):
            report = _report(conn, now)
    finally:
        conn.close()
    report["database"] = redact(args.db)
    if args.json:
        out.write(json.dumps(report, indent=2) + "\n")
    else:
        out.write(_format(report))
    return 0


def _report(conn: sqlite3.Connection, now: float) -> dict[str, Any]:
    """Everything ``status`` shows, as plain JSON-ready values."""
    counts = store.status_counts(conn)
    by_state = dict.fromkeys(STATES, 0)
    rows = []
    for depth, kind, state, n in store.frontier_counts(conn):
        by_state[state] = by_state.get(state, 0) + n
        rows.append({"depth": depth, "kind": kind, "state": state, "count": n})
    last = store.last_activity(conn)
    return {
        "privacy": privacy.status_offline(conn),
        "now": _iso(now),
        "schema_version": counts.pop("schema_version"),
        "counts": counts,
        "frontier": {"by_state": by_state, "by_depth_kind": rows},
        "failures": [{"reason": r, "count": n} for r, n in store.failure_reasons(conn, 10)],
        "rate_limits": [
            {"token_id": token, "remaining": remaining, "reset_at": _iso(reset), "reset_in": _secs(reset - now),
             "limited_until": _iso(limited), "limited_for": _secs(max(0.0, limited - now)), "saved_at": _iso(at)}
            for token, remaining, reset, limited, at in store.rate_limit_state(conn)
        ],
        "last_activity": {"at": _iso(last), "ago": _secs(now - last) if last else None},
        "daemons": [w.as_json(now) for w in store.daemons(conn)],
    }


def _iso(t: float | None) -> str | None:
    if not t:
        return None
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _secs(delta: float) -> int:
    return round(delta)


def _when(at: str | None, ahead: int | None) -> str:
    """A UTC time with how far it is from now (``ahead`` seconds; negative is past)."""
    if at is None or ahead is None:
        return "-"
    return f"{at} (in {ahead}s)" if ahead > 0 else f"{at} ({-ahead}s ago)"


def _format(report: dict[str, Any]) -> str:
    """Render a status report as aligned plain text."""
    c = report["counts"]
    lines = [
        f"database       {report['database']} (schema {report['schema_version']})",
        f"users          {c['users']} ({c['users_with_profile']} with profile)",
        f"repos          {c['repos']} ({c['forks']} forks)",
        f"contributors   {c['contributors']} rows",
        "",
        f"{'frontier':<22}" + "".join(f"{s:>10}" for s in STATES),
        f"{'  all':<22}" + "".join(f"{report['frontier']['by_state'].get(s, 0):>10}" for s in STATES),
    ]
    cells: dict[tuple[int, str], dict[str, int]] = {}
    for row in report["frontier"]["by_depth_kind"]:
        cells.setdefault((row["depth"], row["kind"]), {})[row["state"]] = row["count"]
    for (depth, kind), n in cells.items():
        lines.append(f"{f'  depth {depth} {kind}':<22}" + "".join(f"{n.get(s, 0):>10}" for s in STATES))
    lines += ["", "failures (top reasons)" if report["failures"] else "failures       none"]
    lines += [f"{f['count']:>10}  {f['reason']}" for f in report["failures"]]
    lines += ["", "rate limits" if report["rate_limits"] else "rate limits    none recorded"]
    width = max((len(r["token_id"]) for r in report["rate_limits"]), default=0)
    for r in report["rate_limits"]:
        remaining = "?" if r["remaining"] is None else r["remaining"]
        limited = _when(r["limited_until"], r["limited_for"]) if r["limited_for"] else "no"
        lines.append(f"  {r['token_id']:<{width}} remaining {remaining:<6} reset "
                     f"{_when(r['reset_at'], r['reset_in'])}  limited until {limited}")
    p = report["privacy"]
    mode = {True: "stored (personal_data = true)", False: "not stored (personal_data = false)",
            None: "not recorded yet"}[p["personal_data"]]
    lines += ["", f"personal data  {mode}",
              f"opted out      {p['optouts_forget']} forgotten, {p['optouts_file']} from the opt-out file"]
    lines += ["", "daemons" if report["daemons"] else "daemons        none running"]
    width = max((len(d["name"]) for d in report["daemons"]), default=0)
    for d in report["daemons"]:
        lines.append(f"  {d['name']:<{width}} {d['state']:<5}  host {d['host']}  heartbeat {d['heartbeat_ago']:.0f}s ago  "
                     f"{d['leases']} tasks leased  {d['requests_last_minute']} requests in the last minute")
    last = report["last_activity"]
    lines += ["", f"last activity  {_when(last['at'], -last['ago']) if last['at'] else 'never'}"]
    return "\n".join(lines) + "\n"


def _export(args: argparse.Namespace, out: TextIO, now: float) -> int:
    if args.pseudonymize != bool(args.salt_file):
        raise CommandError("--pseudonymize and --salt-file FILE go together")
    pseudonyms = Pseudonymizer(load_salt(args.salt_file)) if args.pseudonymize else None
    conn = store.open_offline(args.db)
    try:
        written = export.export(conn, args.format, args.out, pseudonyms)
    finally:
        conn.close()
    unit = "edges" if args.format == "graphml" else "rows"
    out.writelines(f"wrote {path} ({rows} {unit})\n" for path, rows in written)
    return 0


def _seed(args: argparse.Namespace, out: TextIO, now: float) -> int:
    bad = [login for login in args.logins if not valid_login(login)]
    if bad:
        raise CommandError(f"invalid login {bad[0][:60]!r}: not a GitHub login (nothing queued)")
    conn = store.open_offline(args.db, write=True)
    try:
        refused = set(privacy.opted_out_offline(conn, args.logins))
        for login in sorted(refused):
            out.write(f"{login}: refused, this person opted out (not queued)\n")
        result = store.queue_seeds(conn, [s for s in args.logins if s not in refused])
    finally:
        conn.close()
    for login, before in result:
        if before is None:
            out.write(f"{login}: new, queued at depth 0\n")
        elif before in ("pending", "leased"):
            out.write(f"{login}: already known ({before}), now at depth 0\n")
        else:
            out.write(f"{login}: already known ({before}), not queued again\n")
    return 0


def _retry_failed(args: argparse.Namespace, out: TextIO, now: float) -> int:
    conn = store.open_offline(args.db, write=True)
    try:
        n = store.retry_failed(conn, args.reason, now)
    finally:
        conn.close()
    which = f" matching {args.reason!r}" if args.reason is not None else ""
    out.write(f"{n} failed task{'' if n == 1 else 's'}{which} put back to pending\n")
    return 0


def _forget(args: argparse.Namespace, out: TextIO, now: float) -> int:
    bad = [p for p in args.people if not (p.isdigit() or valid_login(p))]
    if bad:
        raise CommandError(f"{bad[0][:60]!r} is neither a login nor a numeric id (nobody forgotten)")
    conn = store.open_offline(args.db, write=True)
    try:
        for who in dict.fromkeys(args.people):
            out.write(_forgotten(privacy.forget_offline(conn, who, _iso(now) or "")) + "\n")
    finally:
        conn.close()
    return 0


def _forgotten(r: privacy.Removed) -> str:
    """One line saying what removing a person took out."""
    if not r.anything:
        return f"{r.who}: nothing stored; recorded as opted out"
    name = f"{r.login} (id {r.user_id})"
    return (f"{name}: removed {r.users} user row, {r.repos} repositories, {r.repo_contributors} contributor rows "
            f"of those, {r.contributions} contributor rows elsewhere, {r.tasks} tasks, {r.validators} cached "
            "validators; recorded as opted out")


def _copy(args: argparse.Namespace, out: TextIO, now: float) -> int:
    from ghcrawl.store import transfer

    if args.src == args.dst:
        raise CommandError("SRC and DST are the same database")
    def progress(table: str, rows: int) -> None:
        out.write(f"copied {rows} rows of {table}\n")

    copied = transfer.copy(args.src, args.dst, progress)
    out.write(f"{redact(args.src)} copied to {redact(args.dst)} ({sum(copied.values())} rows); "
              "a daemon can continue the crawl there\n")
    return 0


_COMMANDS = {"copy": _copy, "forget": _forget, "status": _status, "export": _export, "seed": _seed, "retry-failed": _retry_failed,
             "demo": _demo}

if __name__ == "__main__":
    sys.exit(main())
