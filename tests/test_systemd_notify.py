"""A real twistd talks sd_notify to a real datagram socket: READY, STATUS, WATCHDOG, STOPPING."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time

from twisted.trial.unittest import SynchronousTestCase

from tests.support import TOKEN, TWISTD, FakeHubProcess, crawl_env, seed_args, tempdir, truth


class NotifyTests(SynchronousTestCase):
    def test_ready_status_watchdog_stopping(self) -> None:
        """READY=1 with a STATUS= after start, STATUS= progress lines, WATCHDOG=1 pings, STOPPING=1 with status on SIGTERM."""
        work = tempdir()
        hub = FakeHubProcess(work, "--users", "60", "--token", TOKEN, "--latency", "50")
        self.addCleanup(hub.stop)
        path = os.path.join(work, "notify.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        sock.settimeout(0.2)
        self.addCleanup(sock.close)
        env = crawl_env(TOKEN)
        env.update(NOTIFY_SOCKET=path, WATCHDOG_USEC="400000")
        with open(os.path.join(work, "crawl.log"), "wb") as log:
            proc = subprocess.Popen(
                [TWISTD, "--nodaemon", "--pidfile=", "ghcrawl", "--api-url", hub.url, "--db",
                 os.path.join(work, "crawl.sqlite"), "--progress-interval", "0.3", *seed_args(truth(60))],
                cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT,
            )
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        messages: list[str] = []

        def collect(seconds: float) -> None:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                try:
                    messages.append(sock.recv(4096).decode())
                except TimeoutError:
                    pass

        collect(3.0)
        proc.send_signal(signal.SIGTERM)
        collect(1.5)
        self.assertEqual(proc.wait(20), 0)
        collect(0.3)
        ready = [m for m in messages if m.startswith("READY=1")]
        self.assertEqual(len(ready), 1, messages[:5])
        self.assertRegex(ready[0], r"^READY=1\nSTATUS=crawling from .*: \d+ tasks pending", ready[0])
        self.assertTrue(any(m.startswith("STATUS=") and "users" in m for m in messages), messages[:5])
        self.assertGreaterEqual(messages.count("WATCHDOG=1"), 3)
        stopping = [m for m in messages if m.startswith("STOPPING=1")]
        self.assertEqual(len(stopping), 1, messages)
        self.assertIn("EXTEND_TIMEOUT_USEC=", stopping[0])
        self.assertRegex(stopping[0], r"\nSTATUS=stopping: draining \d+ requests")
        self.assertLess(messages.index(ready[0]), messages.index(stopping[0]))

    def test_no_seeds_says_what_it_waits_for(self) -> None:
        """A daemon with no seeds and an empty frontier sends READY=1 with the waiting status and logs it once."""
        work = tempdir()
        hub = FakeHubProcess(work, "--users", "60", "--token", TOKEN)
        self.addCleanup(hub.stop)
        path = os.path.join(work, "notify.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        sock.settimeout(10)
        self.addCleanup(sock.close)
        env = crawl_env(TOKEN)
        env.update(NOTIFY_SOCKET=path)
        db = os.path.join(work, "crawl.sqlite")
        with open(os.path.join(work, "crawl.log"), "wb") as log:
            proc = subprocess.Popen(
                [TWISTD, "--nodaemon", "--pidfile=", "ghcrawl", "--api-url", hub.url, "--db", db,
                 "--progress-interval", "0.2"],
                cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT,
            )
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        first = sock.recv(4096).decode()
        self.assertEqual(first, f"READY=1\nSTATUS=nothing to crawl yet: waiting for 'ghcrawl seed add LOGIN... --db {db}'")
        time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(20), 0)
        with open(os.path.join(work, "crawl.log"), encoding="utf-8") as f:
            self.assertEqual(f.read().count("nothing to crawl yet: waiting for 'ghcrawl seed add"), 1)
