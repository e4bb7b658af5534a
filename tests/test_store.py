"""The store's contract, run against a real SQLite file and a real PostgreSQL server alike."""

from __future__ import annotations

import os
import sqlite3
import tempfile
from collections.abc import Coroutine
from typing import Any

from attrs import evolve
from twisted.internet import reactor
from twisted.internet.defer import Deferred, DeferredList
from twisted.internet.task import Clock
from twisted.trial.unittest import SkipTest, SynchronousTestCase, TestCase

from ghcrawl.errors import LeaseLost, StoreError
from ghcrawl.models import Contribution, Repo, User
from ghcrawl.store import Store, Task, check_database, offline, open_store, postgres
from ghcrawl.store.dialect import POSTGRES, SQLITE, Dialect
from ghcrawl.store.migrations import SCHEMA_FILES, SCHEMA_VERSION, ddl, statements
from ghcrawl.store.records import Page, iso
from tests import pg

#: Rows of a version-3 database, its times written as ghcrawl and GitHub wrote them then.
VERSION_3_ROWS: list[tuple[str, list[tuple[Any, ...]]]] = [
    ("INSERT INTO users (id, login, type, created_at, updated_at, depth, fetched_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
     [(1, "alice", "User", "2011-01-26T19:01:12Z", "2024-05-01T08:00:00Z", 0, "2026-11-25T23:59:23.123Z"),
      (2, "bob", "User", None, None, 1, None),
      (3, "carol", "User", "2015-06-30T23:59:59Z", "2015-07-01T00:00:00Z", 1, "2026-11-25T23:59:23.000Z")]),
    ("INSERT INTO repos (id, owner_id, full_name, name, fork, created_at, updated_at, pushed_at, archived, "
     "fetched_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
     [(10, 1, "alice/tool", "tool", False, "2012-02-29T12:00:00Z", "2026-01-01T00:00:00Z", "2025-12-31T23:59:59Z",
       False, "2026-11-25T23:59:24.050Z"),
      (11, 1, "alice/new", "new", True, None, None, None, None, None)]),
    ("INSERT INTO contributors (repo_id, user_id, contributions, seen_at, seen_on_page) VALUES (?, ?, ?, ?, ?)",
     [(10, 1, 30, "2026-11-25T23:59:25.999Z", "/p1"), (10, 2, 5, None, None)]),
    ("INSERT INTO tasks (kind, key, first_url, url, depth, pass_started_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
     [("contributors", "10", "/c", "/c", 1, "2026-11-25T23:59:20.001Z", 5.5),
      ("user", "bob", "/users/bob", "/users/bob", 1, None, 0.0)]),
    ("INSERT INTO optouts (user_id, login_hash, source, created_at) VALUES (?, ?, ?, ?)",
     [(99, "ab" * 32, "forget", "2026-10-01T12:34:56Z")]),
]
#: What those rows read back as, whichever backend and version holds them.
VERSION_3_QUERIES = [
    "SELECT id, login, created_at, updated_at, depth, fetched_at FROM users ORDER BY id",
    "SELECT id, created_at, updated_at, pushed_at, fetched_at FROM repos ORDER BY id",
    "SELECT repo_id, user_id, seen_at, seen_on_page FROM contributors ORDER BY repo_id, user_id",
    "SELECT key, pass_started_at, updated_at FROM tasks ORDER BY key",
    "SELECT user_id, source, created_at FROM optouts",
]


def repo(repo_id: int, owner_id: int, name: str) -> Repo:
    return Repo(repo_id, owner_id, name, name.split("/")[1], None, False, "Python", 1, 0, 0, 10, "main",
                None, None, None, False)


def page(url: str, now: float, next_url: str | None = None) -> Page:
    return Page(url, next_url, now, iso(now), "tok-1", '"etag"')


