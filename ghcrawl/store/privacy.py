"""Privacy in the store: opt-outs, removal of a person, and the personal_data mode.

Every function takes a DB-API cursor inside the caller's transaction (the
daemon's ``runInteraction`` or the ``ghcrawl`` command's write), so a person is
removed and recorded as opted out in the same commit. The SQL is the portable
subset: ``?`` placeholders, standard functions, upserts with ``ON CONFLICT``.

A person is opted out by GitHub's numeric id or by the salted hash of their
lower-case login (the login itself is never stored); the salt is random per
database, made here on first use.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import sqlite3
import time
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar
from urllib.parse import quote

from attrs import frozen

from ghcrawl.errors import StoreError
from ghcrawl.store.dialect import SQLITE, migrate

#: The user columns a person writes about themselves; NULL with ``personal_data = false``.
PERSONAL_COLUMNS = ("name", "company", "blog", "location", "bio")
#: Most ``?`` parameters in one statement (SQLite's old limit is 999).
CHUNK = 400

T = TypeVar("T")
Cursor = Any  # a DB-API cursor: adbapi's Transaction or sqlite3.Cursor


@frozen
class Removed:
    """What removing one person took out of the database."""

    who: str
    user_id: int | None
    login: str | None
    users: int = 0
    repos: int = 0
    repo_contributors: int = 0  # contributor rows of their repositories
    contributions: int = 0  # their own contributor rows elsewhere
    tasks: int = 0
    validators: int = 0

    @property
    def anything(self) -> bool:
        return bool(self.users or self.repos or self.repo_contributors or self.contributions or self.tasks)


def _chunks(values: Sequence[T]) -> Iterable[Sequence[T]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


def _marks(values: Sequence[object]) -> str:
    return ", ".join("?" * len(values))


def _each(txn: Cursor, sql: str, rows: Iterable[Sequence[Any]]) -> None:
    """``executemany`` for any cursor, the command's PostgreSQL one included (it has only ``execute``)."""
    for row in rows:
        txn.execute(sql, tuple(row))


def _known(txn: Cursor) -> dict[str, Any] | None:
    """What this transaction already read of the privacy tables, if it keeps such a memo.

    SQLite's group commit runs many page writes in one transaction that holds the
    only write lock: nobody else can change opt-outs or settings meanwhile, so each
    is read once per batch rather than once per page. Every write here forgets it.
    """
    return getattr(txn, "known", None)


def _changed(txn: Cursor) -> None:
    known = _known(txn)
    if known is not None:
        known.clear()


def _setting(txn: Cursor, name: str) -> str | None:
    known = _known(txn)
    if known is not None and name in known:
        return known[name]  # type: ignore[no-any-return]
    txn.execute("SELECT value FROM privacy_settings WHERE name = ?", (name,))
    row = txn.fetchone()
    value = None if row is None else str(row[0])
    if known is not None:
        known[name] = value
    return value


def _salt(txn: Cursor, *, create: bool = False) -> bytes | None:
    value = _setting(txn, "salt")
    if value is None and create:
        _changed(txn)
        txn.execute(
            "INSERT INTO privacy_settings (name, value) VALUES ('salt', ?) ON CONFLICT (name) DO NOTHING",
            (os.urandom(32).hex(),),
        )
        value = _setting(txn, "salt")
    return None if value is None else bytes.fromhex(value)


def login_hash(salt: bytes, login: str) -> str:
    """The stored stand-in for a login: HMAC-SHA256 of the lower-case login under the database's salt."""
    return hmac.new(salt, login.lower().encode(), hashlib.sha256).hexdigest()


def _any(txn: Cursor) -> bool:
    known = _known(txn)
    if known is not None and "optouts" in known:
        return bool(known["optouts"])
    txn.execute("SELECT 1 FROM optouts LIMIT 1")
    found = txn.fetchone() is not None
    if known is not None:
        known["optouts"] = found
    return found


