"""The HTTP/1.1 server the fakehub runs under: twisted.web's, minus per-request costs it can skip.

Benchmarks share the machine's cores between the fakehub and the client they
measure, so each microsecond the server spends per request is taken from the client.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.interfaces import ISSLTransport
from twisted.web.http import HTTPChannel
from twisted.web.server import Site


class _Channel(HTTPChannel):
    """A connection that learns its own address and whether it is TLS once, not per request.

    twisted.web asks the socket for its address (a ``getsockname`` call) each time it
    builds a Request, and the hub asks whether the transport is TLS for every URL it renders.
    Both are fixed for the life of a connection.
    """

    _host: Any = None
    _secure: bool | None = None

    def getHost(self) -> Any:
        if self._host is None:
            self._host = super().getHost()
        return self._host

    def isSecure(self) -> bool:
        if self._secure is None:
            self._secure = ISSLTransport(self.transport, None) is not None
        return self._secure


class QuietSite(Site):
    """A Site without access logs, which would otherwise cap throughput, over lean channels.

    Its protocol is the HTTP/1.1 channel itself rather than twisted.web's wrapper that
    would switch to HTTP/2 after ALPN, which the fakehub never offers.
    """

    protocol = _Channel  # type: ignore[assignment]

    def log(self, request: Any) -> None:
        pass