class StoreContract:
    """Behaviour every backend shows; subclasses say where the database lives."""

    timeout = 60

    def database(self) -> str:
        raise NotImplementedError

    def setUp(self) -> None:
        self.db = self.database()

    def store(self, worker: str = "one", lease_timeout: float = 60.0) -> Store:
        store = open_store(self.db, 1, worker=worker, lease_timeout=lease_timeout, clock=reactor)
        self.addCleanup(store.close)
        return store

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        conn = offline.open_offline(self.db)
        try:
            return list(conn.execute(sql).fetchall())
        finally:
            conn.close()

    async def seeded(self, *logins: str, worker: str = "one", lease_timeout: float = 60.0) -> Store:
        store = self.store(worker, lease_timeout)
        await store.migrate()
        await store.add_seeds(logins or ["octocat"])
        return store

    async def test_retry_records_when_not_when_due(self) -> None:
        """A retried task is due later, but its last activity is the moment it was put back."""
        store = await self.seeded()
        [task] = await store.claim(5, 1000.0)
        await store.retry(task, 1600.0, "HTTP 502", attempt=True, now=1000.0)
        self.assertEqual(await store.next_due(), 1600.0)
        self.assertEqual(await store.claim(5, 1500.0), [])
        row = self.query("SELECT state, attempts, updated_at, outcome FROM tasks")
        self.assertEqual(row, [("pending", 1, 1000.0, "HTTP 502")])
        [again] = await store.claim(5, 1600.0)
        self.assertEqual(again.attempts, 1)

    async def test_live_lease_is_never_taken_expired_one_is(self) -> None:
        """Another daemon cannot claim a live lease; once it expires it can, and the first holder's write is refused."""
        first = await self.seeded(lease_timeout=30.0)
        second = self.store("two", 30.0)
        [task] = await first.claim(5, 1000.0)
        self.assertEqual(await second.claim(5, 1029.0), [])
        self.assertEqual(await second.next_due(), 1030.0)
        [taken] = await second.claim(5, 1031.0)
        self.assertEqual((taken.id, taken.lease_owner), (task.id, "two"))
        user = User(1, "octocat", "User")
        with self.assertRaises(LeaseLost):
            await first.commit_user(task, user, page(task.url, 1032.0))
        self.assertEqual(self.query("SELECT COUNT(*) FROM users"), [(0,)])
        await second.commit_user(taken, user, page(taken.url, 1033.0))
        self.assertEqual(self.query("SELECT login, depth FROM users"), [("octocat", 0)])

    async def test_heartbeat_keeps_a_lease_alive(self) -> None:
        """Heart-beating moves the expiry on, so a busy daemon keeps its tasks however long they take."""
        first = await self.seeded(lease_timeout=30.0)
        second = self.store("two", 30.0)
        await first.register("host-a", 1, 1000.0)
        await first.claim(5, 1000.0)
        self.assertEqual(await first.heartbeat(1020.0, 7), 1)
        self.assertEqual(await second.claim(5, 1040.0), [])
        [worker] = await second.workers()
        self.assertEqual((worker.name, worker.heartbeat_at, worker.requests_last_minute, worker.leases),
                         ("one", 1020.0, 7, 1))

    async def test_recovery_covers_own_and_expired_leases_only(self) -> None:
        """At start a daemon returns its own and expired leases, never another's live one."""
        first = await self.seeded("a", "b", "c", lease_timeout=30.0)
        second = self.store("two", 100.0)
        third = self.store("three", 10.0)
        await first.claim(1, 1000.0)
        await second.claim(1, 1000.0)
        await third.claim(1, 1000.0)
        self.assertEqual(await first.recover_leases(1020.0), 2)
        owners = self.query("SELECT lease_owner FROM tasks WHERE state = 'leased'")
        self.assertEqual(owners, [("two",)])

    async def test_release_only_gives_back_own_leases(self) -> None:
        """Releasing on stop leaves another daemon's leases alone."""
        first = await self.seeded("a", "b")
        second = self.store("two")
        [mine] = await first.claim(1, 1000.0)
        [theirs] = await second.claim(1, 1000.0)
        await first.release([mine.id, theirs.id])
        self.assertEqual(self.query("SELECT lease_owner FROM tasks WHERE state = 'leased'"),
                         [("two",)])

    async def test_user_reached_by_two_paths_keeps_smallest_depth(self) -> None:
        """Contributors stored at depth 2 then found again at depth 1 end at depth 1, their work too."""
        store = await self.seeded("a", "b")
        claimed = {t.key: t for t in await store.claim(5, 1000.0)}
        for login, uid in (("a", 1), ("b", 2)):
            await store.commit_user(claimed[login], User(uid, login, "User"), page(f"/users/{login}", 1000.0))
        listings = {t.key: t for t in await store.claim(5, 1001.0)}
        await store.commit_repos(listings["1"], [repo(10, 1, "a/x")], page("/users/a/repos?per_page=100", 1001.0))
        await store.commit_repos(listings["2"], [repo(20, 2, "b/y")], page("/users/b/repos?per_page=100", 1001.0))
        contributors = {t.key: t for t in await store.claim(5, 1002.0)}
        # c is a contributor of a's repo (depth 1); a's repo also lists b: b stays at 0.
        found = [Contribution(User(3, "c", "User"), 5), Contribution(User(2, "b", "User"), 1)]
        await store.commit_contributors(contributors["10"], found, page("/repos/a/x/contributors?per_page=100", 1002.0))
        self.assertEqual(self.query("SELECT id, depth FROM users ORDER BY id"),
                         [(1, 0), (2, 0), (3, 1)])
        self.assertEqual(self.query("SELECT COUNT(*) FROM contributors"), [(2,)])
        self.assertEqual(self.query("SELECT depth, state FROM tasks WHERE key = 'c'"),
                         [(1, "pending")])

    async def test_migrating_twice_is_harmless(self) -> None:
        """A second daemon finds the schema already there and changes nothing."""
        first, second = self.store(), self.store("two")
        self.assertEqual(await first.migrate(), await second.migrate())
        self.assertEqual(self.query("SELECT COUNT(*) FROM schema_version"), [(SCHEMA_VERSION,)])
        check_database(self.db)

    async def test_empty_repository_is_reasked_only_after_a_push(self) -> None:
        """A 204 (empty) repository is skipped by refresh until its listing shows a new pushed_at or size."""
        store = await self.seeded()

        def listed(pushed: str, size: int) -> Repo:
            return Repo.from_api({"id": 10, "owner": {"id": 1}, "full_name": "octocat/empty", "name": "empty",
                                  "fork": False, "size": size, "pushed_at": pushed, "archived": False})

        async def take(kind: str, now: float) -> list[Task]:
            tasks = await store.claim(50, now)
            await store.release([t.id for t in tasks if t.kind != kind])
            return [t for t in tasks if t.kind == kind]

        def contributors_state() -> str:
            return str(self.query("SELECT state FROM tasks WHERE kind = 'contributors' AND key = '10'")[0][0])

        full = Repo.from_api({"id": 11, "owner": {"id": 1}, "full_name": "octocat/full", "name": "full",
                              "fork": False, "size": 5, "pushed_at": "2020-01-01T00:00:00Z", "archived": False})
        [user_task] = await take("user", 1.0)
        await store.commit_user(user_task, User.from_api({"login": "octocat", "id": 1, "type": "User"}),
                                page(user_task.url, 1.0))
        [repos_task] = await take("repos", 2.0)
        await store.commit_repos(repos_task, [listed("2020-01-01T00:00:00Z", 0), full], page(repos_task.url, 2.0))
        empty_task, full_task = sorted(await take("contributors", 3.0), key=lambda t: t.key)
        await store.finish(empty_task, "empty", 3.0)
        await store.commit_contributors(full_task, [], page(full_task.url, 3.0))

        # The user, the listing and the non-empty repository's contributors; not the 204.
        self.assertEqual(await store.requeue_stale(100.0, 100.0), 3)
        self.assertEqual(contributors_state(), "done")
        [repos_task] = await take("repos", 101.0)
        await store.commit_repos(repos_task, [listed("2020-01-01T00:00:00Z", 0), full], page(repos_task.url, 101.0))
        self.assertEqual(contributors_state(), "done")

        await store.requeue_stale(200.0, 200.0)
        [repos_task] = await take("repos", 201.0)
        await store.commit_repos(repos_task, [listed("2026-01-01T00:00:00Z", 12), full], page(repos_task.url, 201.0))
        self.assertEqual(contributors_state(), "pending")

    async def test_times_read_back_as_written(self) -> None:
        """GitHub's times and ghcrawl's own (at a whole second too) read back as the text written."""
        await self.times_read_back()

    async def times_read_back(self) -> None:
        store = await self.seeded()
        [user_task] = await store.claim(5, 1000.0)
        octocat = User.from_api({"login": "octocat", "id": 1, "type": "User", "created_at": "2011-01-26T19:01:12Z",
                                 "updated_at": "2024-02-29T23:59:59Z"})
        await store.commit_user(user_task, octocat, page(user_task.url, 1000.0))
        [repos_task] = await store.claim(5, 1001.25)
        listed = Repo.from_api({"id": 10, "owner": {"id": 1}, "full_name": "octocat/x", "name": "x", "fork": False,
                                "archived": False, "created_at": "2012-01-01T00:00:00Z",
                                "updated_at": "2025-12-31T23:59:59Z", "pushed_at": "2026-01-02T03:04:05Z"})
        await store.commit_repos(repos_task, [listed], page(repos_task.url, 1001.25))
        self.assertEqual(self.query("SELECT created_at, updated_at, fetched_at FROM users"),
                         [("2011-01-26T19:01:12Z", "2024-02-29T23:59:59Z", "1970-01-01T00:16:40.000Z")])
        self.assertEqual(self.query("SELECT created_at, updated_at, pushed_at, fetched_at FROM repos"),
                         [("2012-01-01T00:00:00Z", "2025-12-31T23:59:59Z", "2026-01-02T03:04:05Z",
                           "1970-01-01T00:16:41.250Z")])
        self.assertEqual(self.query("SELECT pass_started_at FROM tasks WHERE kind = 'repos'"),
                         [("1970-01-01T00:16:41.250Z",)])
        self.assertEqual(self.query("SELECT COUNT(*) FROM users WHERE fetched_at < '1970-01-01T00:16:40.001Z'"),
                         [(1,)])
        conn = offline.open_offline(self.db)
        try:
            with offline.snapshot(conn):  # PostgreSQL: a server-side cursor, as exports and copies read
                self.assertEqual(list(conn.execute("SELECT fetched_at FROM users WHERE id > ?", (0,))),
                                 [("1970-01-01T00:16:40.000Z",)])
        finally:
            conn.close()

    async def test_a_walk_drops_contributors_it_no_longer_shows(self) -> None:
        """Rows seen before the walk began (milliseconds apart) go; rows seen during it stay."""
        store = await self.seeded()
        [user_task] = await store.claim(5, 1000.0)
        await store.commit_user(user_task, User(1, "octocat", "User"), page(user_task.url, 1000.0))
        [repos_task] = await store.claim(5, 1001.0)
        await store.commit_repos(repos_task, [repo(10, 1, "octocat/x")], page(repos_task.url, 1001.0))
        [walk] = [t for t in await store.claim(50, 1002.0) if t.kind == "contributors"]
        both = [Contribution(User(2, "mona", "User"), 5), Contribution(User(3, "hubot", "Bot"), 1)]
        await store.commit_contributors(walk, both, page(walk.url, 1002.999))
        await store.requeue_stale(2000.0, 2000.0)
        [again] = [t for t in await store.claim(50, 1003.0) if t.kind == "contributors"]
        await store.commit_contributors(again, both[:1], page(again.url, 1003.0))
        self.assertEqual(self.query("SELECT user_id, seen_at FROM contributors ORDER BY user_id"),
                         [(2, "1970-01-01T00:16:43.000Z")])

    async def test_a_contributor_listed_anew_keeps_or_takes_their_new_login_and_type(self) -> None:
        """A contributor listed again as stored is left as is; a new login or type (NULL too) replaces the old."""
        store = await self.seeded()
        [user_task] = await store.claim(5, 1000.0)
        await store.commit_user(user_task, User(1, "octocat", "User"), page(user_task.url, 1000.0))
        [repos_task] = await store.claim(5, 1001.0)
        await store.commit_repos(repos_task, [repo(10, 1, "octocat/x")], page(repos_task.url, 1001.0))
        listed = [[Contribution(User(2, "mona", "User"), 1), Contribution(User(3, "hubot", None), 1)],
                  [Contribution(User(2, "mona", "User"), 1), Contribution(User(3, "hubot", "Bot"), 1)],
                  [Contribution(User(2, "Mona2", "User"), 1), Contribution(User(3, "hubot", None), 1)]]
        seen = []
        for n, found in enumerate(listed):
            [walk] = [t for t in await store.claim(50, 1002.0 + n) if t.kind == "contributors"]
            await store.commit_contributors(walk, found, page(walk.url, 1002.0 + n))
            await store.requeue_stale(2000.0, 2000.0)
            seen.append(self.query("SELECT id, login, type FROM users WHERE id > 1 ORDER BY id"))
        self.assertEqual(seen, [[(2, "mona", "User"), (3, "hubot", None)],
                                [(2, "mona", "User"), (3, "hubot", "Bot")],
                                [(2, "Mona2", "User"), (3, "hubot", None)]])

    async def test_version_3_database_migrates_with_times_kept(self) -> None:
        """A version-3 database holding rows comes to this version with every time and NULL as it was."""
        conn, dialect = self.raw_connection()
        try:
            cur = conn.cursor()
            for number, name in enumerate(SCHEMA_FILES[:3], start=1):
                for statement in statements(ddl(dialect.name, name)):
                    cur.execute(statement)
                cur.execute(dialect.translate("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)"),
                            (number, f"2024-01-0{number}T00:00:00Z"))
            for sql, rows in VERSION_3_ROWS:
                cur.executemany(dialect.translate(sql), rows)
            conn.commit()
            before = [list(cur.execute(dialect.translate(q, False)).fetchall()) for q in VERSION_3_QUERIES]
        finally:
            conn.close()
        self.assertEqual(before[0][0], (1, "alice", "2011-01-26T19:01:12Z", "2024-05-01T08:00:00Z", 0,
                                        "2026-11-25T23:59:23.123Z"))
        self.assertEqual(await self.store().migrate(), SCHEMA_VERSION)
        self.assertEqual([self.query(q) for q in VERSION_3_QUERIES], before)
        self.assertEqual(self.query("SELECT version, applied_at FROM schema_version WHERE version < 4 "
                                    "ORDER BY version"),
                         [(1, "2024-01-01T00:00:00Z"), (2, "2024-01-02T00:00:00Z"), (3, "2024-01-03T00:00:00Z")])
        self.assertEqual(self.query("SELECT MAX(version) FROM schema_version"), [(SCHEMA_VERSION,)])

    def raw_connection(self) -> tuple[Any, Dialect]:
        """A DB-API connection to the (empty) database, bypassing the store."""
        raise NotImplementedError

    def test_task_carries_its_claim(self) -> None:
        """A task names its lease holder and claim number, which every write checks."""
        task = Task(1, "user", "a", "/users/a", "/users/a", 0, 0, {}, "one", 3)
        self.assertEqual((task.lease_owner, task.lease), ("one", 3))