def _blocked(txn: Cursor, people: Sequence[tuple[int | None, str | None]]) -> list[bool]:
    """For each (id, login), whether that person opted out (by either)."""
    salt = _salt(txn) if people and _any(txn) else None
    if salt is None:
        return [False] * len(people)
    ids = sorted({i for i, _ in people if i is not None})
    hashes = {login: login_hash(salt, login) for _, login in people if login}
    found_ids: set[int] = set()
    found_hashes: set[str] = set()
    for chunk in _chunks(ids):
        txn.execute(f"SELECT user_id FROM optouts WHERE user_id IN ({_marks(chunk)})", tuple(chunk))
        found_ids.update(int(r[0]) for r in txn.fetchall())
    for hchunk in _chunks(sorted(set(hashes.values()))):
        txn.execute(f"SELECT login_hash FROM optouts WHERE login_hash IN ({_marks(hchunk)})", tuple(hchunk))
        found_hashes.update(str(r[0]) for r in txn.fetchall())
    blocked = [i in found_ids or (login is not None and hashes.get(login) in found_hashes) for i, login in people]
    # An entry known by login learns the id, so a later rename cannot bring the person back.
    learned = [(i, hashes[login]) for (i, login), b in zip(people, blocked)
               if b and i is not None and i not in found_ids and login]
    _each(txn, "UPDATE optouts SET user_id = ? WHERE login_hash = ? AND user_id IS NULL", learned)
    return blocked


# --- Hooks the crawl's transactions call -------------------------------------------------


def opted_out_logins(txn: Cursor, logins: Sequence[str]) -> list[str]:
    """The logins among ``logins`` that opted out."""
    return [login for login, b in zip(logins, _blocked(txn, [(None, s) for s in logins])) if b]


def without_opted_out_logins(txn: Cursor, logins: Sequence[str]) -> list[str]:
    """Seeds minus the people who opted out."""
    refused = set(opted_out_logins(txn, logins))
    return [login for login in logins if login not in refused]


def _task_people(txn: Cursor, tasks: Sequence[Any]) -> list[tuple[int | None, str | None]]:
    """Whose profile or repositories each task would fetch."""
    repo_ids = [int(t.key) for t in tasks if t.kind == "contributors"]
    owners: dict[int, int] = {}
    for chunk in _chunks(repo_ids):
        txn.execute(f"SELECT id, owner_id FROM repos WHERE id IN ({_marks(chunk)})", tuple(chunk))
        owners.update((int(r), int(o)) for r, o in txn.fetchall())
    people: list[tuple[int | None, str | None]] = []
    for t in tasks:
        if t.kind == "user":
            people.append((None, t.key))
        elif t.kind == "repos":
            people.append((int(t.key), None))
        else:
            people.append((owners.get(int(t.key)), None))
    return people


def claimable(txn: Cursor, tasks: list[T]) -> list[T]:
    """Leased tasks minus those that would fetch an opted-out person's profile or repositories (deleted)."""
    if not tasks or not _any(txn):
        return tasks
    blocked = _blocked(txn, _task_people(txn, tasks))
    _each(txn, "DELETE FROM tasks WHERE id = ?", [(t.id,) for t, b in zip(tasks, blocked) if b])  # type: ignore[attr-defined]
    return [t for t, b in zip(tasks, blocked) if not b]


def refused(txn: Cursor, task: Any, user_id: int | None = None, login: str | None = None) -> bool:
    """True when a fetched page must not be stored: it is about an opted-out person (its task is deleted).

    Whether the task still exists is the lease check's question (``leases.held``), asked right after.
    """
    if not _any(txn):
        return False
    people = _task_people(txn, [task])
    if user_id is not None or login:
        # A profile names the id behind the task's login: an entry known by that login learns it.
        people = [(user_id, k) if task.kind == "user" else (i, k) for i, k in people] + [(user_id, login)]
    if any(_blocked(txn, people)):
        txn.execute("DELETE FROM tasks WHERE id = ?", (task.id,))
        return True
    return False


def without_opted_out(txn: Cursor, contributions: list[T]) -> list[T]:
    """A contributor listing minus the rows of people who opted out."""
    if not contributions or not _any(txn):
        return contributions
    blocked = _blocked(txn, [(c.user.id, c.user.login) for c in contributions])  # type: ignore[attr-defined]
    return [c for c, b in zip(contributions, blocked) if not b]


def profile(txn: Cursor, columns: Sequence[str], values: list[Any]) -> list[Any]:
    """A profile's values as stored: personal columns NULL when the database keeps no personal data."""
    if _setting(txn, "personal_data") != "false":
        return values
    return [None if c in PERSONAL_COLUMNS else v for c, v in zip(columns, values)]


