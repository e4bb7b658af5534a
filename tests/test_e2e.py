"""End to end: a real ``twistd -n ghcrawl`` against a real fakehub process and a real SQLite file."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time

from twisted.trial.unittest import SynchronousTestCase

from tests.support import (
    SMALL_GRAPH,
    TOKEN,
    FakeHubProcess,
    expected,
    seed_args,
    snapshot,
    tempdir,
    truth,
    twistd,
    wait_for,
)

USERS = 200


def stored_rows(db: str) -> int:
    try:
        conn = sqlite3.connect(db, timeout=5)
        try:
            return int(conn.execute("SELECT COUNT(*) FROM contributors").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


class CrawlTestCase(SynchronousTestCase):
    hub_args: tuple[str, ...] = ()
    #: Users and seed of the fake graph.
    graph: tuple[int, int] = (USERS, 1)

    def setUp(self) -> None:
        self.dir = tempdir()
        self.db = os.path.join(self.dir, "crawl.sqlite")
        users, seed = self.graph
        self.truth = truth(users, seed=seed)
        self.hub = FakeHubProcess(self.dir, "--users", str(users), "--seed", str(seed), "--token", TOKEN,
                                  *self.hub_args)
        self.addCleanup(self.hub.stop)

    def crawl(self, *extra: str) -> subprocess.Popen[bytes]:
        proc = twistd(self.dir, "--api-url", self.hub.url, "--db", self.db, *seed_args(self.truth), *extra)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        return proc

    def crawl_to_end(self, *extra: str, timeout: float = 90) -> None:
        proc = self.crawl("--once", *extra)
        self.assertEqual(proc.wait(timeout), 0, self.log())

    def log(self) -> str:
        with open(os.path.join(self.dir, "crawl.log"), encoding="utf-8", errors="replace") as f:
            return f.read()[-4000:]

    def assertMatchesTruth(self) -> None:
        got, want = snapshot(self.db), expected(self.truth)
        for table in ("users", "repos", "contributors"):
            missing = sorted(set(want[table]) - set(got[table]))[:5]
            extra = sorted(set(got[table]) - set(want[table]))[:5]
            self.assertEqual((missing, extra), ([], []), f"{table} differs from the ground truth")
            self.assertEqual(len(got[table]), len(want[table]))


class FullCrawlTests(CrawlTestCase):
    def test_crawl_equals_ground_truth(self) -> None:
        """A --once crawl stores exactly the fakehub's ground truth and spends about the minimum."""
        self.crawl_to_end()
        self.assertMatchesTruth()
        stats = self.hub.stats()
        self.assertEqual(stats["violations"], 0)
        self.assertLessEqual(stats["charged"], self.truth["min_requests"] + 2)

    def test_second_run_adds_nothing(self) -> None:
        """Giving the same seeds to a finished database fetches nothing and stores nothing twice."""
        self.crawl_to_end()
        before = self.hub.stats()["requests"]
        self.crawl_to_end()
        self.assertMatchesTruth()
        self.assertLessEqual(self.hub.stats()["requests"] - before, 1)  # the token check only

    def test_token_stays_secret(self) -> None:
        """The token appears in no log line and no database byte."""
        self.crawl_to_end()
        self.assertNotIn(TOKEN, self.log())
        for name in os.listdir(self.dir):
            if name.startswith("crawl.sqlite"):
                with open(os.path.join(self.dir, name), "rb") as f:
                    self.assertNotIn(TOKEN.encode(), f.read())


class ShutdownTests(CrawlTestCase):
    hub_args = ("--latency", "150")
    graph = SMALL_GRAPH  # the slow answers make the crawl after a restart long enough on it

    def test_sigint_exits_zero_within_grace_and_resumes(self) -> None:
        """SIGINT mid-crawl exits 0 within grace + 2 s; a restart completes to the ground truth."""
        proc = self.crawl("--grace", "2")
        wait_for(lambda: stored_rows(self.db) > 50, 60, "rows")
        start = time.monotonic()
        proc.send_signal(signal.SIGINT)
        self.assertEqual(proc.wait(10), 0, self.log())
        self.assertLess(time.monotonic() - start, 2 + 2)
        self.crawl_to_end()
        self.assertMatchesTruth()

    def test_sigterm_cancels_slow_requests(self) -> None:
        """Requests slower than grace are cancelled; their work stays pending for the next run."""
        proc = self.crawl("--grace", "0.5")
        wait_for(lambda: stored_rows(self.db) > 20, 60, "rows")
        start = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(10), 0, self.log())
        self.assertLess(time.monotonic() - start, 0.5 + 2)
        conn = sqlite3.connect(self.db)
        leased = conn.execute("SELECT COUNT(*) FROM tasks WHERE state = 'leased'").fetchone()[0]
        conn.close()
        self.assertEqual(leased, 0)

    def test_second_signal_exits_at_once(self) -> None:
        """A second SIGTERM while draining ends the process immediately."""
        proc = self.crawl("--grace", "30")
        wait_for(lambda: stored_rows(self.db) > 20, 60, "rows")
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        start = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
        self.assertLess(time.monotonic() - start, 3)


class DaemonTests(CrawlTestCase):
    def test_daemon_picks_up_seeds_added_while_running(self) -> None:
        """Without --once the daemon stays up after draining and crawls seeds queued by `ghcrawl seed add`."""
        import sys

        first, *others = self.truth["seeds"]
        proc = twistd(self.dir, "--api-url", self.hub.url, "--db", self.db, "--seed", first, "--log-format", "json",
                      "--progress-interval", "0.5")
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        wait_for(lambda: stored_rows(self.db) > 0, 60, "the first seed's rows")
        time.sleep(1.0)
        self.assertIsNone(proc.poll(), "the daemon exited after draining")
        added = subprocess.run([sys.executable, "-m", "ghcrawl.cli", "seed", "add", *others, "--db", self.db],
                               capture_output=True, text=True, timeout=30)
        self.assertEqual(added.returncode, 0, added.stderr)

        def all_seeds_fetched() -> bool:
            conn = sqlite3.connect(self.db, timeout=5)
            try:
                rows = conn.execute("SELECT COUNT(*) FROM tasks WHERE kind = 'user' AND depth = 0 AND state = 'done'")
                return int(rows.fetchone()[0]) == len(self.truth["seeds"])
            finally:
                conn.close()

        wait_for(all_seeds_fetched, 60, "the added seeds")
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(20), 0)
        import json

        with open(os.path.join(self.dir, "crawl.log"), encoding="utf-8") as f:
            records = [json.loads(line) for line in f if line.strip()]
        self.assertTrue(any(r["namespace"] == "ghcrawl.monitor.Monitor" for r in records))
        self.assertTrue(all({"time", "level", "message"} <= r.keys() for r in records))
