"""A hostile server's answers end their own tasks quickly, with their reasons, and memory stays small."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

from twisted.trial.unittest import SynchronousTestCase

from tests.support import ROOT, tempdir, twistd

CAP = 33554432
SEEDS = ["good", "huge", "declared", "bomb", "many", "linky"]


def peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def tasks(db: str) -> list[tuple[str, str, str, int, str | None]]:
    try:
        conn = sqlite3.connect(db)
        try:
            return list(conn.execute("SELECT kind, url, state, attempts, outcome FROM tasks"))
        finally:
            conn.close()
    except sqlite3.Error:
        return []


class HostileAnswerTests(SynchronousTestCase):
    def test_bounded_answers(self) -> None:
        """400 MB, a declared 400 MB, a gzip bomb, 101 items and a 10 KiB Link: each fails once; RSS < 150 MB."""
        workdir = tempdir()
        port_file = os.path.join(workdir, "hostile.port")
        server = subprocess.Popen([sys.executable, "-m", "tests.hostile_api", port_file], cwd=ROOT)
        self.addCleanup(lambda: (server.kill(), server.wait(10)))
        deadline = time.monotonic() + 60
        while not (os.path.exists(port_file) and open(port_file).read().strip()):
            self.assertLess(time.monotonic(), deadline, "the hostile server did not start")
            time.sleep(0.05)
        db = os.path.join(workdir, "crawl.sqlite")
        args = ["--db", db, "--api-url", f"http://127.0.0.1:{open(port_file).read().strip()}",
                "--max-depth", "0", "--max-attempts", "2", *[a for s in SEEDS for a in ("--seed", s)]]
        started = time.monotonic()
        crawl = twistd(workdir, *args)
        self.addCleanup(lambda: crawl.poll() is None and (crawl.kill(), crawl.wait(10)))
        peak = 0.0
        while time.monotonic() - started < 60:
            peak = max(peak, peak_rss_mb(crawl.pid))
            rows = tasks(db)
            if len(rows) == 2 * len(SEEDS) - 3 and all(r[2] in ("done", "failed") for r in rows):
                break
            self.assertIsNone(crawl.poll(), open(os.path.join(workdir, "crawl.log")).read()[-3000:])
            time.sleep(0.1)
        elapsed = time.monotonic() - started
        peak = max(peak, peak_rss_mb(crawl.pid))
        crawl.send_signal(signal.SIGTERM)
        self.assertEqual(crawl.wait(30), 0)
        outcomes = {(kind, url): (state, attempts, outcome) for kind, url, state, attempts, outcome in tasks(db)}
        over = ("failed", 1, f"body over {CAP} bytes")
        self.assertEqual(outcomes[("user", "/users/huge")], over)
        self.assertEqual(outcomes[("user", "/users/declared")], over)
        self.assertEqual(outcomes[("user", "/users/bomb")], over)
        self.assertEqual(outcomes[("repos", "/users/many/repos?per_page=100")],
                         ("failed", 1, "bad API answer: page of 101 items, more than the 100 asked for"))
        self.assertEqual(outcomes[("repos", "/users/linky/repos?per_page=100")],
                         ("failed", 1, "bad API answer: Link header over 8192 bytes"))
        self.assertEqual(outcomes[("user", "/users/good")][0], "done")
        self.assertEqual(outcomes[("repos", "/users/good/repos?per_page=100")][0], "done")
        self.assertLess(elapsed, 30, "the bad answers took too long to end")
        self.assertLess(peak, 150, f"peak RSS {peak:.0f} MB")
        conn = sqlite3.connect(db)
        self.assertEqual(conn.execute("SELECT COUNT(*) FROM repos").fetchone()[0], 0, "a bad page was stored")
        conn.close()