# --- The personal_data mode ----------------------------------------------------------


def personal_data(txn: Cursor) -> bool | None:
    """The mode the database was crawled in (None: not recorded yet)."""
    value = _setting(txn, "personal_data")
    return None if value is None else value == "true"


def set_personal_data(txn: Cursor, wanted: bool) -> None:
    """Record the mode; refuse false to true, and clear personal columns when turning it off."""
    current = personal_data(txn)
    if current is False and wanted:
        raise StoreError(
            "this database was crawled with personal_data = false; refusing personal_data = true "
            "(its rows would be a mix): keep it false or start a new database"
        )
    _changed(txn)
    txn.execute(
        "INSERT INTO privacy_settings (name, value) VALUES ('personal_data', ?) "
        "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        ("true" if wanted else "false",),
    )
    if not wanted and current is not False:
        txn.execute(f"UPDATE users SET {', '.join(c + ' = NULL' for c in PERSONAL_COLUMNS)}")


def counts(txn: Cursor) -> dict[str, Any]:
    """For ``ghcrawl status``: the mode and how many people opted out (by forget, by file)."""
    txn.execute("SELECT source, COUNT(*) FROM optouts GROUP BY source")
    by_source = {str(s): int(n) for s, n in txn.fetchall()}
    return {"personal_data": personal_data(txn), "optouts_forget": by_source.get("forget", 0),
            "optouts_file": by_source.get("file", 0)}


# --- Removing a person -----------------------------------------------------------------


def _find(txn: Cursor, who: str) -> tuple[int | None, str | None]:
    """The stored (id, login) a login or numeric id names, else what ``who`` itself says."""
    if who.isdigit():
        txn.execute("SELECT id, login FROM users WHERE id = ?", (int(who),))
        row = txn.fetchone()
        if row is not None:
            return int(row[0]), str(row[1])
    txn.execute("SELECT id, login FROM users WHERE lower(login) = ?", (who.lower(),))
    row = txn.fetchone()
    if row is not None:
        return int(row[0]), str(row[1])
    # Unknown here: an all-digit entry may be an id or a login; record both readings.
    return (int(who) if who.isdigit() else None), who


def _record(txn: Cursor, user_id: int | None, login: str | None, source: str, now: str) -> None:
    salt = _salt(txn, create=True)
    assert salt is not None
    digest = login_hash(salt, login) if login else None
    # NULLs spelled out rather than bound: "? IS NULL" has no type for PostgreSQL.
    same_id = "user_id IS NULL" if user_id is None else "user_id = ?"
    same_hash = "login_hash IS NULL" if digest is None else "login_hash = ?"
    txn.execute(
        f"SELECT 1 FROM optouts WHERE source = ? AND {same_id} AND {same_hash}",
        tuple(v for v in (source, user_id, digest) if v is not None),
    )
    if txn.fetchone() is None:
        _changed(txn)
        txn.execute(
            "INSERT INTO optouts (user_id, login_hash, source, created_at) VALUES (?, ?, ?, ?)",
            (user_id, digest, source, now),
        )


def _drop_validators(txn: Cursor, urls: Iterable[str], prefixes: Iterable[str]) -> int:
    """Delete cached validators of these pages and of every page under these URL prefixes (any case).

    Prefixes of one length share one pass over the cache, so a person with many
    repositories costs a few scans, not one per repository.
    """
    removed = 0
    for url in sorted(set(urls)):
        txn.execute("DELETE FROM http_cache WHERE url = ?", (url,))
        removed += max(0, int(txn.rowcount))
    by_length: dict[int, set[str]] = {}
    for prefix in prefixes:
        by_length.setdefault(len(prefix), set()).add(prefix.lower())
    for length, group in sorted(by_length.items()):
        for chunk in _chunks(sorted(group)):
            txn.execute(f"DELETE FROM http_cache WHERE lower(substr(url, 1, ?)) IN ({_marks(chunk)})",
                        (length, *chunk))
            removed += max(0, int(txn.rowcount))
    return removed


def _delete(txn: Cursor, sql: str, params: Sequence[Any]) -> int:
    txn.execute(sql, tuple(params))
    return max(0, int(txn.rowcount))


