"""A running twistd serves /status, /metrics and the page on its status endpoint."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
import urllib.request

from twisted.trial.unittest import SynchronousTestCase

from tests.support import TOKEN, FakeHubProcess, seed_args, tempdir, truth, twistd


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class StatusEndpointTests(SynchronousTestCase):
    def test_status_and_metrics_while_crawling(self) -> None:
        """/status has counts, frontier by depth and an ETA; /metrics has request and frontier series."""
        work = tempdir()
        hub = FakeHubProcess(work, "--users", "60", "--token", TOKEN, "--latency", "40")
        self.addCleanup(hub.stop)
        port = free_port()
        proc = twistd(work, "--api-url", hub.url, "--db", os.path.join(work, "crawl.sqlite"), *seed_args(truth(60)),
                      "--status-endpoint", f"tcp:{port}:interface=127.0.0.1", "--progress-interval", "0.5")
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        base = f"http://127.0.0.1:{port}"
        status: dict = {}  # type: ignore[type-arg]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(base + "/status", timeout=5) as r:
                    status = json.loads(r.read())
                if status.get("requests_total", 0) > 20 and status["by_depth"]:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        self.assertGreater(status.get("requests_total", 0), 20, status)
        self.assertIn("eta", status)
        self.assertEqual(status["by_depth"][0]["depth"], 0)
        self.assertTrue(all(b["budget"].startswith("tok-") for b in status["rate_limit"]))
        time.sleep(0.6)
        with urllib.request.urlopen(base + "/metrics", timeout=5) as r:
            metrics = r.read().decode()
        self.assertIn('ghcrawl_requests_total{endpoint="contributors",status="200"}', metrics)
        self.assertIn("ghcrawl_frontier_tasks{", metrics)
        self.assertIn("ghcrawl_fetch_seconds_bucket", metrics)
        self.assertNotIn(TOKEN, metrics)
        with urllib.request.urlopen(base + "/", timeout=5) as r:
            self.assertIn(b"ghcrawl status", r.read())
        proc.send_signal(signal.SIGINT)
        self.assertEqual(proc.wait(20), 0)
