"""Rows, the frontier, validators and budgets: the Store and its transactions.

Every logical write is one ``runInteraction`` opened with ``BEGIN IMMEDIATE``, so
the rows of a page and the work they cause commit together or not at all; on
SQLite the crawl's page writes that arrive close together share one such
transaction, and only a failed one is lost (``group.py``). The
SQL is written once in the portable subset (see ``dialect``) and runs on SQLite
(one connection in one thread: SQLite has one writer anyway) and on PostgreSQL.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from operator import attrgetter
from typing import Any
from urllib.parse import quote

from attrs import evolve
from twisted.enterprise.adbapi import Transaction
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import deferLater
from twisted.logger import Logger

from ghcrawl.errors import StoreError
from ghcrawl.models import Contribution, Repo, User
from ghcrawl.store import budgets, leases, privacy
from ghcrawl.store.dialect import SQLITE, Pool, migrate, transient
from ghcrawl.store.group import GroupCommit
from ghcrawl.store.leases import held, hold
from ghcrawl.store.migrations import SCHEMA_VERSION
from ghcrawl.store.records import (
    REPO_COLUMNS,
    USER_COLUMNS,
    Page,
    Task,
    contributors_url,
    repos_url,
    user_url,
)

BUSY_TIMEOUT_MS = 10_000
_USER_NAMES = [c.strip() for c in USER_COLUMNS.split(",")]

def check_database(path: str) -> None:
    """Refuse, before anything is created, a database ghcrawl cannot use."""
    from ghcrawl.store import postgres

    if postgres.is_uri(path):
        postgres.check_database(path)
        return
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise StoreError(f"database folder {folder} does not exist")
    if not os.path.exists(path):
        if not os.access(folder, os.W_OK):
            raise StoreError(f"cannot create database {path}: folder {folder} is not writable")
        return
    if not os.access(path, os.R_OK | os.W_OK):
        raise StoreError(f"database {path} is not readable and writable")
    try:
        conn = sqlite3.connect(f"file:{quote(os.path.abspath(path))}?mode=ro", uri=True)
        try:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            version = _version(conn) if "schema_version" in tables else None
        finally:
            conn.close()
    except sqlite3.DatabaseError as e:
        raise StoreError(f"{path} is not a SQLite database ({e})") from None
    if tables and version is None:
        raise StoreError(f"{path} is not a ghcrawl database (it has other tables)")
    if version is not None and version > SCHEMA_VERSION:
        raise StoreError(
            f"{path} has schema version {version}, newer than this ghcrawl ({SCHEMA_VERSION}); upgrade ghcrawl"
        )


def _version(conn: Any) -> int:
    row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0] or 0)


def _open_connection(conn: sqlite3.Connection) -> None:
    # Autocommit mode: every interaction opens its own BEGIN IMMEDIATE.
    conn.isolation_level = None
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    _wal(conn)
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")


def _wal(conn: sqlite3.Connection) -> None:
    """Turn a new file to WAL (a lasting property of the file: later opens find it so).

    Two daemons opening one new file at once may both try; SQLite answers the
    loser 'database is locked' without waiting on the busy timeout, so it tries
    again until the timeout has passed.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
        time.sleep(0.01)


def _begin(txn: Transaction) -> None:
    txn.execute("BEGIN IMMEDIATE")  # a no-op inside a group commit, whose batch has begun already


def sqlite_pool(path: str) -> Pool:
    """One connection in one thread: SQLite has one writer, and WAL lets readers in beside it."""
    return Pool(SQLITE, "sqlite3", path, check_same_thread=False, cp_min=1, cp_max=1,
                cp_openfun=_open_connection, cp_noisy=False)