class SqliteStoreTests(StoreContract, TestCase):
    def database(self) -> str:
        return os.path.join(tempfile.mkdtemp(), "crawl.sqlite")

    def raw_connection(self) -> tuple[Any, Dialect]:
        return sqlite3.connect(self.db), SQLITE


class PostgresStoreTests(StoreContract, TestCase):
    def database(self) -> str:
        return pg.server().database()

    def raw_connection(self) -> tuple[Any, Dialect]:
        return postgres.connect(self.db), POSTGRES

    async def test_times_are_utc_whatever_the_servers_zone(self) -> None:
        """A database whose sessions default to another zone still reads and writes the same UTC text."""
        import psycopg

        with psycopg.connect(self.db, autocommit=True) as conn:
            conn.execute(f"ALTER DATABASE {self.db.rsplit('/', 1)[1]} SET TimeZone TO 'Asia/Kolkata'")
            conn.execute("SET TimeZone TO 'Asia/Kolkata'")
            await self.times_read_back()
            self.assertEqual(conn.execute("SELECT fetched_at::text FROM users").fetchall(),
                             [("1970-01-01 05:46:40+05:30",)])
        ours = postgres.connect(self.db)
        try:
            self.assertEqual(ours.execute("SHOW TimeZone").fetchall(), [("UTC",)])
        finally:
            ours.close()

    async def test_native_types(self) -> None:
        """A migrated database has bigint ids, boolean flags, timestamptz times, and SQLite's tables and columns."""
        await self.store().migrate()
        got = {(t, c): (kind, precision) for t, c, kind, precision in self.query(
            "SELECT table_name, column_name, data_type, datetime_precision FROM information_schema.columns "
            "WHERE table_schema = current_schema()")}
        ids = [("users", "id"), ("repos", "id"), ("repos", "owner_id"), ("contributors", "repo_id"),
               ("contributors", "user_id"), ("tasks", "id"), ("optouts", "user_id")]
        self.assertEqual({got[c][0] for c in ids}, {"bigint"})
        self.assertEqual({got[c][0] for c in [("repos", "fork"), ("repos", "archived")]}, {"boolean"})
        whole = [("users", "created_at"), ("users", "updated_at"), ("repos", "created_at"), ("repos", "updated_at"),
                 ("repos", "pushed_at"), ("optouts", "created_at"), ("schema_version", "applied_at")]
        millis = [("users", "fetched_at"), ("repos", "fetched_at"), ("contributors", "seen_at"),
                  ("tasks", "pass_started_at")]
        self.assertEqual({c: got[c] for c in whole + millis},
                         {c: ("timestamp with time zone", 0 if c in whole else 3) for c in whole + millis})
        clock = [("tasks", "next_attempt_at"), ("tasks", "updated_at"), ("tasks", "lease_expires_at"),
                 ("workers", "started_at"), ("workers", "heartbeat_at"), ("rate_limits", "reset_at"),
                 ("rate_limits", "limited_until"), ("rate_limits", "probe_until"), ("rate_limits", "updated_at")]
        self.assertEqual({got[c][0] for c in clock}, {"double precision"})
        self.assertEqual(sorted(c for c in got if c[1].endswith(("_at", "_until"))), sorted(whole + millis + clock))

        lite = os.path.join(tempfile.mkdtemp(), "crawl.sqlite")
        sqlite_store = open_store(lite, 1, clock=reactor)
        self.addCleanup(sqlite_store.close)
        await sqlite_store.migrate()
        conn = sqlite3.connect(lite)
        try:
            names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            columns = {(t, r[1]) for t in names for r in conn.execute(f"PRAGMA table_info({t})")}
        finally:
            conn.close()
        self.assertEqual(columns, set(got))

    def test_foreign_database_is_refused(self) -> None:
        """A PostgreSQL database holding other tables is refused with one line, nothing created."""
        import psycopg

        with psycopg.connect(self.db, autocommit=True) as conn:
            conn.execute("CREATE TABLE invoices (id INTEGER)")
        with self.assertRaises(StoreError) as caught:
            check_database(self.db)
        self.assertIn("not a ghcrawl database", str(caught.exception))

    def test_password_in_uri_is_refused(self) -> None:
        """A URI holding a password is refused before any connection, and the message does not repeat it."""
        with self.assertRaises(StoreError) as caught:
            check_database(self.db.replace("postgres@", "postgres:hunter2@"))
        self.assertNotIn("hunter2", str(caught.exception))
        self.assertIn("must not hold a password", str(caught.exception))