def _delete_rows(txn: Cursor, user_id: int, repo_ids: list[int]) -> tuple[int, int, int, int]:
    """Their repositories' contributor rows, their own rows, their repositories, their user row."""
    of_repos = sum(_delete(txn, f"DELETE FROM contributors WHERE repo_id IN ({_marks(c)})", c)
                   for c in _chunks(repo_ids))
    own = _delete(txn, "DELETE FROM contributors WHERE user_id = ?", (user_id,))
    repos = _delete(txn, "DELETE FROM repos WHERE owner_id = ?", (user_id,))
    return of_repos, own, repos, _delete(txn, "DELETE FROM users WHERE id = ?", (user_id,))


def _delete_work(txn: Cursor, keys: list[tuple[str, str]]) -> tuple[int, set[str]]:
    """Delete these tasks; return how many, and the URLs they were at (whose validators go too)."""
    count, urls = 0, set[str]()
    for kind, key in keys:
        txn.execute("SELECT url, first_url FROM tasks WHERE kind = ? AND key = ?", (kind, key))
        urls.update(u for row in txn.fetchall() for u in row)
        count += _delete(txn, "DELETE FROM tasks WHERE kind = ? AND key = ?", (kind, key))
    return count, urls


def _purge(txn: Cursor, who: str, source: str, now: str) -> Removed:
    """Delete one person's rows, work and validators, and record the opt-out; depths are left as they were."""
    user_id, login = _find(txn, who)
    _record(txn, user_id, login, source, now)
    repos: list[tuple[int, str]] = []
    rows = (0, 0, 0, 0)
    if user_id is not None:
        txn.execute("SELECT id, full_name FROM repos WHERE owner_id = ?", (user_id,))
        repos = [(int(i), str(n)) for i, n in txn.fetchall()]
        rows = _delete_rows(txn, user_id, [i for i, _ in repos])
    logins = {who.lower(), (login or who).lower()}
    keys = [("user", k) for k in sorted(logins)] + [("contributors", str(i)) for i, _ in repos]
    keys += [("repos", str(user_id))] if user_id is not None else []
    tasks, urls = _delete_work(txn, keys)
    urls |= {f"/users/{quote(k, safe='')}" for k in {who, login or who}}
    prefixes = {f"/users/{quote(k, safe='')}{end}" for k in logins for end in "/?"}
    prefixes |= {f"/user/{user_id}/"} if user_id is not None else set()
    for repo_id, full_name in repos:
        owner, _, name = full_name.partition("/")
        prefixes |= {f"/repos/{quote(owner, safe='')}/{quote(name, safe='')}/", f"/repositories/{repo_id}/"}
    validators = _drop_validators(txn, urls, prefixes)
    of_repos, own, repo_count, users = rows
    return Removed(who, user_id, login, users, repo_count, of_repos, own, tasks, validators)


def forget(txn: Cursor, who: str, now: str) -> Removed:
    """Remove one person for good (``ghcrawl forget``) and recompute depths without them."""
    removed = _purge(txn, who, "forget", now)
    if removed.repo_contributors:  # depth only flows through a person's repositories
        recompute_depths(txn)
    return removed


def sync_file(txn: Cursor, entries: Sequence[str], now: str) -> list[Removed]:
    """Make the file's opt-outs those of ``entries``, removing whatever the crawl holds of anyone new.

    Entries already recorded keep their rows (and the id learned for them); the
    crawl's hooks have kept them out since, so they are not searched for again.
    """
    salt = _salt(txn, create=True)
    assert salt is not None
    hashes = {e: login_hash(salt, e) for e in entries}
    ids = {int(e) for e in entries if e.isdigit()}
    txn.execute("SELECT user_id, login_hash FROM optouts WHERE source = 'file'")
    rows = [(None if u is None else int(u), h) for u, h in txn.fetchall()]
    kept = [(u, h) for u, h in rows if h in hashes.values() or u in ids]
    _changed(txn)
    for u, h in set(rows) - set(kept):
        if h is None:
            txn.execute("DELETE FROM optouts WHERE source = 'file' AND login_hash IS NULL AND user_id = ?", (u,))
        else:
            txn.execute("DELETE FROM optouts WHERE source = 'file' AND login_hash = ?", (h,))
    new = [e for e in entries if hashes[e] not in {h for _, h in kept} and not (e.isdigit() and int(e) in
                                                                                   {u for u, _ in kept})]
    removed = [_purge(txn, who, "file", now) for who in new]
    if any(r.repo_contributors for r in removed):
        recompute_depths(txn)
    return [r for r in removed if r.anything]