class Store:
    """The crawl's database: a thin async interface over SQLite or PostgreSQL.

    Every interaction that fails for a passing reason (a busy file, a lost
    connection, a serialization failure) is run again after a backoff: nothing
    was written, so an outage is waited out and no task fails for it.
    """

    _log = Logger()

    def __init__(self, db: str, max_depth: int, *, worker: str = "", lease_timeout: float = 60.0,
                 clock: IReactorTime | None = None) -> None:
        from ghcrawl.store import postgres

        self.path = db
        self.max_depth = max_depth
        self.worker = worker or default_worker_name()
        self.lease_timeout = lease_timeout
        if clock is None:
            from twisted.internet import reactor as clock  # type: ignore[assignment]
        self._clock: IReactorTime = clock  # type: ignore[assignment]
        self._pool = postgres.pool(db) if postgres.is_uri(db) else sqlite_pool(db)
        self.dialect = self._pool.dialect
        # SQLite's one writer pays a thread hand-off, a BEGIN and a COMMIT per transaction:
        # page writes share them. (PostgreSQL's pool runs transactions side by side.)
        self._group = GroupCommit(self._run, self._clock) if self.dialect is SQLITE else None
        self._trouble_since: float | None = None  # when the database stopped answering, if it has
        self._trouble_count = 0

    def close(self) -> None:
        """Stop the database threads (only call once no interaction is running)."""
        if self._group is not None:
            self._group.close()
        self._pool.close()

    def flush(self) -> None:
        """Write the queued page writes and claims now: the crawler has nothing else to do."""
        if self._group is not None:
            self._group.flush()

    async def _run(self, interaction: Callable[..., Any], *args: Any) -> Any:
        delay = 0.05
        while True:
            try:
                result = await self._pool.runInteraction(interaction, *args)
            except Exception as e:
                if not transient(e):
                    raise
                self._troubled(e)
                await deferLater(self._clock, delay, lambda: None)
                delay = min(delay * 2, 5.0)
            else:
                if self._trouble_since is not None:
                    self._log.info("database answering again after {seconds:.1f}s ({count} retries)",
                                   seconds=self._clock.seconds() - self._trouble_since, count=self._trouble_count)
                    self._trouble_since = None
                return result

    def _troubled(self, error: Exception) -> None:
        """Say once per episode that the database is busy or away, however many transactions wait."""
        self._trouble_count += 1
        if self._trouble_since is None:
            self._trouble_since, self._trouble_count = self._clock.seconds(), 1
            text = str(error).strip()
            self._log.warn("database busy or unreachable ({error}); waiting, each transaction is run again "
                           "with backoff", error=text.splitlines()[0] if text else type(error).__name__)

    async def _write(self, interaction: Callable[..., Any], *args: Any) -> Any:
        """A crawl write (a page, a claim): in the next group commit on SQLite, else its own transaction."""
        if self._group is not None:
            return await self._group.run(interaction, *args)
        return await self._run(interaction, *args)

    async def migrate(self) -> int:
        """Bring the schema to this version, each step in its own transaction."""
        return int(await self._pool.runWithConnection(migrate, self.dialect, self._clock.seconds()))

    async def register(self, host: str, pid: int, now: float) -> None:
        """Announce this daemon in the workers table (for status and dead-daemon detection)."""
        await self._run(leases.register, self.worker, host, pid, now, now - 86400.0, self.lease_timeout)

    async def unregister(self) -> None:
        """Leave the workers table on a clean stop."""
        await self._run(leases.unregister, self.worker)

    async def heartbeat(self, now: float, requests: int) -> int:
        """Extend this daemon's leases by ``lease_timeout``; returns how many it holds."""
        return int(await self._run(leases.heartbeat, self.worker, now, now + self.lease_timeout, requests))

    async def workers(self) -> list[leases.Worker]:
        """Every daemon sharing the database, with its heartbeat and leases held."""
        return list(await self._run(leases.workers))

    async def recover_leases(self, now: float, dead: Sequence[str] = ()) -> int:
        """Return this daemon's own, dead daemons' and expired leases to pending; never a live one."""
        return int(await self._run(leases.recover, [self.worker, *dead], now))

    async def add_seeds(self, logins: Iterable[str]) -> int:
        """Queue seed users at depth 0; a seed given twice is queued once."""
        return int(await self._run(_add_seeds, list(logins)))

    async def enqueue_reachable(self) -> int:
        """Queue users now within max depth that have no work yet (max depth raised)."""
        return int(await self._run(_enqueue_reachable, self.max_depth))

    async def requeue_stale(self, before: float, now: float) -> int:
        """Put finished work last done before ``before`` back, from its first page."""
        return int(await self._run(_requeue_stale, before, now))

    async def claim(self, n: int, now: float) -> list[Task]:
        """Lease up to ``n`` due tasks (or expired leases), lowest depth first."""
        return list(await self._write(leases.claim, n, now, self.worker, now + self.lease_timeout))

    async def release(self, task_ids: Sequence[int]) -> None:
        """Give leased tasks back untouched (shutdown, or no budget after all)."""
        await self._write(leases.release, list(task_ids), self.worker)

    async def commit_user(self, task: Task, user: User, page: Page) -> Task | None:
        """Store a profile and queue the user's repository listing."""
        return await self._write(_commit_user, task, user, page, self.max_depth)  # type: ignore[no-any-return]

    async def commit_repos(self, task: Task, repos: list[Repo], page: Page) -> Task | None:
        """Store one page of a user's repositories and queue their contributor listings; return what follows."""
        return await self._write(_commit_repos, task, repos, page)  # type: ignore[no-any-return]

    async def commit_contributors(
        self, task: Task, contributions: list[Contribution], page: Page
    ) -> Task | None:
        """Store one page of contributors, as users one step deeper, and queue them; return what follows."""
        return await self._write(  # type: ignore[no-any-return]
            _commit_contributors, task, contributions, page, self.max_depth)

    async def not_modified(self, task: Task, page: Page) -> Task | None:
        """Record a 304: only fetch times change; the cached next page follows."""
        return await self._write(_not_modified, task, page)  # type: ignore[no-any-return]

    async def finish(self, task: Task, outcome: str, now: float) -> None:
        """Close a task with a final answer (404, 204, 451, too large...)."""
        await self._write(_finish, task, outcome, now)

    async def move(self, task: Task, url: str, now: float) -> None:
        """Point a leased task at where a redirect says its resource now lives."""
        await self._write(_move, task, url, now)

    async def retry(self, task: Task, at: float, reason: str, *, attempt: bool, now: float) -> None:
        """Put a task back for ``at``, counting an attempt unless GitHub asked us to wait."""
        await self._write(_retry, task, at, reason, attempt, now)

    async def fail(self, task: Task, reason: str, now: float) -> None:
        """Give up on a task, keeping the reason for ``ghcrawl status``."""
        await self._write(_fail, task, reason, now)

    async def progress(self) -> dict[str, int]:
        """Counts for the progress line."""
        return dict(await self._run(_progress))

    async def by_depth(self) -> list[tuple[int, str, str, int]]:
        """Frontier sizes by depth, kind and state, for progress per depth."""
        return list(await self._run(_by_depth))

    async def next_due(self) -> float | None:
        """When work may next be claimable (a pending task, or another daemon's lease running out)."""
        return await self._run(leases.next_due, self.worker)  # type: ignore[no-any-return]

    async def failures(self) -> tuple[int, str | None]:
        """How many tasks are failed, and their commonest reason (how a ``--once`` run ends)."""
        return await self._run(_failures)  # type: ignore[no-any-return]

    async def load_budgets(self) -> dict[str, tuple[int | None, float, float]]:
        """Budget state a previous run left: remaining, reset and limited-until per budget."""
        return dict(await self._run(_load_budgets))

    async def reserve(self, budget_id: str, want: int, now: float, seen: tuple[int | None, float],
                      outstanding: int, keep: int, probe_for: float) -> budgets.Grant:
        """Reserve up to ``want`` requests of an account's budget shared with other daemons."""
        grant: budgets.Grant = await self._run(budgets.reserve, budget_id, want, now, seen, outstanding, keep,
                                               probe_for)
        return grant

    async def save_budgets(self, rows: list[tuple[str, int | None, float, float]], now: float) -> None:
        """Persist budget state so a restart loop cannot burst into a limit."""
        await self._run(_save_budgets, rows, now)

    async def set_personal_data(self, wanted: bool) -> None:
        """Record the ``personal_data`` mode; refuses turning it back on (StoreError)."""
        await self._run(_privacy_write, privacy.set_personal_data, wanted)

    async def opted_out(self, logins: Sequence[str]) -> list[str]:
        """The logins among these that opted out (seeds refused)."""
        return list(await self._run(privacy.opted_out_logins, list(logins)))

    async def sync_optouts(self, entries: Sequence[str], now: str) -> list[privacy.Removed]:
        """Make the opt-out file's entries the file's opt-outs, removing what the crawl holds of them."""
        return list(await self._run(_privacy_write, privacy.sync_file, list(entries), now))

    async def optout_count(self) -> int:
        """How many opt-outs are recorded; a change means someone was forgotten."""
        return int(await self._run(privacy.optout_count))

    async def gone(self, task_ids: Sequence[int]) -> list[int]:
        """Which claimed tasks were deleted meanwhile (their person was forgotten)."""
        return list(await self._run(privacy.held_tasks_gone, list(task_ids)))


