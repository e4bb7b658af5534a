"""A lean HTTP/1.1 agent beneath treq: persistent connections, one write per request.

Twisted's ``Agent`` serves every use of HTTP: a line-at-a-time parser, a producer
hand-off per body chunk, ``Request`` and ``URI`` objects and a pool reached
through several layers for each request. A crawler that sends body-less GETs to
one origin needs little of that, and it was the largest share of a request's
CPU. treq stays above this agent (headers, gzip, cookies) and Twisted's
endpoints below it (TCP, TLS with hostname checks); in between, a request leaves
in one write and its answer is read in whole network chunks, framed by
Content-Length, chunked encoding or the close of the connection (RFC 9112 §6).

Failures look as they do from Twisted's agent, so callers tell them apart the
same way: connecting fails with the endpoint's own error, a connection lost
before the answer's head with ``ResponseNeverReceived``, one lost inside a body
with ``ResponseFailed``, and a body that ends only with its connection with
``PotentialDataLoss``. Like a pool with ``retryAutomatically`` off, a request on
a kept-alive connection that the server has closed fails rather than being
sent again: a silent retry would spend budget unseen.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any, AnyStr

from attrs import frozen
from twisted.internet.defer import Deferred, DeferredList, fail
from twisted.internet.interfaces import IProtocol, IStreamClientEndpoint
from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.python.failure import Failure
from twisted.web.client import URI, ResponseDone, ResponseFailed, ResponseNeverReceived
from twisted.web.http import PotentialDataLoss
from twisted.web.http_headers import Headers
from twisted.web.iweb import UNKNOWN_LENGTH, IAgent, IAgentEndpointFactory, IBodyProducer, IResponse
from zope.interface import implementer

#: Most bytes of a status line and headers (GitHub's are about 2 KiB), and of a chunk-size line.
MAX_HEAD = 64 * 1024
MAX_CHUNK_LINE = 1024
#: A kept-alive connection idle longer than this is closed rather than reused: servers drop
#: idle connections on their own schedule, and a request sent on one that is closing fails.
IDLE_TIMEOUT = 30.0
#: Bytes a request target may hold: visible ASCII only, so nothing can split the request line.
_TARGET = re.compile(rb"[\x21-\x7e]+")
_STATUS = re.compile(rb"HTTP/1\.([01]) ([1-9][0-9][0-9])(?: (.*))?")
_NO_BODY = (204, 304)

# Parser states of a connection.
_IDLE, _HEAD, _LENGTH, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_END, _TRAILER, _UNTIL_CLOSE = range(8)


class BadAnswer(Exception):
    """The server's bytes are not an HTTP/1.1 answer this agent can frame."""


@implementer(IAgent)
class LeanAgent:
    """Sends body-less requests over kept-alive connections, at most ``max_idle`` idle per origin."""

    def __init__(
        self, reactor: Any, endpoints: IAgentEndpointFactory, max_idle: int = 10,
        idle_timeout: float = IDLE_TIMEOUT,
    ) -> None:
        self._reactor = reactor
        self._endpoints = endpoints
        self._max_idle = max_idle
        self._idle_timeout = idle_timeout
        self._origins: dict[bytes, _Origin] = {}

    def request(
        self, method: bytes, uri: bytes, headers: Headers | None = None, bodyProducer: IBodyProducer | None = None
    ) -> Deferred[IResponse]:
        if bodyProducer is not None:
            return fail(ValueError("this agent sends no request bodies"))
        try:
            origin, target = self._split(uri)
            if not _TARGET.fullmatch(target) or not _TARGET.fullmatch(method):
                raise ValueError(f"not a request line: {method!r} {target!r}")
        except Exception as e:
            return fail(e)
        exchange = _Exchange(method, uri, headers, _request_bytes(method, target, headers, origin.host))
        connection = origin.take(self._reactor.seconds())
        if connection is not None:
            connection.send(exchange)
        else:
            origin.connect(exchange)
        return exchange.deferred

    def _split(self, uri: bytes) -> tuple[_Origin, bytes]:
        """The origin (cached by its prefix) and the request target, without any fragment."""
        start = uri.find(b"://") + 3
        end = len(uri)
        for mark in b"/?#":
            found = uri.find(bytes((mark,)), start)
            if 0 <= found < end:
                end = found
        prefix, target = uri[:end], uri[end:].partition(b"#")[0]
        origin = self._origins.get(prefix)
        if origin is None:
            parsed = URI.fromBytes(prefix + b"/")
            if start < 3 or not parsed.host:
                raise ValueError(f"not an absolute http(s) URL: {uri[:200]!r}")
            endpoint = self._endpoints.endpointForURI(parsed)
            origin = self._origins[prefix] = _Origin(self, endpoint, _host_header(parsed))
        if not target.startswith(b"/"):
            target = b"/" + target
        return origin, target

    def closeCachedConnections(self) -> Deferred[None]:  # noqa: N802 - the name Twisted's pool has
        """Close every idle connection; fires once they are all closed. Busy ones are left alone."""
        closing = [connection.close() for origin in self._origins.values() for connection in origin.idle]
        for origin in self._origins.values():
            origin.idle.clear()
        return DeferredList(closing).addCallback(lambda _: None)