def recompute_depths(txn: Cursor) -> int:
    """Set every user still reachable from a seed to their shortest distance without the removed people.

    A breadth-first walk one level per query; users no longer reachable keep their rows and last depth.
    """
    txn.execute("SELECT id, login, depth FROM users")
    current = {int(i): (str(login), int(d)) for i, login, d in txn.fetchall()}
    found = {i: 0 for i, (_, d) in current.items() if d == 0}
    level, depth = sorted(found), 0
    while level:
        depth += 1
        following = []
        for chunk in _chunks(level):
            txn.execute(
                "SELECT DISTINCT c.user_id FROM repos r JOIN contributors c ON c.repo_id = r.id "
                f"WHERE r.owner_id IN ({_marks(chunk)})",
                tuple(chunk),
            )
            for (user_id,) in txn.fetchall():
                if int(user_id) not in found:
                    found[int(user_id)] = depth
                    following.append(int(user_id))
        level = sorted(following)
    changed = [(i, current[i][0], d) for i, d in found.items() if i in current and current[i][1] != d]
    _each(txn, "UPDATE users SET depth = ? WHERE id = ?", [(d, i) for i, _, d in changed])
    _each(
        txn,
        "UPDATE tasks SET depth = ? WHERE (kind = 'user' AND key = ?) OR (kind = 'repos' AND key = ?)",
        [(d, login.lower(), str(i)) for i, login, d in changed],
    )
    _each(
        txn,
        "UPDATE tasks SET depth = ? WHERE kind = 'contributors' AND key IN "
        "(SELECT CAST(id AS TEXT) FROM repos WHERE owner_id = ?)",
        [(d, i) for i, _, d in changed],
    )
    return len(changed)


def held_tasks_gone(txn: Cursor, task_ids: Sequence[int]) -> list[int]:
    """Which of these tasks no longer exist (their person was removed while they were claimed)."""
    present: set[int] = set()
    for chunk in _chunks(list(task_ids)):
        txn.execute(f"SELECT id FROM tasks WHERE id IN ({_marks(chunk)})", tuple(chunk))
        present.update(int(r[0]) for r in txn.fetchall())
    return [i for i in task_ids if i not in present]


def optout_count(txn: Cursor) -> int:
    """How many opt-out records there are (the daemon notices a ``ghcrawl forget`` by this changing)."""
    txn.execute("SELECT COUNT(*) FROM optouts")
    return int(txn.fetchone()[0])


# --- The ghcrawl command's side (plain sqlite3, beside a running daemon) ------------------


def forget_offline(conn: Any, who: str, now: str) -> Removed:
    """``ghcrawl forget`` for one person: one short write transaction that waits for the daemon's lock."""
    if isinstance(conn, sqlite3.Connection):  # the daemon migrates at start; this may run first
        migrate(conn, SQLITE, time.time())
    cur = conn.cursor()
    cur.execute("BEGIN IMMEDIATE")
    try:
        removed = forget(cur, who, now)
    except BaseException:
        cur.execute("ROLLBACK")
        raise
    cur.execute("COMMIT")
    return removed


def status_offline(conn: Any) -> dict[str, Any]:
    """The privacy part of ``ghcrawl status`` (a database from before privacy has no opt-outs)."""
    try:
        return counts(conn.cursor())
    except Exception as e:  # noqa: BLE001 - only a missing table is expected here
        if "no such table" not in str(e):
            raise
        return {"personal_data": None, "optouts_forget": 0, "optouts_file": 0}


def opted_out_offline(conn: Any, logins: Sequence[str]) -> list[str]:
    """``ghcrawl seed add``: the logins that opted out."""
    try:
        return opted_out_logins(conn.cursor(), logins)
    except Exception as e:  # noqa: BLE001
        if "no such table" not in str(e):
            raise
        return []