def default_worker_name() -> str:
    """``host:pid``: unique on one host, and tells a dead daemon from a live one there."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _privacy_write(txn: Transaction, write: Any, *args: Any) -> Any:
    _begin(txn)
    return write(txn, *args)


_ADD_USER_TASK = (
    "INSERT INTO tasks (kind, key, first_url, url, depth, updated_at) VALUES ('user', ?, ?, ?, ?, ?) "
    "ON CONFLICT (kind, key) DO UPDATE SET depth = "
    "CASE WHEN excluded.depth < tasks.depth THEN excluded.depth ELSE tasks.depth END"
)


def _add_user_task(txn: Transaction, login: str, depth: int, now: float) -> None:
    url = user_url(login)
    txn.execute(_ADD_USER_TASK, (login.lower(), url, url, depth, now))


def _add_seeds(txn: Transaction, logins: list[str]) -> int:
    _begin(txn)
    txn.execute("SELECT COUNT(*) FROM tasks WHERE kind = 'user'")
    before = txn.fetchone()[0]
    for login in privacy.without_opted_out_logins(txn, logins):
        _add_user_task(txn, login, 0, 0.0)
    txn.execute("SELECT COUNT(*) FROM tasks WHERE kind = 'user'")
    return int(txn.fetchone()[0] - before)


def _enqueue_reachable(txn: Transaction, max_depth: int) -> int:
    _begin(txn)
    txn.execute(
        "INSERT INTO tasks (kind, key, first_url, url, depth) "
        "SELECT 'user', lower(login), '/users/' || login, '/users/' || login, depth FROM users "
        "WHERE depth <= ? AND fetched_at IS NULL "
        "AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.kind = 'user' AND t.key = lower(users.login)) "
        "ON CONFLICT (kind, key) DO NOTHING",
        (max_depth,),
    )
    return int(txn.rowcount)


def _requeue_stale(txn: Transaction, before: float, now: float) -> int:
    _begin(txn)
    # An empty repository (204, no validator) is re-asked only when its listing shows a push:
    # see _reask_pushed_empty.
    txn.execute(
        "UPDATE tasks SET state = 'pending', url = first_url, attempts = 0, next_attempt_at = 0, "
        "outcome = NULL, updated_at = ? WHERE state = 'done' AND updated_at < ? "
        "AND NOT (kind = 'contributors' AND COALESCE(outcome, '') = 'empty')",
        (now, before),
    )
    return int(txn.rowcount)


def _remember(txn: Transaction, page: Page) -> None:
    if page.etag or page.last_modified:
        txn.execute(
            "INSERT INTO http_cache (url, token_id, etag, last_modified, next_url) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (url, token_id) DO UPDATE SET etag = excluded.etag, "
            "last_modified = excluded.last_modified, next_url = excluded.next_url",
            (page.url, page.token_id, page.etag, page.last_modified, page.next_url),
        )




def _advance(txn: Transaction, task: Task, next_url: str | None, now: float) -> Task | None:
    """Move the cursor to the next page (still leased) and return it, or finish the task."""
    if next_url:
        txn.execute(
            "UPDATE tasks SET url = ?, attempts = 0, outcome = NULL, updated_at = ? WHERE id = ?",
            (next_url, now, task.id),
        )
        return evolve(task, url=next_url, attempts=0, validators=leases.validators(txn, next_url))
    else:
        txn.execute(
            "UPDATE tasks SET state = 'done', url = first_url, attempts = 0, outcome = NULL, "
            "updated_at = ? WHERE id = ?",
            (now, task.id),
        )
        return None


# Built once: the statements and the record fields in column order.
_user_values = attrgetter(*(c.strip() for c in USER_COLUMNS.split(",")))
_UPSERT_USER = (
    f"INSERT INTO users ({USER_COLUMNS}, depth, fetched_at) VALUES ({', '.join('?' * 15)}) ON CONFLICT (id) "
    f"DO UPDATE SET {', '.join(f'{c.strip()} = excluded.{c.strip()}' for c in USER_COLUMNS.split(',')[1:])}, "
    "fetched_at = excluded.fetched_at"
)
_repo_values = attrgetter(*(c.strip() for c in REPO_COLUMNS.split(",")))
_UPSERT_REPO = (
    f"INSERT INTO repos ({REPO_COLUMNS}, fetched_at) VALUES ({', '.join('?' * 17)}) ON CONFLICT (id) "
    f"DO UPDATE SET {', '.join(f'{c.strip()} = excluded.{c.strip()}' for c in REPO_COLUMNS.split(',')[1:])}, "
    "fetched_at = excluded.fetched_at"
)


#: A contributor already stored as they are is left alone: rewriting the same login would still
#: rewrite both login indexes, and most contributors of a page are already known.
_UPSERT_CONTRIBUTOR = (
    "INSERT INTO users (id, login, type, depth) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (id) DO UPDATE SET login = excluded.login, type = excluded.type "
    "WHERE users.login <> excluded.login OR users.type <> excluded.type "
    "OR users.type IS NULL OR excluded.type IS NULL"
)


def _commit_user(txn: Transaction, task: Task, user: User, page: Page, max_depth: int) -> Task | None:
    _begin(txn)
    if privacy.refused(txn, task, user.id, user.login) or not held(txn, task):
        return None
    values = privacy.profile(txn, _USER_NAMES, [getattr(user, c) for c in _USER_NAMES])
    txn.execute(_UPSERT_USER, (*values, task.depth, page.iso_now))
    depth = _relax(txn, user.id, task.depth, max_depth)
    url = repos_url(user.login)
    txn.execute(
        "INSERT INTO tasks (kind, key, first_url, url, depth, updated_at) VALUES ('repos', ?, ?, ?, ?, ?) "
        "ON CONFLICT (kind, key) DO UPDATE SET depth = "
        "CASE WHEN excluded.depth < tasks.depth THEN excluded.depth ELSE tasks.depth END",
        (str(user.id), url, url, depth, page.now),
    )
    _remember(txn, page)
    return _advance(txn, task, page.next_url, page.now)


def _owner_depth(txn: Transaction, owner_id: int) -> int:
    txn.execute("SELECT depth FROM users WHERE id = ?", (owner_id,))
    row = txn.fetchone()
    if row is None:
        raise StoreError(f"repository owner {owner_id} is not stored")
    return int(row[0])


def _commit_repos(txn: Transaction, task: Task, repos: list[Repo], page: Page) -> Task | None:
    _begin(txn)
    if privacy.refused(txn, task) or not held(txn, task):
        return None
    owner_id = int(task.key)
    depth = _owner_depth(txn, owner_id)
    mine = [r for r in repos if r.owner_id == owner_id]
    _reask_pushed_empty(txn, mine, page.now)
    txn.executemany(_UPSERT_REPO, [(*_repo_values(r), page.iso_now) for r in mine])
    txn.executemany(
        "INSERT INTO tasks (kind, key, first_url, url, depth, updated_at) "
        "VALUES ('contributors', ?, ?, ?, ?, ?) ON CONFLICT (kind, key) DO NOTHING",
        [(str(r.id), url, url, depth, page.now) for r in mine if not r.fork for url in (contributors_url(r.full_name),)],
    )
    _remember(txn, page)
    return _advance(txn, task, page.next_url, page.now)


def _reask_pushed_empty(txn: Transaction, repos: list[Repo], now: float) -> None:
    """Queue again the contributors of empty repositories whose ``pushed_at`` or ``size`` moved.

    GitHub answers an empty repository's contributors 204 without a validator, so
    re-asking costs quota every refresh; only a push makes it non-empty, and the
    owner's listing (conditional, usually 304) shows a push.
    """
    txn.executemany(
        "UPDATE tasks SET state = 'pending', url = first_url, attempts = 0, next_attempt_at = 0, "
        "outcome = NULL, updated_at = ? WHERE kind = 'contributors' AND key = ? AND state = 'done' "
        "AND outcome = 'empty' AND EXISTS (SELECT 1 FROM repos WHERE id = ? "
        "AND (pushed_at IS NOT ? OR size IS NOT ?))",
        [(now, str(r.id), r.id, r.pushed_at, r.size) for r in repos],
    )


def _commit_contributors(
    txn: Transaction, task: Task, contributions: list[Contribution], page: Page, max_depth: int
) -> Task | None:
    _begin(txn)
    if privacy.refused(txn, task):
        return None
    contributions = privacy.without_opted_out(txn, contributions)
    if not held(txn, task):
        return None
    repo_id = int(task.key)
    # The owner's depth in the same lookup as the owner.
    txn.execute("SELECT r.owner_id, u.depth FROM repos r LEFT JOIN users u ON u.id = r.owner_id WHERE r.id = ?",
                (repo_id,))
    row = txn.fetchone()
    if row is None:
        raise StoreError(f"repository {repo_id} is not stored")
    if row[1] is None:
        raise StoreError(f"repository owner {row[0]} is not stored")
    depth = int(row[1]) + 1
    contributions = sorted(contributions, key=lambda c: c.user.id)  # row locks in one order: no deadlock
    txn.executemany(_UPSERT_CONTRIBUTOR, [(c.user.id, c.user.login, c.user.type, depth) for c in contributions])
    _relax_all(txn, [c.user.id for c in contributions], depth, max_depth)
    txn.executemany(
        "INSERT INTO contributors (repo_id, user_id, contributions, seen_at, seen_on_page) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (repo_id, user_id) DO UPDATE SET "
        "contributions = excluded.contributions, seen_at = excluded.seen_at, seen_on_page = excluded.seen_on_page",
        [(repo_id, c.user.id, c.contributions, page.iso_now, page.url) for c in contributions],
    )
    _remember(txn, page)
    if not page.next_url:
        _end_contributor_pass(txn, task, repo_id, "ok")
    return _advance(txn, task, page.next_url, page.now)


def _end_contributor_pass(txn: Transaction, task: Task, repo_id: int, status: str) -> None:
    """Drop rows a completed walk no longer showed: the list shrank."""
    txn.execute(
        "DELETE FROM contributors WHERE repo_id = ? AND (seen_at IS NULL OR seen_at < "
        "(SELECT pass_started_at FROM tasks WHERE id = ?))",
        (repo_id, task.id),
    )
    txn.execute("UPDATE repos SET contributors_status = ? WHERE id = ?", (status, repo_id))


def _relax(txn: Transaction, user_id: int, depth: int, max_depth: int) -> int:
    """Lower a user's depth (and that of everyone reached through them); queue who is now in reach."""
    txn.execute("SELECT depth, login FROM users WHERE id = ?", (user_id,))
    current, login = txn.fetchone()
    if current < depth:
        return int(current)
    if current > depth:
        txn.execute(
            "WITH RECURSIVE reach (id, depth) AS (VALUES (CAST(? AS BIGINT), CAST(? AS INTEGER)) UNION "
            "SELECT c.user_id, reach.depth + 1 FROM reach JOIN repos r ON r.owner_id = reach.id "
            "JOIN contributors c ON c.repo_id = r.id JOIN users u ON u.id = c.user_id "
            "WHERE u.depth > reach.depth + 1) "
            "UPDATE users SET depth = (SELECT MIN(depth) FROM reach WHERE reach.id = users.id) "
            "WHERE id IN (SELECT id FROM reach) "
            "RETURNING id, login, depth",
            (user_id, depth),
        )
        for reached_id, reached_login, d in txn.fetchall():
            txn.execute(
                "UPDATE tasks SET depth = CASE WHEN ? < depth THEN ? ELSE depth END "
                "WHERE (kind = 'user' AND key = lower(?)) OR (kind = 'repos' AND key = ?)",
                (d, d, reached_login, str(reached_id)),
            )
            if d <= max_depth:
                _add_user_task(txn, reached_login, d, 0.0)
    elif depth <= max_depth:
        _add_user_task(txn, login, depth, 0.0)
    return depth


