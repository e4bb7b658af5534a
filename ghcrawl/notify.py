"""systemd's notify protocol in a few lines: readiness, status, stopping, watchdog.

A datagram per message to the socket named by ``NOTIFY_SOCKET`` (a path, or an
abstract name written with a leading ``@``), so no libsystemd binding is needed.
Sending never raises and never blocks the reactor: a lost notification is logged
once, and the service carries on (systemd's own timeouts are the backstop).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

from attrs import define, field
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure


def _socket_address(value: str | None) -> str | None:
    """The socket address NOTIFY_SOCKET names, or None if it names none we can use."""
    if not value:
        return None
    if value.startswith("@"):
        return "\0" + value[1:]
    return value if value.startswith("/") else None


def _watchdog_interval(env: Mapping[str, str], pid: int) -> float | None:
    """Half of WATCHDOG_USEC in seconds, if the watchdog is on and meant for this process."""
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
        owner = int(env["WATCHDOG_PID"]) if env.get("WATCHDOG_PID") else pid
    except ValueError:
        return None
    if usec <= 0 or owner != pid:
        return None
    return usec / 2 / 1_000_000


@define
class SystemdNotifier:
    """Tells systemd how the service is doing; every method is a no-op when not under systemd."""

    env: Mapping[str, str]
    clock: IReactorTime
    pid: int = field(factory=os.getpid)
    _address: str | None = field(init=False)
    _socket: socket.socket | None = field(init=False, default=None)
    _watchdog: LoopingCall | None = field(init=False, default=None)
    _warned: bool = field(init=False, default=False)
    _log = Logger()

    def __attrs_post_init__(self) -> None:
        self._address = _socket_address(self.env.get("NOTIFY_SOCKET"))

    @property
    def enabled(self) -> bool:
        """Whether systemd asked for notifications (NOTIFY_SOCKET names a usable socket)."""
        return self._address is not None

    def ready(self, status: str | None = None) -> None:
        """Startup is over: systemd marks the unit active and starts its dependents; say what is crawled."""
        self.send("READY=1" + ("\nSTATUS=" + " ".join(status.splitlines()) if status else ""))

    def status(self, text: str) -> None:
        """Show one line of progress in ``systemctl status``."""
        self.send("STATUS=" + " ".join(text.splitlines()))

    def stopping(self, extend_seconds: float, status: str | None = None) -> None:
        """Shutdown has begun; ask for ``extend_seconds`` more before systemd kills us."""
        usec = max(0, int(extend_seconds * 1_000_000))
        shown = "\nSTATUS=" + " ".join(status.splitlines()) if status else ""
        self.send(f"STOPPING=1\nEXTEND_TIMEOUT_USEC={usec}{shown}")

    def start_watchdog(self) -> bool:
        """Ping the watchdog every WATCHDOG_USEC/2 if systemd set one for us; tell whether it runs."""
        interval = _watchdog_interval(self.env, self.pid)
        if not self.enabled or interval is None or self._watchdog is not None:
            return False
        self._watchdog = LoopingCall(self.send, "WATCHDOG=1")
        self._watchdog.clock = self.clock
        self._watchdog.start(interval, now=True).addErrback(self._watchdog_died)
        return True

    def stop_watchdog(self) -> None:
        """Stop pinging (at shutdown, so a hang there is the stop timeout's business)."""
        if self._watchdog is not None and self._watchdog.running:
            self._watchdog.stop()
        self._watchdog = None

    def close(self) -> None:
        """Stop the watchdog and close the socket."""
        self.stop_watchdog()
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def send(self, message: str) -> bool:
        """Send one raw notification; returns whether it went out, never raises."""
        if self._address is None:
            return False
        try:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                self._socket.setblocking(False)
            self._socket.sendto(message.encode("utf-8"), self._address)
        except OSError as e:
            if not self._warned:
                self._warned = True
                self._log.warn("cannot notify systemd at {address}: {error}",
                               address=self.env.get("NOTIFY_SOCKET"), error=e)
            return False
        return True

    def _watchdog_died(self, failure: Failure) -> None:
        self._log.failure("watchdog pings stopped", failure)