class SqliteMigrationRaceTests(SynchronousTestCase):
    def test_second_daemon_waiting_for_the_lock_finds_the_schema_there(self) -> None:
        """Two daemons starting at once on a new file: the one that waited for the write lock skips what is done."""
        import threading


        path = os.path.join(tempfile.mkdtemp(prefix="ghcrawl-race-"), "crawl.sqlite")
        first = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        second = sqlite3.connect(path, isolation_level=None, timeout=30, check_same_thread=False)
        self.addCleanup(first.close)
        self.addCleanup(second.close)
        first.execute("PRAGMA journal_mode=WAL")
        first.execute("BEGIN IMMEDIATE")  # the first daemon, mid-way through version 1
        for statement in statements(ddl("sqlite", SCHEMA_FILES[0])):
            first.execute(statement)
        first.execute("INSERT INTO schema_version (version, applied_at) VALUES (1, '2026-01-01T00:00:00Z')")
        outcome: list[object] = []
        racer = threading.Thread(target=lambda: outcome.append(_migrated(second)))
        racer.start()
        racer.join(0.5)  # the second has read version 0 and waits for the write lock
        first.execute("COMMIT")
        racer.join(30)
        self.assertEqual(outcome, [SCHEMA_VERSION])
        self.assertEqual(first.execute("SELECT version FROM schema_version ORDER BY version").fetchall(),
                         [(n,) for n in range(1, SCHEMA_VERSION + 1)])