def _relax_all(txn: Transaction, user_ids: list[int], depth: int, max_depth: int) -> None:
    """``_relax`` for a page of contributors in a few round trips: one read, one batch of new work."""
    if not user_ids:
        return
    txn.execute(f"SELECT id, depth, login FROM users WHERE id IN ({', '.join('?' * len(user_ids))})", user_ids)
    rows = sorted(txn.fetchall())
    for user_id, current, _ in rows:
        if current > depth:
            _relax(txn, user_id, depth, max_depth)
    if depth <= max_depth:
        txn.executemany(_ADD_USER_TASK, [(login.lower(), url, url, depth, 0.0)
                                         for _, current, login in rows if current == depth for url in (user_url(login),)])


def _not_modified(txn: Transaction, task: Task, page: Page) -> Task | None:
    _begin(txn)
    if privacy.refused(txn, task) or not held(txn, task):
        return None
    txn.execute("SELECT next_url FROM http_cache WHERE url = ? AND token_id = ?", (page.url, page.token_id))
    row = txn.fetchone()
    next_url = row[0] if row else None
    if task.kind == "user":
        txn.execute("UPDATE users SET fetched_at = ? WHERE lower(login) = ?", (page.iso_now, task.key))
    elif task.kind == "repos":
        txn.execute("UPDATE repos SET fetched_at = ? WHERE owner_id = ?", (page.iso_now, int(task.key)))
    else:
        txn.execute(
            "UPDATE contributors SET seen_at = ? WHERE repo_id = ? AND seen_on_page = ?",
            (page.iso_now, int(task.key), page.url),
        )
        if not next_url:
            _end_contributor_pass(txn, task, int(task.key), "ok")
    return _advance(txn, task, next_url, page.now)


