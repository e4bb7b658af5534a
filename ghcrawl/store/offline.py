"""Offline reads and edits for the ``ghcrawl`` command (no reactor), on SQLite or PostgreSQL.

The ``ghcrawl`` command runs beside a live daemon: it never creates a database,
waits on the daemon's lock instead of failing, and keeps every write one short
``BEGIN IMMEDIATE`` transaction.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from ghcrawl.errors import StoreError
from ghcrawl.store import postgres
from ghcrawl.store.leases import Worker, workers
from ghcrawl.store.migrations import SCHEMA_VERSION
from ghcrawl.store.records import CONTRIBUTOR_EXPORT_COLUMNS, REPO_EXPORT_COLUMNS, USER_EXPORT_COLUMNS
from ghcrawl.store.sqlite import BUSY_TIMEOUT_MS, _add_user_task, _version

__all__ = ["CONTRIBUTOR_EXPORT_COLUMNS", "REPO_EXPORT_COLUMNS", "USER_EXPORT_COLUMNS"]

#: A sqlite3 connection, or PostgreSQL's look-alike taking the same portable SQL.
Connection = Any


def open_offline(path: str, *, write: bool = False) -> Connection:
    """Open an existing ghcrawl database beside a running daemon, refusing anything else."""
    if postgres.is_uri(path):
        return postgres.open_offline(path)
    if not os.path.exists(path):
        raise StoreError(f"no database at {path}")
    if not os.path.isfile(path):
        raise StoreError(f"{path} is not a file")
    mode = "rw" if write else "ro"
    conn = sqlite3.connect(f"file:{quote(os.path.abspath(path))}?mode={mode}", uri=True, isolation_level=None)
    try:
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "schema_version" not in tables:
            raise StoreError(f"{path} is not a ghcrawl database (no schema_version table)")
        version = _version(conn)
    except sqlite3.DatabaseError as e:
        conn.close()
        raise StoreError(f"{path} is not a usable SQLite database ({e})") from None
    except StoreError:
        conn.close()
        raise
    if version > SCHEMA_VERSION:
        conn.close()
        raise StoreError(
            f"{path} has schema version {version}, newer than this ghcrawl ({SCHEMA_VERSION}); upgrade ghcrawl"
        )
    return conn


class snapshot:
    """Read several statements from one consistent state; WAL lets the daemon keep writing."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def __enter__(self) -> Connection:
        self._conn.execute("BEGIN DEFERRED")  # PostgreSQL: a read-only repeatable-read snapshot
        return self._conn

    def __exit__(self, *exc_info: object) -> None:
        self._conn.execute("COMMIT")


class _write:
    """One short ``BEGIN IMMEDIATE`` transaction: committed on success, rolled back on error."""

    def __init__(self, conn: Connection) -> None:
        self._cur = conn.cursor()

    def __enter__(self) -> Any:
        self._cur.execute("BEGIN IMMEDIATE")
        return self._cur

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        self._cur.execute("COMMIT" if kind is None else "ROLLBACK")


def _scalar(conn: Connection, sql: str) -> int:
    return int(conn.execute(sql).fetchone()[0] or 0)


def status_counts(conn: Connection) -> dict[str, int]:
    """What the crawl holds: users (with a fetched profile), repositories, forks, contributor rows."""
    return {
        "schema_version": _version(conn),
        "users": _scalar(conn, "SELECT COUNT(*) FROM users"),
        "users_with_profile": _scalar(conn, "SELECT COUNT(*) FROM users WHERE fetched_at IS NOT NULL"),
        "repos": _scalar(conn, "SELECT COUNT(*) FROM repos"),
        "forks": _scalar(conn, "SELECT COUNT(*) FROM repos WHERE fork"),
        "contributors": _scalar(conn, "SELECT COUNT(*) FROM contributors"),
    }


