"""systemd: SystemdNotifier over a real AF_UNIX datagram socket (task.Clock for the watchdog), and the unit."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from twisted.internet.task import Clock
from twisted.logger import capturedLogs
from twisted.trial.unittest import SkipTest, SynchronousTestCase

from ghcrawl.notify import SystemdNotifier


class NotifySocketTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.tmp = tempfile.mkdtemp()
        self.addCleanup(os.rmdir, self.tmp)
        self.path = os.path.join(self.tmp, "notify")
        self.receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.receiver.bind(self.path)
        self.receiver.setblocking(False)
        self.addCleanup(os.remove, self.path)
        self.addCleanup(self.receiver.close)
        self.clock = Clock()

    def notifier(self, **env: str) -> SystemdNotifier:
        notifier = SystemdNotifier({"NOTIFY_SOCKET": self.path, **env}, self.clock)
        self.addCleanup(notifier.close)
        return notifier

    def received(self) -> list[str]:
        messages = []
        while True:
            try:
                messages.append(self.receiver.recv(4096).decode("utf-8"))
            except BlockingIOError:
                return messages

    def test_ready(self) -> None:
        """ready() sends exactly READY=1 as one datagram."""
        notifier = self.notifier()
        self.assertTrue(notifier.enabled)
        notifier.ready()
        self.assertEqual(self.received(), ["READY=1"])

    def test_ready_with_status(self) -> None:
        """ready(status) sends READY=1 and a one-line STATUS= in the same datagram."""
        self.notifier().ready("crawling from a\n3 tasks pending")
        self.assertEqual(self.received(), ["READY=1\nSTATUS=crawling from a 3 tasks pending"])

    def test_stopping_with_status(self) -> None:
        """stopping(extend, status) says what the stop is doing along with STOPPING=1."""
        self.notifier().stopping(1, "stopping: draining 4 requests")
        self.assertEqual(self.received(), ["STOPPING=1\nEXTEND_TIMEOUT_USEC=1000000\nSTATUS=stopping: draining 4 requests"])

    def test_status_is_one_line(self) -> None:
        """status() folds a multi-line text into a single STATUS= line."""
        self.notifier().status("crawling\n12 pending")
        self.assertEqual(self.received(), ["STATUS=crawling 12 pending"])

    def test_stopping_extends_timeout(self) -> None:
        """stopping() announces the stop and asks for the extension in microseconds."""
        self.notifier().stopping(12.5)
        self.assertEqual(self.received(), ["STOPPING=1\nEXTEND_TIMEOUT_USEC=12500000"])

    def test_watchdog_pings_every_half_interval(self) -> None:
        """The watchdog pings at once, then every WATCHDOG_USEC/2, until stopped."""
        notifier = self.notifier(WATCHDOG_USEC="20000000")
        self.assertTrue(notifier.start_watchdog())
        self.assertEqual(self.received(), ["WATCHDOG=1"])
        self.clock.advance(9.9)
        self.assertEqual(self.received(), [])
        self.clock.advance(0.1)
        self.assertEqual(self.received(), ["WATCHDOG=1"])
        notifier.stop_watchdog()
        self.clock.advance(60)
        self.assertEqual(self.received(), [])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_watchdog_for_this_pid(self) -> None:
        """A WATCHDOG_PID naming this process starts the watchdog."""
        notifier = self.notifier(WATCHDOG_USEC="1000000", WATCHDOG_PID=str(os.getpid()))
        self.assertTrue(notifier.start_watchdog())
        self.assertEqual(self.received(), ["WATCHDOG=1"])

    def test_watchdog_for_another_pid(self) -> None:
        """A WATCHDOG_PID naming another process leaves the watchdog off."""
        notifier = self.notifier(WATCHDOG_USEC="1000000", WATCHDOG_PID=str(os.getpid() + 1))
        self.assertFalse(notifier.start_watchdog())
        self.clock.advance(10)
        self.assertEqual(self.received(), [])

    def test_no_watchdog_without_usec(self) -> None:
        """Without WATCHDOG_USEC (or with a bad one) nothing is scheduled."""
        self.assertFalse(self.notifier().start_watchdog())
        self.assertFalse(self.notifier(WATCHDOG_USEC="soon").start_watchdog())
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_watchdog_survives_send_failures(self) -> None:
        """A vanished socket neither raises nor stops the watchdog, and warns only once."""
        notifier = self.notifier(WATCHDOG_USEC="2000000", NOTIFY_SOCKET=os.path.join(self.tmp, "gone"))
        with capturedLogs() as events:
            self.assertTrue(notifier.start_watchdog())
            self.clock.advance(1)
            self.clock.advance(1)
            notifier.ready()
        warnings = [e for e in events if e["log_level"].name == "warn"]
        self.assertEqual(len(warnings), 1)
        self.assertIn("cannot notify systemd", warnings[0]["log_format"])
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)


class AbstractAndDisabledTests(SynchronousTestCase):
    def test_abstract_socket(self) -> None:
        """A NOTIFY_SOCKET starting with @ reaches the abstract-namespace socket of that name."""
        name = f"ghcrawl-test-{os.getpid()}-{id(self)}"
        receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(receiver.close)
        receiver.bind("\0" + name)
        receiver.settimeout(5)
        notifier = SystemdNotifier({"NOTIFY_SOCKET": "@" + name}, Clock())
        self.addCleanup(notifier.close)
        notifier.ready()
        self.assertEqual(receiver.recv(4096), b"READY=1")

    def test_disabled_without_notify_socket(self) -> None:
        """Without NOTIFY_SOCKET every call is a silent no-op."""
        clock = Clock()
        notifier = SystemdNotifier({"WATCHDOG_USEC": "1000000"}, clock)
        self.assertFalse(notifier.enabled)
        notifier.ready()
        notifier.status("x")
        notifier.stopping(5)
        self.assertFalse(notifier.start_watchdog())
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_relative_path_is_not_a_socket(self) -> None:
        """A NOTIFY_SOCKET that is neither absolute nor abstract disables notifications."""
        self.assertFalse(SystemdNotifier({"NOTIFY_SOCKET": "notify"}, Clock()).enabled)

    def test_missing_socket_does_not_raise(self) -> None:
        """Sending to a socket path that does not exist returns False instead of raising."""
        notifier = SystemdNotifier({"NOTIFY_SOCKET": "/nonexistent/ghcrawl/notify"}, Clock())
        self.addCleanup(notifier.close)
        with capturedLogs():
            self.assertFalse(notifier.send("READY=1"))


UNIT = Path(__file__).parent.parent / "etc" / "ghcrawl.service"
MAX_EXPOSURE = 2.0

# Under the kernel's W^X (PR_SET_MDWE, Linux 6.3+), build the TLS connection treq would use.
_TLS_UNDER_WX = """
import ctypes, sys
if ctypes.CDLL(None, use_errno=True).prctl(65, 1, 0, 0, 0) != 0:
    sys.exit(3)