def _finish(txn: Transaction, task: Task, outcome: str, now: float) -> None:
    _begin(txn)
    hold(txn, task)
    txn.execute(
        "UPDATE tasks SET state = 'done', url = first_url, outcome = ?, updated_at = ? WHERE id = ?",
        (outcome, now, task.id),
    )
    if task.kind == "contributors":
        if outcome == "empty":
            txn.execute("DELETE FROM contributors WHERE repo_id = ?", (int(task.key),))
        txn.execute("UPDATE repos SET contributors_status = ? WHERE id = ?", (outcome, int(task.key)))


def _move(txn: Transaction, task: Task, url: str, now: float) -> None:
    _begin(txn)
    hold(txn, task)
    txn.execute(
        "UPDATE tasks SET url = ?, first_url = CASE WHEN url = first_url THEN ? ELSE first_url END, "
        "attempts = attempts + 1, updated_at = ? WHERE id = ?",
        (url, url, now, task.id),
    )


def _retry(txn: Transaction, task: Task, at: float, reason: str, attempt: bool, now: float) -> None:
    _begin(txn)
    hold(txn, task)
    txn.execute(
        "UPDATE tasks SET state = 'pending', next_attempt_at = ?, outcome = ?, "
        "attempts = attempts + ?, updated_at = ? WHERE id = ?",
        (at, reason[:500], 1 if attempt else 0, now, task.id),
    )


