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
