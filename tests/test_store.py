"""The store against a real SQLite file: the frontier's bookkeeping."""

from __future__ import annotations

import os
import sqlite3
import tempfile
from collections.abc import Coroutine
from typing import Any

from attrs import evolve
from twisted.internet.defer import Deferred, DeferredList
from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase

from ghcrawl.models import Contribution, Repo, User
from ghcrawl.store import Page, Store


class StoreTests(TestCase):
    timeout = 30

    async def test_retry_records_when_not_when_due(self) -> None:
        """A retried task is due later, but its last activity is the moment it was put back."""
        path = os.path.join(tempfile.mkdtemp(), "crawl.sqlite")
        store = Store(path, 1)
        self.addCleanup(store.close)
        await store.migrate()
        await store.add_seeds(["octocat"])
        [task] = await store.claim(5, 1000.0)
        await store.retry(task, 1600.0, "HTTP 502", attempt=True, now=1000.0)
        self.assertEqual(await store.next_due(), 1600.0)
        self.assertEqual(await store.claim(5, 1500.0), [])
        conn = sqlite3.connect(path)
        row = conn.execute("SELECT state, attempts, updated_at, outcome FROM tasks").fetchone()
        conn.close()
        self.assertEqual(row, ("pending", 1, 1000.0, "HTTP 502"))
        [again] = await store.claim(5, 1600.0)
        self.assertEqual(again.attempts, 1)

    async def test_empty_repository_is_reasked_only_after_a_push(self) -> None:
        """A 204 (empty) repository is skipped by refresh until its listing shows a new pushed_at or size."""
        from ghcrawl.models import Repo, User
        from ghcrawl.store import Page

        path = os.path.join(tempfile.mkdtemp(), "crawl.sqlite")
        store = Store(path, 1)
        self.addCleanup(store.close)
        await store.migrate()
        await store.add_seeds(["octocat"])

        def page(url: str, now: float) -> Page:
            return Page(url, None, now, "2026-01-01T00:00:00.000Z")

        def repo(pushed: str, size: int) -> Repo:
            return Repo.from_api({"id": 10, "owner": {"id": 1}, "full_name": "octocat/empty", "name": "empty",
                                  "fork": False, "size": size, "pushed_at": pushed, "archived": False})

        async def take(kind: str, now: float) -> list:  # type: ignore[type-arg]
            tasks = await store.claim(50, now)
            await store.release([t.id for t in tasks if t.kind != kind])
            return [t for t in tasks if t.kind == kind]

        def contributors_state() -> str:
            conn = sqlite3.connect(path)
            try:
                return str(conn.execute("SELECT state FROM tasks WHERE kind = 'contributors' AND key = '10'")
                           .fetchone()[0])
            finally:
                conn.close()

        full = Repo.from_api({"id": 11, "owner": {"id": 1}, "full_name": "octocat/full", "name": "full",
                              "fork": False, "size": 5, "pushed_at": "2020-01-01T00:00:00Z", "archived": False})
        [user_task] = await take("user", 1.0)
        await store.commit_user(user_task, User.from_api({"login": "octocat", "id": 1, "type": "User"}),
                                page(user_task.url, 1.0))
        [repos_task] = await take("repos", 2.0)
        await store.commit_repos(repos_task, [repo("2020-01-01T00:00:00Z", 0), full], page(repos_task.url, 2.0))
        empty_task, full_task = sorted(await take("contributors", 3.0), key=lambda t: t.key)
        await store.finish(empty_task, "empty", 3.0)
        await store.commit_contributors(full_task, [], page(full_task.url, 3.0))

        # The user, the listing and the non-empty repository's contributors; not the 204.
        self.assertEqual(await store.requeue_stale(100.0, 100.0), 3)
        self.assertEqual(contributors_state(), "done")
        [repos_task] = await take("repos", 101.0)
        await store.commit_repos(repos_task, [repo("2020-01-01T00:00:00Z", 0), full], page(repos_task.url, 101.0))
        self.assertEqual(contributors_state(), "done")

        await store.requeue_stale(200.0, 200.0)
        [repos_task] = await take("repos", 201.0)
        await store.commit_repos(repos_task, [repo("2026-01-01T00:00:00Z", 12), full], page(repos_task.url, 201.0))
        self.assertEqual(contributors_state(), "pending")

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
