"""Real outages against a real ``twistd -n ghcrawl --once``: waited out, never turned into failed tasks."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import time
import urllib.request

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

USERS, SEED = SMALL_GRAPH
#: Short backoffs keep the test short; the outage still outlasts all of them added together,
#: twice over (0.25 + 0.5 + 1 + 1 = 2.75 s at most before a task would have failed).
CONFIG = "retry_base = 0.25\nretry_max = 1\n"
OUTAGE = 6.0


def count(db: str, sql: str) -> int:
    try:
        conn = sqlite3.connect(db, timeout=5)
        try:
            return int(conn.execute(sql).fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


class OutageCrawlTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.dir = tempdir()
        self.db = os.path.join(self.dir, "crawl.sqlite")
        self.config = os.path.join(self.dir, "ghcrawl.toml")
        with open(self.config, "w") as f:
            f.write(CONFIG)
        self.truth = truth(USERS, seed=SEED)
        self.hub = self.start_hub()

    def start_hub(self, *port: str) -> FakeHubProcess:
        hub = FakeHubProcess(self.dir, "--users", str(USERS), "--seed", str(SEED), "--token", TOKEN, "--latency", "100",
                             *port)
        self.addCleanup(hub.stop)
        return hub

    def crawl(self, api_url: str, *extra: str) -> subprocess.Popen[bytes]:
        proc = twistd(self.dir, "--api-url", api_url, "--db", self.db, "--config", self.config, "--once",
                      "--concurrency", "8", "--outage-probe-max", "2", "--progress-interval", "1",
                      *seed_args(self.truth), *extra)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        return proc

    def log(self) -> str:
        with open(os.path.join(self.dir, "crawl.log"), encoding="utf-8", errors="replace") as f:
            return f.read()

    def admin(self, path: str) -> None:
        urllib.request.urlopen(urllib.request.Request(self.hub.url + path, method="POST"), timeout=10).read()

    def assert_whole(self, proc: subprocess.Popen[bytes]) -> None:
        self.assertEqual(proc.wait(90), 0, self.log()[-4000:])
        self.assertEqual(count(self.db, "SELECT COUNT(*) FROM tasks WHERE state = 'failed'"), 0)
        self.assertEqual(snapshot(self.db), expected(self.truth))
        log = self.log()
        self.assertEqual(len(re.findall(r"API outage started: ", log)), 1, log[-4000:])
        self.assertEqual(len(re.findall(r"API outage over after [0-9.]+s; fetching resumed", log)), 1)
        self.assertIn("outage since ", log)  # the progress line shows it
        self.assertNotIn("tasks failed", log)

    def test_server_gone_then_back_on_the_same_port(self) -> None:
        """The API refusing connections for longer than all retries: exit 0, nothing failed, the truth stored."""
        proc = self.crawl(self.hub.url)
        wait_for(lambda: count(self.db, "SELECT COUNT(*) FROM contributors") > 30, 60, "the crawl to get going")
        port = self.hub.port
        self.hub.proc.send_signal(signal.SIGKILL)
        self.hub.stop()
        time.sleep(OUTAGE)
        self.assertIsNone(proc.poll(), "the crawl gave up during the outage: " + self.log()[-3000:])
        self.assertEqual(count(self.db, "SELECT COUNT(*) FROM tasks WHERE state = 'failed'"), 0)
        self.hub = self.start_hub("--port", str(port))
        self.assert_whole(proc)
        self.assertRegex(self.log(), r"API outage started: connection: .*[Rr]efused")

    def test_everything_answers_503(self) -> None:
        """GitHub answering 503 to everything, /rate_limit included, for a while: waited out the same way."""
        proc = self.crawl(self.hub.url)
        wait_for(lambda: count(self.db, "SELECT COUNT(*) FROM contributors") > 30, 60, "the crawl to get going")
        self.admin(f"/__fakehub/outage?status=503&seconds={OUTAGE}")
        time.sleep(OUTAGE / 2)
        self.assertIsNone(proc.poll())
        self.assertEqual(count(self.db, "SELECT COUNT(*) FROM tasks WHERE state = 'failed'"), 0)
        self.assert_whole(proc)
        self.assertIn("API outage started: HTTP 503", self.log())

    def test_one_broken_url_fails_its_task_and_exits_3(self) -> None:
        """One repository answering 502 while the rest answer 200 spends its attempts: exit 3 and the closing line."""
        broken = next(r for r in self.truth["repos"] if not r["fork"] and r["id"] not in (
            self.truth["edge_cases"]["empty_repo"], self.truth["edge_cases"]["too_large_repo"],
            self.truth["edge_cases"]["dmca_repo"], self.truth["edge_cases"]["renamed_repo"]["id"]))
        self.admin(f"/__fakehub/break?path=/repos/{broken['full_name']}/contributors&status=502")
        proc = self.crawl(self.hub.url, "--max-attempts", "3")
        self.assertEqual(proc.wait(90), 3, self.log()[-4000:])
        closing = ("1 tasks failed (top reason: HTTP 502 Server Error); see 'ghcrawl status', "
                   "re-queue with 'ghcrawl retry-failed'")
        self.assertEqual(self.log().count(closing), 1, self.log()[-3000:])
        self.assertEqual(count(self.db, "SELECT COUNT(*) FROM tasks WHERE state = 'failed'"), 1)
        self.assertNotIn("API outage started", self.log())

    def test_unresolvable_api_host_is_an_outage(self) -> None:
        """A host that does not resolve (no network) is waited out, not failed; SIGTERM still stops cleanly."""
        proc = self.crawl("http://api.ghcrawl-test.invalid")
        wait_for(lambda: "API outage started" in self.log(), 20, "the outage to be noticed")
        time.sleep(4)
        self.assertIsNone(proc.poll(), self.log()[-3000:])
        self.assertIn("DNSLookupError", self.log())
        self.assertEqual(count(self.db, "SELECT COUNT(*) FROM tasks WHERE state = 'failed'"), 0)
        self.assertEqual(count(self.db, "SELECT MAX(attempts) FROM tasks"), 0)
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(20), 0, self.log()[-3000:])
