"""The store against a real SQLite file: the frontier's bookkeeping."""

from __future__ import annotations

import os
import sqlite3
import tempfile

from twisted.trial.unittest import TestCase

from ghcrawl.store import Store


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