class _Origin:
    """One scheme, host and port: its endpoint and its idle connections, the freshest last."""

    def __init__(self, agent: LeanAgent, endpoint: IStreamClientEndpoint, host: bytes) -> None:
        self.agent = agent
        self.endpoint = endpoint
        self.host = host
        self.idle: list[_Connection] = []

    def take(self, now: float) -> _Connection | None:
        while self.idle:
            connection = self.idle.pop()
            if now - connection.idle_since <= self.agent._idle_timeout:
                return connection
            connection.close()
        return None

    def release(self, connection: _Connection) -> None:
        if len(self.idle) >= self.agent._max_idle:
            connection.close()
            return
        connection.idle_since = self.agent._reactor.seconds()
        self.idle.append(connection)

    def forget(self, connection: _Connection) -> None:
        if connection in self.idle:
            self.idle.remove(connection)

    def connect(self, exchange: _Exchange) -> None:
        connection = _Connection(self)
        connecting: Deferred[Any] = self.endpoint.connect(_OneProtocol(connection))
        exchange.connecting = connecting

        def connected(_: object) -> None:
            exchange.connecting = None
            if exchange.deferred.called:  # cancelled meanwhile: keep the new connection
                self.release(connection)
            else:
                connection.send(exchange)

        def failed(reason: Failure) -> None:
            exchange.connecting = None
            if not exchange.deferred.called:
                exchange.deferred.errback(reason)

        connecting.addCallbacks(connected, failed)


class _OneProtocol(Factory):
    """The factory an endpoint asks for: it hands over the one connection made for a request."""

    noisy = False  # no log line per connection

    def __init__(self, connection: _Connection) -> None:
        self._connection = connection

    def buildProtocol(self, addr: Any) -> _Connection:  # noqa: N802 - Twisted's name
        return self._connection


@frozen
class _Sent:
    """What ``IResponse.request`` describes: the request this answer is for."""

    method: bytes
    absoluteURI: bytes  # noqa: N815 - IClientRequest's name
    headers: Headers | None


class _Exchange:
    """One request: its bytes on the wire and the Deferred its answer fires."""

    __slots__ = ("method", "uri", "headers", "wire", "deferred", "connecting", "connection")

    def __init__(self, method: bytes, uri: bytes, headers: Headers | None, wire: bytes) -> None:
        self.method = method
        self.uri = uri
        self.headers = headers
        self.wire = wire
        self.connecting: Deferred[Any] | None = None
        self.connection: _Connection | None = None
        self.deferred: Deferred[IResponse] = Deferred(self._cancel)

    def _cancel(self, _: Deferred[IResponse]) -> None:
        """Cancelling stops the connecting, or drops the connection the answer was coming on."""
        if self.connecting is not None:
            self.connecting.cancel()
        elif self.connection is not None:
            self.connection.abort()