class SqliteOpenRaceTests(SynchronousTestCase):
    def test_two_daemons_opening_a_new_file_at_once(self) -> None:
        """Both connections get WAL and the schema, however their first statements interleave."""
        import threading

        from ghcrawl.store.sqlite import _open_connection

        root = tempfile.mkdtemp(prefix="ghcrawl-open-race-")
        errors: list[Exception] = []

        def open_and_migrate(path: str) -> None:
            try:
                conn = sqlite3.connect(path, check_same_thread=False)
                try:
                    _open_connection(conn)
                    _migrated_or_raise(conn)
                finally:
                    conn.close()
            except Exception as e:
                errors.append(e)

        for n in range(300):  # the loser's 'database is locked' came in about 2 % of tries
            path = os.path.join(root, f"crawl{n}.sqlite")
            racers = [threading.Thread(target=open_and_migrate, args=(path,)) for _ in range(2)]
            for racer in racers:
                racer.start()
            for racer in racers:
                racer.join(30)
        self.assertEqual(errors, [])


def _migrated_or_raise(conn: sqlite3.Connection) -> None:
    outcome = _migrated(conn)
    if isinstance(outcome, Exception):
        raise outcome


def _migrated(conn: sqlite3.Connection) -> object:
    from ghcrawl.store.dialect import migrate

    try:
        return migrate(conn, SQLITE, 1.0)
    except Exception as e:
        return e


