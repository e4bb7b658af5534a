"""Checks that need more than the config's own values, run before anything is created.

The status endpoint is parsed and bound, and the CA bundle loaded, while the
options are read: a typo or a taken port is one line and exit 2, never a
database created and a daemon that dies a moment later.
"""

from __future__ import annotations

from typing import Any

from attrs import define
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import (
    IAddress,
    IListeningPort,
    ILoggingContext,
    IProtocol,
    IProtocolFactory,
    IStreamServerEndpoint,
)
from twisted.python.failure import Failure
from zope.interface import implementer

from ghcrawl.errors import ConfigError

_PEM_CERTIFICATE = b"-----BEGIN CERTIFICATE-----"


def status_endpoint(reactor: Any, description: str) -> IStreamServerEndpoint:
    """Parse ``description`` into an endpoint without listening on it."""
    try:
        endpoint = serverFromString(reactor, description)
    except (ValueError, TypeError, KeyError, OSError) as e:
        raise ConfigError(f"status_endpoint {description!r} is not a valid endpoint: {e}") from None
    # Twisted checks a TCP port's range only when binding; say it now, in the same words.
    port = getattr(endpoint, "_port", None)
    if isinstance(port, int) and not 0 <= port <= 65535:
        raise ConfigError(f"status_endpoint {description!r} is not a valid endpoint: port {port} is not 0-65535")
    return endpoint


@implementer(IProtocolFactory, ILoggingContext)
class _Deferring:
    """Refuses connections until the status site exists, then hands each one to it."""

    def __init__(self) -> None:
        self.target: IProtocolFactory | None = None

    def buildProtocol(self, addr: IAddress) -> IProtocol | None:
        return self.target.buildProtocol(addr) if self.target is not None else None

    def logPrefix(self) -> str:
        """What the port's "starting on" and "closed" lines call it."""
        return "status page"

    def doStart(self) -> None:
        """The port started listening; the site starts when it is handed over."""

    def doStop(self) -> None:
        if self.target is not None:
            self.target.doStop()


@define
class StatusListener:
    """The status endpoint, already bound; the monitor gives it the site to serve."""

    description: str
    listening: Deferred[IListeningPort]
    _factory: _Deferring

    async def serve(self, factory: IProtocolFactory) -> IListeningPort:
        """Serve ``factory`` from now on; returns the port, to stop listening with."""
        factory.doStart()
        self._factory.target = factory
        return await self.listening


def listen_status(reactor: Any, description: str) -> StatusListener:
    """Bind the status endpoint now, so a taken port is found before the database is made."""
    endpoint = status_endpoint(reactor, description)
    factory = _Deferring()
    listening = endpoint.listen(factory)
    failed: list[Failure] = []

    def note(failure: Failure) -> Failure:
        failed.append(failure)
        return failure

    # TCP, UNIX and systemd endpoints bind synchronously; others are awaited when served.
    listening.addErrback(note)
    if failed:
        listening.addErrback(lambda _: None)  # reported here, once
        raise ConfigError(f"cannot listen on status_endpoint {description!r}: {failed[0].value}")
    return StatusListener(description, listening, factory)


def check_ca_file(path: str) -> None:
    """Load the CA bundle now: a file with no certificate would fail every TLS handshake later."""
    from OpenSSL.crypto import Error as CryptoError
    from twisted.internet.ssl import Certificate

    try:
        with open(path, "rb") as f:
            pem = f.read()
    except OSError as e:
        raise ConfigError(f"ca_file {path} is not a readable file ({e.strerror})") from None
    blocks = [_PEM_CERTIFICATE + part for part in pem.split(_PEM_CERTIFICATE)[1:]]
    if not blocks:
        raise ConfigError(f"ca_file {path} holds no PEM certificate")
    for number, block in enumerate(blocks, 1):
        try:
            Certificate.loadPEM(block)
        except (CryptoError, ValueError) as e:
            raise ConfigError(f"ca_file {path} is not a valid PEM bundle: certificate {number}: {_first(e)}") from None


def _first(error: Exception) -> str:
    """OpenSSL errors are lists of tuples; keep the first reason."""
    args = error.args[0] if error.args else None
    if isinstance(args, list) and args and isinstance(args[0], tuple):
        return str(args[0][-1])
    return str(error)[:120] or type(error).__name__