from twisted.internet.protocol import Protocol
from twisted.internet.ssl import optionsForClientTLS
try:
    optionsForClientTLS("api.github.com").clientConnectionForTLS(Protocol())
except MemoryError:
    sys.exit(1)
"""


def _unit_with_existing_binary(folder: str) -> str:
    """Copy the unit, pointing ExecStart at this environment's twistd (verify wants it to exist)."""
    twistd = os.path.join(os.path.dirname(sys.executable), "twistd")
    if not os.access(twistd, os.X_OK):
        twistd = shutil.which("twistd") or sys.executable
    text = UNIT.read_text().replace("/opt/ghcrawl/venv/bin/twistd", twistd)
    path = os.path.join(folder, "ghcrawl.service")
    Path(path).write_text(text)
    return path


class UnitFileTests(SynchronousTestCase):
    def setUp(self) -> None:
        if shutil.which("systemd-analyze") is None:
            raise SkipTest("systemd-analyze is not installed")
        self.tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.tmp)

    def test_verify(self) -> None:
        """systemd-analyze verify accepts the unit without a warning."""
        result = subprocess.run(["systemd-analyze", "verify", _unit_with_existing_binary(self.tmp)],
                                capture_output=True, text=True, timeout=60)
        self.assertEqual((result.returncode, result.stderr), (0, ""))

    def test_security_exposure(self) -> None:
        """systemd-analyze security rates the unit's exposure at most MAX_EXPOSURE."""
        result = subprocess.run(
            ["systemd-analyze", "security", "--offline=yes", "--no-pager", _unit_with_existing_binary(self.tmp)],
            capture_output=True, text=True, timeout=60)
        match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
        self.assertIsNotNone(match, result.stdout + result.stderr)
        assert match is not None
        self.assertLessEqual(float(match.group(1)), MAX_EXPOSURE)

    def test_unit_settings(self) -> None:
        """The unit keeps the settings the daemon relies on (notify, watchdog, credential, state)."""
        text = UNIT.read_text()
        for line in ("Type=notify", "NotifyAccess=main", "WatchdogSec=60", "TimeoutStopSec=60",
                     "LoadCredential=github-token:/etc/ghcrawl/github-token", "StateDirectory=ghcrawl",
                     "WorkingDirectory=/var/lib/ghcrawl", "DynamicUser=yes"):
            self.assertIn("\n" + line + "\n", text)


class WriteExecuteTests(SynchronousTestCase):
    def test_unit_allows_what_tls_needs(self) -> None:
        """MemoryDenyWriteExecute=yes is set only if Twisted's TLS still works under W^X."""
        result = subprocess.run([sys.executable, "-c", _TLS_UNDER_WX], capture_output=True, timeout=60)
        if result.returncode == 3:
            raise SkipTest("this kernel has no PR_SET_MDWE")
        self.assertIn(result.returncode, (0, 1), result.stderr)
        denies = "\nMemoryDenyWriteExecute=yes\n" in UNIT.read_text()
        self.assertFalse(denies and result.returncode == 1, "W^X would break every HTTPS request")