def _fail(txn: Transaction, task: Task, reason: str, now: float) -> None:
    _begin(txn)
    hold(txn, task)
    txn.execute(
        "UPDATE tasks SET state = 'failed', outcome = ?, attempts = attempts + 1, updated_at = ? WHERE id = ?",
        (reason[:500], now, task.id),
    )


def _progress(txn: Transaction) -> dict[str, int]:
    counts: dict[str, int] = {}
    for table in ("users", "repos", "contributors"):
        txn.execute(f"SELECT COUNT(*) FROM {table}")
        counts[table] = int(txn.fetchone()[0])
    txn.execute("SELECT COUNT(*) FROM users WHERE fetched_at IS NOT NULL")
    counts["profiles"] = int(txn.fetchone()[0])
    for state in ("pending", "leased", "done", "failed"):
        counts[state] = 0
    txn.execute("SELECT state, COUNT(*) FROM tasks GROUP BY state")
    for state, n in txn.fetchall():
        counts[state] = int(n)
    return counts


def _by_depth(txn: Transaction) -> list[tuple[int, str, str, int]]:
    txn.execute("SELECT depth, kind, state, COUNT(*) FROM tasks GROUP BY depth, kind, state")
    return [(int(d), k, s, int(n)) for d, k, s, n in txn.fetchall()]