class _Connection(Protocol):
    """One kept-alive connection: sends a request, frames its answer, then waits for the next."""

    def __init__(self, origin: _Origin) -> None:
        self._origin = origin
        self._state = _IDLE
        self._buffer = b""
        self._exchange: _Exchange | None = None
        self._response: _Response | None = None
        self._left = 0  # bytes of the body, or of the current chunk, still to come
        self._keep = False
        self._lost = False
        self._dead = False  # given up on: never reused, its bytes no longer read
        self._paused = False  # an answer's body arrived before anyone asked to read it
        self._closed: list[Deferred[None]] = []
        self.idle_since = 0.0

    def send(self, exchange: _Exchange) -> None:
        exchange.connection = self
        self._exchange = exchange
        self._state = _HEAD
        self.transport.write(exchange.wire)  # type: ignore[union-attr]

    def abort(self) -> None:
        """Drop the connection now: an answer given up on leaves it in an unknown state."""
        self._dead = True
        self._origin.forget(self)
        if not self._lost:
            self.transport.abortConnection()  # type: ignore[union-attr]

    def close(self) -> Deferred[None]:
        """Close an idle connection; the Deferred fires once it is closed."""
        done: Deferred[None] = Deferred()
        self._dead = True
        if self._lost:
            done.callback(None)
        else:
            self._closed.append(done)
            self.transport.loseConnection()  # type: ignore[union-attr]
        return done

    def dataReceived(self, data: bytes) -> None:  # noqa: N802 - Twisted's name
        if self._buffer:
            data, self._buffer = self._buffer + data, b""
        try:
            self._frame(data)
        except BadAnswer as e:
            self._broken(e)

    def _frame(self, data: bytes) -> None:
        """Feed bytes through the states until they are used up or wait for more."""
        while data and not self._dead:
            state = self._state
            if state == _LENGTH:
                data = self._length_body(data)
            elif state == _HEAD:
                data = self._head(data)
            elif state == _UNTIL_CLOSE:
                self._body(data)
                return
            elif state == _CHUNK_DATA:
                data = self._chunk_data(data)
            elif state == _CHUNK_SIZE or state == _CHUNK_END or state == _TRAILER:
                data = self._chunk_line(data)
            else:  # bytes nobody asked for: the connection cannot be trusted with another request
                raise BadAnswer("bytes received outside an answer")

    def _head(self, data: bytes) -> bytes:
        end = data.find(b"\r\n\r\n")
        if end < 0:
            if len(data) > MAX_HEAD:
                raise BadAnswer(f"answer head over {MAX_HEAD} bytes")
            self._buffer = data
            return b""
        if end > MAX_HEAD:
            raise BadAnswer(f"answer head over {MAX_HEAD} bytes")
        lines = data[:end].split(b"\r\n")
        status = _STATUS.fullmatch(lines[0])
        if status is None:
            raise BadAnswer(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
        code = int(status[2])
        rest = data[end + 4 :]
        if code < 200:
            if code == 101:
                raise BadAnswer("unasked protocol switch")
            return rest  # an interim answer (100 Continue, 103 Early Hints): the real one follows
        raw = _parse_headers(lines)
        exchange = self._exchange
        assert exchange is not None
        length = self._framing(exchange.method, code, raw, status[1] == b"1")
        headers = AnswerHeaders(raw)
        response = self._response = _Response(
            (b"HTTP", 1, int(status[1])), code, status[3] or b"", headers, length,
            _Sent(exchange.method, exchange.uri, exchange.headers), self,
        )
        if self._state == _IDLE:  # no body: done before anyone reads it
            self._finish(rest)
            exchange.deferred.callback(response)
            return b""
        exchange.deferred.callback(response)
        return rest if self._response is response else b""

    def _framing(self, method: bytes, code: int, raw: dict[bytes, list[bytes]], http11: bool) -> Any:
        """Set the body's state from the head (RFC 9112 §6.3); the body's length, if known."""
        tokens = b",".join(raw.get(b"connection", ())).lower()
        self._keep = b"close" not in tokens if http11 else b"keep-alive" in tokens
        if method == b"HEAD" or code in _NO_BODY:
            self._state = _IDLE
            return 0
        coding = raw.get(b"transfer-encoding")
        if coding:
            if b",".join(coding).lower().rsplit(b",", 1)[-1].strip() == b"chunked":
                self._state = _CHUNK_SIZE
            else:
                self._state, self._keep = _UNTIL_CLOSE, False
            return UNKNOWN_LENGTH
        declared = raw.get(b"content-length")
        if declared:
            values = {v.strip() for value in declared for v in value.split(b",")}
            if len(values) != 1 or not next(iter(values)).isdigit():
                raise BadAnswer(f"bad Content-Length: {declared[0][:40]!r}")
            self._left = int(values.pop())
            self._state = _LENGTH if self._left else _IDLE
            return self._left
        self._state, self._keep = _UNTIL_CLOSE, False
        return UNKNOWN_LENGTH

    def _length_body(self, data: bytes) -> bytes:
        left = self._left
        if len(data) < left:
            self._left -= len(data)
            self._body(data)
            return b""
        if len(data) == left:
            self._body(data)
            self._finish(b"")
            return b""
        self._body(data[:left])
        self._finish(data[left:])
        return b""

    def _chunk_data(self, data: bytes) -> bytes:
        left = self._left
        if len(data) <= left:
            self._left -= len(data)
            self._body(data)
            if not self._left:
                self._state = _CHUNK_END
            return b""
        self._body(data[:left])
        self._state = _CHUNK_END
        return data[left:]

    def _chunk_line(self, data: bytes) -> bytes:
        end = data.find(b"\r\n")
        if end < 0:
            if len(data) > MAX_CHUNK_LINE:
                raise BadAnswer("chunk framing line too long")
            self._buffer = data
            return b""
        line, rest = data[:end], data[end + 2 :]
        if self._state == _CHUNK_END:
            if line:
                raise BadAnswer("chunk not followed by CRLF")
            self._state = _CHUNK_SIZE
        elif self._state == _CHUNK_SIZE:
            size = line.partition(b";")[0].strip()
            if not size or len(size) > 16 or size.strip(b"0123456789abcdefABCDEF"):
                raise BadAnswer(f"bad chunk size: {line[:40]!r}")
            self._left = int(size, 16)
            self._state = _CHUNK_DATA if self._left else _TRAILER
        elif not line:  # the empty line that ends the trailers
            self._finish(rest)
            return b""
        return rest

    def _body(self, data: bytes) -> None:
        if self._response is not None:
            self._response._deliver(data)

    def _finish(self, rest: bytes) -> None:
        """The answer is complete: free the connection for the next request, then say so."""
        response = self._response
        self._exchange = self._response = None
        self._state = _IDLE
        if self._lost or self._dead:
            pass
        elif rest or not self._keep:  # bytes past the answer, or the server's wish: not reused
            self._dead = True
            self.transport.loseConnection()  # type: ignore[union-attr]
        else:
            self.resumeProducing()  # the next answer is read whether or not this body was
            self._origin.release(self)
        if response is not None:
            response._end(Failure(ResponseDone()))

    def _broken(self, error: BadAnswer) -> None:
        exchange, response = self._exchange, self._response
        self._exchange = self._response = None
        self._state = _IDLE
        self.abort()
        if response is not None:
            response._end(Failure(ResponseFailed([Failure(error)])))
        elif exchange is not None and not exchange.deferred.called:
            exchange.deferred.errback(ResponseNeverReceived([Failure(error)]))

    def connectionLost(self, reason: Failure = connectionDone) -> None:  # noqa: N802 - Twisted's name
        self._lost = True
        self._origin.forget(self)
        exchange, response, state = self._exchange, self._response, self._state
        self._exchange = self._response = None
        self._state = _IDLE
        if response is not None:
            if state == _UNTIL_CLOSE:
                response._end(Failure(PotentialDataLoss()))
            else:
                response._end(Failure(ResponseFailed([reason])))
        elif exchange is not None and not exchange.deferred.called:
            exchange.deferred.errback(ResponseNeverReceived([reason]))
        closed, self._closed = self._closed, []
        for done in closed:
            done.callback(None)

    # What the body's reader sees as its transport.
    def pauseProducing(self) -> None:  # noqa: N802 - Twisted's name
        if not (self._lost or self._dead or self._paused):
            self._paused = True
            self.transport.pauseProducing()  # type: ignore[union-attr]

    def resumeProducing(self) -> None:  # noqa: N802 - Twisted's name
        if self._paused and not (self._lost or self._dead):
            self._paused = False
            self.transport.resumeProducing()  # type: ignore[union-attr]


@implementer(IResponse)
class _Response:
    """An answer whose body is handed to one protocol, as it arrives or as buffered before."""

    def __init__(
        self, version: tuple[bytes, int, int], code: int, phrase: bytes, headers: Headers, length: Any,
        request: _Sent, connection: _Connection,
    ) -> None:
        self.version = version
        self.code = code
        self.phrase = phrase
        self.headers = headers
        self.length = length
        self.request = request
        self.previousResponse: IResponse | None = None
        self._connection = connection
        self._protocol: IProtocol | None = None
        self._early: list[bytes] = []
        self._ended: Failure | None = None
        self._dropped = False

    def setPreviousResponse(self, response: IResponse) -> None:  # noqa: N802 - IResponse's name
        self.previousResponse = response

    def deliverBody(self, protocol: IProtocol) -> None:  # noqa: N802 - IResponse's name
        if self._protocol is not None:
            raise RuntimeError("the body was already delivered")
        self._protocol = protocol
        protocol.makeConnection(_BodyTransport(self))  # type: ignore[arg-type]
        early, self._early = self._early, []
        for data in early:
            if not self._dropped:
                protocol.dataReceived(data)
        if self._ended is not None:
            protocol.connectionLost(self._ended)
        elif early:
            self._connection.resumeProducing()

    def _deliver(self, data: bytes) -> None:
        if self._protocol is not None:
            if not self._dropped:
                self._protocol.dataReceived(data)
        else:  # nobody reads yet: hold this chunk and read no more from the network
            if not self._early:
                self._connection.pauseProducing()
            self._early.append(data)

    def _end(self, reason: Failure) -> None:
        if self._ended is not None:
            return
        self._ended = reason
        if self._protocol is not None:
            self._protocol.connectionLost(reason)

    def _drop(self) -> None:
        """The reader gave up: the rest of the body is not read, so the connection goes."""
        if self._ended is None and not self._dropped:
            self._dropped = True
            self._connection.abort()


class _BodyTransport:
    """The body reader's transport: it can pause the connection or give up on the body."""

    def __init__(self, response: _Response) -> None:
        self._response = response

    def loseConnection(self) -> None:  # noqa: N802 - Twisted's name
        self._response._drop()

    stopProducing = loseConnection

    def pauseProducing(self) -> None:  # noqa: N802 - Twisted's name
        self._response._connection.pauseProducing()

    def resumeProducing(self) -> None:  # noqa: N802 - Twisted's name
        self._response._connection.resumeProducing()


class AnswerHeaders(Headers):
    """An answer's headers as read: Twisted's ``Headers`` API over names kept lower-case.

    Building a ``Headers`` the usual way canonicalizes every name and rescans every
    value; an answer's ~25 headers are read a few times at most, so they are stored as
    parsed and only the names asked for are lower-cased.
    """

    __slots__ = ("_lower",)

    def __init__(self, lower: dict[bytes, list[bytes]]) -> None:
        super().__init__()
        self._lower = lower

    def __repr__(self) -> str:
        return f"AnswerHeaders({self._lower!r})"

    def copy(self) -> AnswerHeaders:
        return AnswerHeaders({name: list(values) for name, values in self._lower.items()})

    def hasHeader(self, name: AnyStr) -> bool:  # noqa: N802 - Headers' name
        return _key(name) in self._lower

    def removeHeader(self, name: AnyStr) -> None:  # noqa: N802 - Headers' name
        self._lower.pop(_key(name), None)

    def setRawHeaders(self, name: str | bytes, values: Sequence[str | bytes]) -> None:  # noqa: N802
        self._lower[_key(name)] = [_value(v) for v in values]

    def addRawHeader(self, name: str | bytes, value: str | bytes) -> None:  # noqa: N802 - Headers' name
        self._lower.setdefault(_key(name), []).append(_value(value))

    def getRawHeaders(self, name: Any, default: Any = None) -> Any:  # noqa: N802 - Headers' name
        values = self._lower.get(_key(name))
        if not values:
            return default
        return [v.decode("utf8") for v in values] if isinstance(name, str) else values

    def getAllRawHeaders(self) -> Iterator[tuple[bytes, Sequence[bytes]]]:  # noqa: N802 - Headers' name
        return iter(self._lower.items())


def _key(name: str | bytes) -> bytes:
    return (name.encode("iso-8859-1") if isinstance(name, str) else name).lower()


def _value(value: str | bytes) -> bytes:
    """A value as Headers stores it: UTF-8, with no line break left to split a header."""
    raw = value.encode("utf8") if isinstance(value, str) else value
    return b" ".join(raw.splitlines()) if b"\n" in raw or b"\r" in raw else raw


def _parse_headers(lines: list[bytes]) -> dict[bytes, list[bytes]]:
    """Header lines into lower-case names and their values, a folded line joined to the one before."""
    raw: dict[bytes, list[bytes]] = {}
    last: list[bytes] | None = None
    for line in lines[1:]:
        if line[:1] in (b" ", b"\t"):
            if last is None:
                raise BadAnswer("a folded line before any header")
            last[-1] = last[-1] + b" " + line.strip()
            continue
        name, colon, value = line.partition(b":")
        if not colon or not name or name != name.strip():
            raise BadAnswer(f"not a header line: {line[:80]!r}")
        last = raw.setdefault(name.lower(), [])
        last.append(value.strip())
    return raw


_CANONICAL: dict[bytes, bytes] = {}


def _canonical(name: bytes) -> bytes:
    """``user-agent`` as ``User-Agent``: names are case-blind, but servers' logs read better."""
    wire = _CANONICAL.get(name)
    if wire is None:
        if len(_CANONICAL) > 256:
            _CANONICAL.clear()
        wire = _CANONICAL[name] = b"-".join(part.capitalize() for part in name.split(b"-"))
    return wire


def _request_bytes(method: bytes, target: bytes, headers: Headers | None, host: bytes) -> bytes:
    """The request line and headers, in one piece; ``Host`` from the URL unless given."""
    lines = [method, b" ", target, b" HTTP/1.1\r\n"]
    has_host = False
    if headers is not None:
        for name, values in headers.getAllRawHeaders():
            has_host = has_host or name.lower() == b"host"
            wire = _canonical(name)
            for value in values:
                lines += (wire, b": ", value, b"\r\n")
    if not has_host:
        lines += (b"Host: ", host, b"\r\n")
    if method in (b"POST", b"PUT", b"PATCH"):
        lines.append(b"Content-Length: 0\r\n")
    lines.append(b"\r\n")
    return b"".join(lines)


def _host_header(uri: URI) -> bytes:
    """The Host header of an origin: the port only when it is not the scheme's default."""
    host = b"[" + uri.host + b"]" if b":" in uri.host else uri.host
    if (uri.scheme, uri.port) in ((b"http", 80), (b"https", 443)):
        return host
    return host + b":" + str(uri.port).encode()
