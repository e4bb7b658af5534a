"""SystemdNotifier against a real AF_UNIX datagram socket, with task.Clock for the watchdog."""

from __future__ import annotations

import os
import socket
import tempfile

from twisted.internet.task import Clock
from twisted.logger import capturedLogs
from twisted.trial.unittest import SynchronousTestCase

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