class TimeTextTests(SynchronousTestCase):
    def test_server_output_becomes_iso_text(self) -> None:
        """PostgreSQL's TIMESTAMPTZ output in any zone reads as UTC ISO 8601 text, fractions as milliseconds."""
        try:
            from ghcrawl.store.pgtime import iso_text
        except ImportError:
            raise SkipTest("no psycopg") from None
        cases = {
            "2011-01-26 19:01:12+00": "2011-01-26T19:01:12Z",
            "2026-11-25 23:59:23.12+00": "2026-11-25T23:59:23.120Z",
            "2026-11-25 23:59:23.005+00": "2026-11-25T23:59:23.005Z",
            "2026-11-25 23:59:23.1234+00": "2026-11-25T23:59:23.123400Z",
            "2026-11-26 05:29:23.5+05:30": "2026-11-25T23:59:23.500Z",
            "2026-11-25 18:59:23-05": "2026-11-25T23:59:23Z",
            "infinity": "infinity",
        }
        self.assertEqual({k: iso_text(k) for k in cases}, cases)
        # A column's precision fixes the digits: TIMESTAMPTZ(3) keeps .000, TIMESTAMPTZ(0) has none.
        self.assertEqual([iso_text("2026-11-25 23:59:23+00", 3), iso_text("2026-11-26 05:29:23.5+05:30", 3),
                          iso_text("2026-11-25 18:59:23-05", 0)],
                         ["2026-11-25T23:59:23.000Z", "2026-11-25T23:59:23.500Z", "2026-11-25T23:59:23Z"])