def _failures(txn: Transaction) -> tuple[int, str | None]:
    txn.execute("SELECT COUNT(*) FROM tasks WHERE state = 'failed'")
    count = int(txn.fetchone()[0])
    txn.execute("SELECT outcome FROM tasks WHERE state = 'failed' GROUP BY outcome ORDER BY COUNT(*) DESC, outcome LIMIT 1")
    row = txn.fetchone()
    return count, (row[0] if row else None)


def _load_budgets(txn: Transaction) -> dict[str, tuple[int | None, float, float]]:
    txn.execute("SELECT token_id, remaining, reset_at, limited_until FROM rate_limits")
    return {t: (r, float(reset or 0), float(lim or 0)) for t, r, reset, lim in txn.fetchall()}


def _save_budgets(txn: Transaction, rows: list[tuple[str, int | None, float, float]], now: float) -> None:
    # The remaining budget belongs to the ledger once a row exists; a daemon only
    # adds the secondary-limit pause it met, for every daemon to honour.
    _begin(txn)
    txn.executemany(
        "INSERT INTO rate_limits (token_id, remaining, reset_at, limited_until, updated_at) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (token_id) DO UPDATE SET limited_until = CASE WHEN "
        "excluded.limited_until > rate_limits.limited_until THEN excluded.limited_until "
        "ELSE rate_limits.limited_until END, updated_at = excluded.updated_at",
        [(*row, now) for row in sorted(rows)],
    )
