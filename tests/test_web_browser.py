"""The status page in a real headless Chromium: the script runs, fills in the numbers and draws the chart.

Run as a script, this module is the server the test points Chromium at: the status site on
127.0.0.1 with a fake status() and an hour of made-up history, printing its port on stdout.
"""

from __future__ import annotations

import math
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
from typing import Any

from twisted.trial.unittest import SkipTest, SynchronousTestCase

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=8000",
]


def fake_status(now: float) -> dict[str, Any]:
    """A status with numbers distinct enough to find in the rendered page."""
    return {
        "time": now,
        "version": "0.1.0",
        "users": 12345,
        "profiles": 678,
        "repos": 9012,
        "contributors": 34567,
        "frontier": {"pending": 4321, "leased": 9, "done": 20001, "failed": 17},
        "by_depth": [
            {"depth": 0, "kind": "user", "discovered": 4, "done": 4, "failed": 0},
            {"depth": 0, "kind": "repos", "discovered": 4, "done": 4, "failed": 0},
            {"depth": 0, "kind": "contributors", "discovered": 52, "done": 52, "failed": 0},
            {"depth": 1, "kind": "user", "discovered": 1200, "done": 1200, "failed": 3},
            {"depth": 1, "kind": "repos", "discovered": 1200, "done": 1187, "failed": 2},
            {"depth": 1, "kind": "contributors", "discovered": 9012, "done": 5120, "failed": 12},
            {"depth": 2, "kind": "user", "discovered": 30400, "done": 7702, "failed": 0},
        ],
        "requests_total": 51234,
        "requests_per_second": 41.5,
        "in_flight": 7,
        "concurrency": 10,
        "rate_limit": [
            {"budget": "tok-1a2b3c4d", "remaining": 3210, "limit": 5000, "reset_at": now + 1800},
            {"budget": "tok-5e6f7a8b", "remaining": 1000, "limit": 5000, "reset_at": now + 600},
        ],
        "paused_until": 0.0,
        "eta": {"depth": 1, "seconds": 840.0, "remaining_tasks": 3905},
    }


def serve() -> None:
    """Serve the site on 127.0.0.1 until killed, printing the port once it listens."""
    import prometheus_client
    from twisted.internet import reactor

    from ghcrawl.web import Sample, status_site

    async def status() -> dict[str, Any]:
        return fake_status(reactor.seconds())

    web = status_site(status, prometheus_client.CollectorRegistry(), reactor)
    now = reactor.seconds()
    for i in range(360):
        t = now - 3600 + i * 10
        rps = 36 + 8 * math.sin(i / 30) + 1.5 * math.sin(i / 3)
        web.history.add(Sample(t, rps, 9800 - (i * 27) % 7000))
    web.start()
    port = reactor.listenTCP(0, web.site, interface="127.0.0.1")
    print(port.getHost().port, flush=True)
    reactor.run()


class BrowserTests(SynchronousTestCase):
    def setUp(self) -> None:
        chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        if chromium is None:
            raise SkipTest("no chromium binary on PATH (apt-get install -y chromium)")
        self.chromium = chromium
        self.tmp = tempfile.mkdtemp(prefix="ghcrawl-browser-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        server = subprocess.Popen([sys.executable, os.path.abspath(__file__)], stdout=subprocess.PIPE, text=True)
        self.addCleanup(self._end, server)
        ready, _, _ = select.select([server.stdout], [], [], 30)
        if not ready:
            self.fail("the status site did not start within 30 s")
        assert server.stdout is not None
        self.url = f"http://127.0.0.1:{int(server.stdout.readline())}/"

    @staticmethod
    def _end(server: subprocess.Popen[str]) -> None:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
        if server.stdout is not None:
            server.stdout.close()

    def browse(self, *args: str) -> str:
        profile = tempfile.mkdtemp(dir=self.tmp)
        done = subprocess.run(
            [self.chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args, self.url],
            capture_output=True,
            text=True,
            timeout=120,
        )
        self.assertEqual(done.returncode, 0, done.stderr[-2000:])
        return done.stdout

    def text_of(self, dom: str, id: str) -> str:
        found = re.search(rf'id="{id}"[^>]*>([^<]*)<', dom)
        self.assertIsNotNone(found, id)
        assert found is not None
        return found.group(1)

    def test_page_fills_in_the_status(self) -> None:
        """After the page's script ran, the headline cards show the numbers /status answered."""
        dom = self.browse("--dump-dom")
        expected = {
            "users": "12,345",
            "repos": "9,012",
            "contributors": "34,567",
            "pending": "4,321",
            "in-flight": "7",
            "failed": "17",
            "rps": "41.5",
            "remaining": "4,210",
            "eta": "14m 0s",
            "state": "live",
        }
        for id, text in expected.items():
            self.assertEqual(self.text_of(dom, id), text, id)
        self.assertRegex(self.text_of(dom, "reset"), r"^of 10,000 · resets in (10m 0s|9m \d+s)$")

    def test_page_draws_chart_and_depths(self) -> None:
        """The chart has both history lines and the depth table shows done against discovered."""
        dom = self.browse("--dump-dom")
        self.assertIn('id="chart"', dom)
        self.assertRegex(dom, r'<polyline points="[\d., ]{1000,}"[^>]*id="rps-line"')
        self.assertRegex(dom, r'<polyline points="[\d., ]{1000,}"[^>]*id="remaining-line"')
        self.assertIn("5,120 / 9,012 done", dom)
        self.assertIn("7,702 / 30,400 done", dom)
        self.assertIn("Contributor lists", dom)

    def test_screenshot(self) -> None:
        """Chromium renders a screenshot of the page that is a real, non-trivial PNG."""
        png = os.path.join(self.tmp, "page.png")
        self.browse(f"--screenshot={png}", "--window-size=1200,900")
        with open(png, "rb") as f:
            data = f.read()
        self.assertEqual(data[:8], b"\x89PNG\r\n\x1a\n")
        self.assertGreater(len(data), 20_000)
        if os.environ.get("GHCRAWL_KEEP_SCREENSHOT"):
            shutil.copy(png, os.environ["GHCRAWL_KEEP_SCREENSHOT"])


if __name__ == "__main__":
    serve()