def frontier_counts(conn: Connection) -> list[tuple[int, str, str, int]]:
    """Tasks counted per (depth, kind, state), shallowest first."""
    rows = conn.execute(
        "SELECT depth, kind, state, COUNT(*) FROM tasks GROUP BY depth, kind, state ORDER BY depth, kind, state"
    )
    return [(int(d), k, s, int(n)) for d, k, s, n in rows]


def failure_reasons(conn: Connection, limit: int = 10) -> list[tuple[str, int]]:
    """The commonest reasons failed tasks gave, with how many failed for each."""
    rows = conn.execute(
        "SELECT COALESCE(outcome, '(no reason)'), COUNT(*) AS n FROM tasks WHERE state = 'failed' "
        "GROUP BY outcome ORDER BY n DESC, outcome LIMIT ?",
        (limit,),
    )
    return [(reason, int(n)) for reason, n in rows]


def rate_limit_state(conn: Connection) -> list[tuple[str, int | None, float, float, float]]:
    """Each token's last known budget: remaining, reset time, limited-until, when saved."""
    rows = conn.execute(
        "SELECT token_id, remaining, reset_at, limited_until, updated_at FROM rate_limits ORDER BY token_id"
    )
    return [(t, r, float(reset or 0), float(lim or 0), float(at or 0)) for t, r, reset, lim, at in rows]


def daemons(conn: Connection) -> list[Worker]:
    """Every daemon sharing the database, with its last heartbeat and the leases it holds."""
    return workers(conn.cursor())


def last_activity(conn: Connection) -> float | None:
    """When the frontier last changed (Unix time), or None if nothing ever ran."""
    value = conn.execute("SELECT MAX(updated_at) FROM tasks").fetchone()[0]
    return float(value) if value else None


def iter_users(conn: Connection) -> Any:
    """Every user row in USER_EXPORT_COLUMNS order, streamed by id."""
    return conn.execute(f"SELECT {', '.join(USER_EXPORT_COLUMNS)} FROM users ORDER BY id")


def iter_repos(conn: Connection) -> Any:
    """Every repository row in REPO_EXPORT_COLUMNS order, streamed by id."""
    return conn.execute(f"SELECT {', '.join(REPO_EXPORT_COLUMNS)} FROM repos ORDER BY id")


def iter_contributors(conn: Connection) -> Any:
    """Every contributor row in CONTRIBUTOR_EXPORT_COLUMNS order, streamed by key."""
    return conn.execute(
        f"SELECT {', '.join(CONTRIBUTOR_EXPORT_COLUMNS)} FROM contributors ORDER BY repo_id, user_id"
    )


def iter_graph_repos(conn: Connection) -> Any:
    """Repositories as graph nodes: id, full_name, fork, language, stars, and the owner's depth."""
    return conn.execute(
        "SELECT r.id, r.full_name, r.fork, r.language, r.stargazers_count, u.depth "
        "FROM repos r JOIN users u ON u.id = r.owner_id ORDER BY r.id"
    )


def queue_seeds(conn: Connection, logins: Iterable[str]) -> list[tuple[str, str | None]]:
    """Queue logins as depth-0 user tasks as the daemon does; give each one's previous state (None: new)."""
    result: list[tuple[str, str | None]] = []
    with _write(conn) as cur:
        for login in dict.fromkeys(logins):
            row = cur.execute(
                "SELECT state FROM tasks WHERE kind = 'user' AND key = ?", (login.lower(),)
            ).fetchone()
            _add_user_task(cur, login, 0, 0.0)
            result.append((login, row[0] if row else None))
    return result


def retry_failed(conn: Connection, reason: str | None, now: float) -> int:
    """Put failed tasks (those whose reason contains ``reason``, if given) back to pending."""
    with _write(conn) as cur:
        cur.execute(
            "UPDATE tasks SET state = 'pending', attempts = 0, next_attempt_at = 0, updated_at = ? "
            "WHERE state = 'failed' AND (CAST(? AS TEXT) = '' OR REPLACE(outcome, ?, '') <> outcome)",
            (now, reason or "", reason or ""),
        )
        return int(cur.rowcount)