class GroupCommitTests(TestCase):
    timeout = 30

    def setUp(self) -> None:
        self.path = os.path.join(tempfile.mkdtemp(), "crawl.sqlite")
        self.clock = Clock()  # drives only the batching delay; SQL runs in the real database thread
        self.store = Store(self.path, 1, clock=self.clock)
        self.addCleanup(self.store.close)

    async def together(self, *writes: Coroutine[Any, Any, Any]) -> list[tuple[bool, Any]]:
        """Issue ``writes`` at once, let the batching delay pass, and collect their outcomes."""
        started = [Deferred.fromCoroutine(w) for w in writes]
        self.clock.advance(1.0)
        return list(await DeferredList(started, consumeErrors=True))

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(self.path)
        try:
            return conn.execute(sql).fetchall()
        finally:
            conn.close()

    async def test_flush_sends_at_once(self) -> None:
        """A flush sends queued writes without the batching delay (this clock never moves), also
        when it comes while the previous batch is still being written."""
        await self.store.migrate()
        await self.store.add_seeds(["octocat", "hubot"])
        first = Deferred.fromCoroutine(self.store.claim(1, 1.0))
        self.store.flush()
        second = Deferred.fromCoroutine(self.store.claim(1, 1.0))  # queued behind the batch being written
        self.store.flush()
        claimed = [*(await first), *(await second)]
        self.assertEqual(sorted(t.key for t in claimed), ["hubot", "octocat"])
        self.assertEqual(self.clock.seconds(), 0.0)

    async def test_a_failed_page_rolls_back_alone(self) -> None:
        """In one batch, a page that fails half-way leaves no row behind while its neighbour commits."""
        await self.store.migrate()
        await self.store.add_seeds(["octocat", "hubot"])
        [(_, (octocat, hubot))] = await self.together(self.store.claim(5, 1.0))
        page = Page("/users/octocat", None, 2.0, "2026-01-01T00:00:02.000Z")
        await self.together(self.store.commit_user(octocat, User(1, "octocat", "User"), page))
        [(_, [repos])] = await self.together(self.store.claim(5, 3.0))
        repo = Repo(10, 1, "octocat/hello", "hello", None, False, None, 1, 0, 0, 1, "main", None, None, None, False)
        await self.together(self.store.commit_repos(repos, [repo], evolve(page, url=repos.url, now=4.0)))
        [(_, [contributors])] = await self.together(self.store.claim(5, 5.0))
        good, bad = User(2, "mona", "User"), User(3, None, "User")  # type: ignore[arg-type]  # login NOT NULL
        [(failed, error), (committed, _)] = await self.together(
            self.store.commit_contributors(
                contributors, [Contribution(good, 5), Contribution(bad, 1)], evolve(page, url=contributors.url)
            ),
            self.store.commit_user(hubot, User(4, "hubot", "Bot"), evolve(page, url=hubot.url, now=6.0)),
        )
        self.assertFalse(failed)
        error.trap(sqlite3.IntegrityError)
        self.assertTrue(committed)
        self.assertEqual(self.rows("SELECT id FROM users ORDER BY id"), [(1,), (4,)])  # mona's row rolled back
        self.assertEqual(self.rows("SELECT COUNT(*) FROM contributors"), [(0,)])
        self.assertEqual(
            self.rows(f"SELECT state, url FROM tasks WHERE id = {contributors.id}"), [("leased", contributors.url)]
        )
        self.assertEqual(self.rows(f"SELECT state FROM tasks WHERE id = {hubot.id}"), [("done",)])
