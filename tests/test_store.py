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
from twisted.trial.unittest import TestCase

from ghcrawl.errors import LeaseLost, StoreError
from ghcrawl.models import Contribution, Repo, User
from ghcrawl.store import Store, Task, check_database, offline, open_store
from ghcrawl.store.migrations import SCHEMA_VERSION
from ghcrawl.store.records import Page, iso
from tests import pg


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

    def test_task_carries_its_claim(self) -> None:
        """A task names its lease holder and claim number, which every write checks."""
        task = Task(1, "user", "a", "/users/a", "/users/a", 0, 0, {}, "one", 3)
        self.assertEqual((task.lease_owner, task.lease), ("one", 3))


class SqliteStoreTests(StoreContract, TestCase):
    def database(self) -> str:
        return os.path.join(tempfile.mkdtemp(), "crawl.sqlite")


class PostgresStoreTests(StoreContract, TestCase):
    def database(self) -> str:
        return pg.server().database()

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
