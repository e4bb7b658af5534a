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
