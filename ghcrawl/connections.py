"""Where the HTTP agent's connections come from: one endpoint per origin, built once.

Twisted's ``Agent`` asks its endpoint factory for an endpoint on every request,
even when the pool then hands it a kept-alive connection, and the standard factory
builds a new ``HostnameEndpoint`` each time (an IDNA encoding of the host per
request). A crawl talks to one origin, so its endpoint is built once and reused.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.endpoints import HostnameEndpoint, wrapClientTLS
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.web.client import URI
from twisted.web.error import SchemeNotSupported
from twisted.web.iweb import IAgentEndpointFactory, IPolicyForHTTPS
from zope.interface import implementer


@implementer(IAgentEndpointFactory)
class OriginEndpoints:
    """Endpoints for ``http`` and ``https`` origins, cached by scheme, host and port."""

    def __init__(self, reactor: Any, tls: IPolicyForHTTPS, connect_timeout: float) -> None:
        self._reactor = reactor
        self._tls = tls
        self._timeout = connect_timeout
        self._cache: dict[tuple[bytes, bytes, int], IStreamClientEndpoint] = {}

    def endpointForURI(self, uri: URI) -> IStreamClientEndpoint:  # Twisted names it
        key = (uri.scheme, uri.host, uri.port)
        endpoint = self._cache.get(key)
        if endpoint is None:
            endpoint = self._cache[key] = self._build(uri)
        return endpoint

    def _build(self, uri: URI) -> IStreamClientEndpoint:
        if uri.scheme not in (b"http", b"https"):
            raise SchemeNotSupported(f"unsupported scheme: {uri.scheme!r}")
        plain = HostnameEndpoint(self._reactor, uri.host.decode("ascii"), uri.port, timeout=self._timeout)
        if uri.scheme == b"http":
            return plain
        return wrapClientTLS(self._tls.creatorForNetloc(uri.host, uri.port), plain)
