"""The lean HTTP/1.1 agent: framing byte by byte over a memory transport, then real sockets on 127.0.0.1."""

from __future__ import annotations

from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import CancelledError, Deferred, succeed
from twisted.internet.error import ConnectError, ConnectionDone, ConnectionLost
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.client import ResponseDone, ResponseFailed, ResponseNeverReceived
from twisted.web.http import PotentialDataLoss
from twisted.web.http_headers import Headers
from twisted.web.iweb import UNKNOWN_LENGTH

from ghcrawl.agent import MAX_HEAD, AnswerHeaders, BadAnswer, LeanAgent
from ghcrawl.bounds import read_body
from ghcrawl.connections import OriginEndpoints
from ghcrawl.errors import FetchError
from ghcrawl.github import tls_policy

URL = b"http://api.test/users/octocat?per_page=100"


class Collect(Protocol):
    """A body reader that keeps every chunk and the reason the body ended."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.reason: Failure | None = None

    def dataReceived(self, data: bytes) -> None:  # noqa: N802 - Twisted's name
        self.chunks.append(data)

    def connectionLost(self, reason: Failure = Failure(ConnectionDone())) -> None:  # noqa: N802, B008
        self.reason = reason


class MemoryEndpoints:
    """Endpoints whose connections are StringTransports the test writes answers into."""

    def __init__(self) -> None:
        self.transports: list[StringTransport] = []
        self.protocols: list[Any] = []

    def endpointForURI(self, uri: Any) -> MemoryEndpoints:  # noqa: N802 - Twisted's name
        return self

    def connect(self, factory: Any) -> Deferred[Any]:
        protocol = factory.buildProtocol(None)
        transport = StringTransport()
        protocol.makeConnection(transport)
        self.transports.append(transport)
        self.protocols.append(protocol)
        return succeed(protocol)


class FramingTests(SynchronousTestCase):
    """Answers fed in every split, as a network may cut them."""

    def setUp(self) -> None:
        self.endpoints = MemoryEndpoints()
        self.agent = LeanAgent(reactor, self.endpoints, max_idle=4)

    def ask(self, headers: Headers | None = None, method: bytes = b"GET") -> tuple[Any, list[Any]]:
        answers: list[Any] = []
        d = self.agent.request(method, URL, headers)
        d.addBoth(answers.append)
        return self.endpoints.protocols[-1], answers

    def body(self, response: Any) -> Collect:
        reader = Collect()
        response.deliverBody(reader)
        return reader

    def feed(self, protocol: Any, data: bytes, step: int) -> None:
        for i in range(0, len(data), step):
            protocol.dataReceived(data[i : i + step])

    def test_request_in_one_write(self) -> None:
        """Request line, the caller's headers in canonical case, one Host: all in one write."""
        headers = Headers({b"user-agent": [b"ghcrawl/1"], b"Host": [b"api.test"]})
        self.ask(headers)
        written = self.endpoints.transports[0].value()
        self.assertEqual(written.count(b"\r\n\r\n"), 1)
        lines = written.split(b"\r\n")
        self.assertEqual(lines[0], b"GET /users/octocat?per_page=100 HTTP/1.1")
        self.assertIn(b"User-Agent: ghcrawl/1", lines)
        self.assertEqual([line for line in lines if line.lower().startswith(b"host:")], [b"Host: api.test"])

    def test_host_from_url_and_empty_post(self) -> None:
        """Without a Host header the URL's is sent, its port only when not the default; POST says length 0."""
        self.agent.request(b"POST", b"http://api.test:8080/app/installations/1/access_tokens#x")
        written = self.endpoints.transports[0].value()
        self.assertTrue(written.startswith(b"POST /app/installations/1/access_tokens HTTP/1.1\r\n"))
        self.assertIn(b"Host: api.test:8080\r\n", written)
        self.assertIn(b"Content-Length: 0\r\n", written)

    def test_refuses_what_would_split_the_request_line(self) -> None:
        for uri in (b"http://api.test/a b", b"http://api.test/a\r\nX: y", b"/relative"):
            failures: list[Failure] = []
            self.agent.request(b"GET", uri).addErrback(failures.append)
            self.assertEqual(len(failures), 1, uri)
            self.assertTrue(failures[0].check(ValueError), uri)
        self.assertEqual(self.endpoints.transports, [])

    def test_content_length_in_every_split(self) -> None:
        """Head and body cut anywhere: the same answer, then the connection is reused."""
        answer = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n"
                  b"Link: <http://api.test/x?page=2>; rel=\"next\"\r\nX-Folded: a\r\n b\r\n\r\n[1,2,3,4,5]")
        for step in (1, 2, 7, len(answer)):
            protocol, answers = self.ask()
            self.feed(protocol, answer, step)
            response = answers[0]
            self.assertEqual((response.code, response.phrase, response.length), (200, b"OK", 11))
            self.assertEqual(response.headers.getRawHeaders("link"), ['<http://api.test/x?page=2>; rel="next"'])
            self.assertEqual(response.headers.getRawHeaders(b"X-FOLDED"), [b"a b"])
            reader = self.body(response)
            self.assertEqual(b"".join(reader.chunks), b"[1,2,3,4,5]")
            assert reader.reason is not None
            self.assertTrue(reader.reason.check(ResponseDone))
        self.assertEqual(len(self.endpoints.transports), 1)  # one connection for all four

    def test_chunked_with_extensions_and_trailers(self) -> None:
        answer = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"5;name=value\r\nhello\r\n1\r\n \r\nB\r\nworld, good\r\n0\r\nX-Trailer: t\r\n\r\n")
        for step in (1, 3, len(answer)):
            protocol, answers = self.ask()
            self.feed(protocol, answer, step)
            self.assertIs(answers[0].length, UNKNOWN_LENGTH)
            reader = self.body(answers[0])
            self.assertEqual(b"".join(reader.chunks), b"hello world, good")
            assert reader.reason is not None
            self.assertTrue(reader.reason.check(ResponseDone))
        self.assertEqual(len(self.endpoints.transports), 1)

    def test_body_until_close(self) -> None:
        """No length, no chunking: the body ends with the connection, which is never reused."""
        protocol, answers = self.ask()
        protocol.dataReceived(b"HTTP/1.1 200 OK\r\n\r\npart one, ")
        reader = self.body(answers[0])
        protocol.dataReceived(b"part two")
        self.assertIsNone(reader.reason)
        protocol.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(b"".join(reader.chunks), b"part one, part two")
        assert reader.reason is not None
        self.assertTrue(reader.reason.check(PotentialDataLoss))
        self.ask()
        self.assertEqual(len(self.endpoints.transports), 2)

    def test_no_body_answers_reuse_the_connection(self) -> None:
        for answer in (b"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n", b"HTTP/1.1 204 No Content\r\n\r\n",
                       b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"):
            protocol, answers = self.ask()
            protocol.dataReceived(answer)
            reader = self.body(answers[0])
            self.assertEqual(reader.chunks, [])
            assert reader.reason is not None
            self.assertTrue(reader.reason.check(ResponseDone))
        self.assertEqual(len(self.endpoints.transports), 1)

    def test_connection_close_and_http10_are_not_reused(self) -> None:
        for answer in (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n[]",
                       b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n[]",
                       b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]extra"):
            before = len(self.endpoints.transports)
            protocol, answers = self.ask()
            self.assertEqual(len(self.endpoints.transports), before + 1)
            protocol.dataReceived(answer)
            self.assertEqual(b"".join(self.body(answers[0]).chunks), b"[]")
            self.assertTrue(self.endpoints.transports[-1].disconnecting)

    def test_cut_body_fails_the_reader(self) -> None:
        protocol, answers = self.ask()
        protocol.dataReceived(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n[1,")
        reader = self.body(answers[0])
        protocol.connectionLost(Failure(ConnectionLost()))
        assert reader.reason is not None
        self.assertTrue(reader.reason.check(ResponseFailed))

    def test_lost_before_the_head(self) -> None:
        """A closed kept-alive connection fails the request (never silently re-sent)."""
        protocol, answers = self.ask()
        protocol.dataReceived(b"HTTP/1.1 2")
        protocol.connectionLost(Failure(ConnectionDone()))
        self.assertIsInstance(answers[0], Failure)
        self.assertTrue(answers[0].check(ResponseNeverReceived))
        self.assertEqual(len(self.endpoints.transports), 1)

    def test_malformed_answers(self) -> None:
        """Each is refused with the reason, the connection dropped; nothing reaches a reader."""
        bad = {
            b"HTTP/2 200 OK\r\n\r\n": "status line",
            b"HTTP/1.1 20 OK\r\n\r\n": "status line",
            b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n": "header line",
            b"HTTP/1.1 200 OK\r\n folded first\r\n\r\n": "folded",
            b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n": "Content-Length",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n": "Content-Length",
            b"HTTP/1.1 101 Switching\r\n\r\n": "switch",
            b"HTTP/1.1 200 OK\r\nX: " + b"x" * MAX_HEAD + b"\r\n\r\n": "head over",
        }
        for answer, why in bad.items():
            protocol, answers = self.ask()
            protocol.dataReceived(answer)
            failure = answers[0]
            self.assertIsInstance(failure, Failure, answer[:40])
            self.assertTrue(failure.check(ResponseNeverReceived))
            self.assertIsInstance(failure.value.reasons[0].value, BadAnswer)
            self.assertIn(why, str(failure.value.reasons[0].value))
            self.assertTrue(self.endpoints.transports[-1].disconnecting)

    def test_bad_chunking_fails_the_reader(self) -> None:
        for body in (b"zz\r\n", b"2\r\nabX\r\n", b"1" * (MAX_HEAD + 1)):
            protocol, answers = self.ask()
            protocol.dataReceived(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            reader = self.body(answers[0])
            protocol.dataReceived(body)
            assert reader.reason is not None, body[:20]
            self.assertTrue(reader.reason.check(ResponseFailed))
            self.assertTrue(self.endpoints.transports[-1].disconnecting)

    def test_unasked_bytes_drop_an_idle_connection(self) -> None:
        protocol, answers = self.ask()
        protocol.dataReceived(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        protocol.dataReceived(b"HTTP/1.1 200 OK\r\n")
        self.ask()
        self.assertEqual(len(self.endpoints.transports), 2)

    def test_body_held_until_read(self) -> None:
        """Bytes before deliverBody are kept and the transport paused, then handed over in order."""
        protocol, answers = self.ask()
        protocol.dataReceived(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nabc")
        self.assertEqual(self.endpoints.transports[0].producerState, "paused")
        protocol.dataReceived(b"def")
        reader = self.body(answers[0])
        self.assertEqual(b"".join(reader.chunks), b"abcdef")
        assert reader.reason is not None
        self.assertTrue(reader.reason.check(ResponseDone))

    def test_body_complete_before_read(self) -> None:
        """A whole body held for its reader does not keep the connection paused for the next answer."""
        protocol, answers = self.ask()
        protocol.dataReceived(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc")
        self.assertEqual(self.endpoints.transports[0].producerState, "producing")
        protocol, later = self.ask()
        self.assertEqual(len(self.endpoints.transports), 1)
        protocol.dataReceived(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ndef")
        self.assertEqual(b"".join(self.body(later[0]).chunks), b"def")
        self.assertEqual(b"".join(self.body(answers[0]).chunks), b"abc")

    def test_reader_giving_up_drops_the_connection(self) -> None:
        """A body over the cap: the reader closes, the rest is not read, the connection is not reused."""
        protocol, answers = self.ask()
        protocol.dataReceived(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b" " * 40)
        failures: list[Failure] = []
        read_body(answers[0], 16).addErrback(failures.append)
        self.assertTrue(failures[0].check(FetchError))
        self.assertTrue(self.endpoints.transports[0].disconnecting)
        self.ask()
        self.assertEqual(len(self.endpoints.transports), 2)

    def test_cancel_drops_the_connection(self) -> None:
        d = self.agent.request(b"GET", URL)
        failures: list[Failure] = []
        d.addErrback(failures.append)
        d.cancel()
        self.assertTrue(failures[0].check(CancelledError))
        self.assertTrue(self.endpoints.transports[0].disconnecting)
        self.endpoints.protocols[0].connectionLost(Failure(ConnectionDone()))
        self.assertEqual(len(failures), 1)

    def test_idle_limits(self) -> None:
        """At most max_idle idle connections are kept; one idle too long is closed, not reused."""
        agent = LeanAgent(reactor, self.endpoints, max_idle=1, idle_timeout=0.0)
        answers: list[Any] = []
        for _ in range(2):
            agent.request(b"GET", URL).addCallback(answers.append)
        for protocol in self.endpoints.protocols:
            protocol.dataReceived(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        self.assertEqual([t.disconnecting for t in self.endpoints.transports], [False, True])
        agent.request(b"GET", URL)
        self.assertEqual(len(self.endpoints.transports), 3)  # the idle one had gone stale
        self.assertTrue(self.endpoints.transports[0].disconnecting)

    def test_answer_headers_api(self) -> None:
        """An answer's headers work as Twisted's Headers do for the calls treq and GitHub make."""
        headers = AnswerHeaders({b"content-encoding": [b"gzip"], b"etag": [b'"a"']})
        self.assertTrue(headers.hasHeader(b"Content-Encoding"))
        self.assertEqual(headers.getRawHeaders("ETag"), ['"a"'])
        self.assertEqual(headers.getRawHeaders(b"missing", [b"d"]), [b"d"])
        copy = headers.copy()
        headers.removeHeader("content-encoding")
        self.assertFalse(headers.hasHeader(b"content-encoding"))
        self.assertTrue(copy.hasHeader(b"content-encoding"))
        headers.setRawHeaders("X-A", ["1\r\nInjected: yes"])
        headers.addRawHeader(b"x-a", b"2")
        self.assertEqual(headers.getRawHeaders(b"x-a"), [b"1 Injected: yes", b"2"])
        self.assertEqual(dict(headers.getAllRawHeaders())[b"etag"], [b'"a"'])


class Scripted(Protocol):
    """A server that answers each request it reads with the next scripted answer."""

    def __init__(self, server: ScriptedServer) -> None:
        self.server = server
        self.buffer = b""

    def connectionMade(self) -> None:  # noqa: N802 - Twisted's name
        self.server.connections += 1

    def dataReceived(self, data: bytes) -> None:  # noqa: N802 - Twisted's name
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            request, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            self.server.requests.append(request)
            answer = self.server.answers.pop(0)
            if answer is None:
                continue  # never answered
            if answer == b"close":
                self.transport.loseConnection()  # type: ignore[union-attr]
                return
            self.transport.write(answer)  # type: ignore[union-attr]

    def connectionLost(self, reason: Failure = Failure(ConnectionDone())) -> None:  # noqa: N802, B008
        self.server.closed += 1


class ScriptedServer(Factory):
    noisy = False

    def __init__(self, answers: list[bytes | None]) -> None:
        self.answers = answers
        self.requests: list[bytes] = []
        self.connections = 0
        self.closed = 0

    def buildProtocol(self, addr: Any) -> Scripted:  # noqa: N802 - Twisted's name
        return Scripted(self)


async def wait_for(check: Any, seconds: float = 5.0) -> None:
    """Let the reactor run until ``check()`` holds (bounded)."""
    for _ in range(int(seconds / 0.01)):
        if check():
            return
        await _sleep(0.01)
    raise AssertionError("condition not reached")


def _sleep(seconds: float) -> Deferred[None]:
    d: Deferred[None] = Deferred()
    reactor.callLater(seconds, d.callback, None)  # type: ignore[attr-defined]
    return d


class SocketTests(TestCase):
    """The agent over real TCP on 127.0.0.1, through the daemon's own endpoints."""

    timeout = 30

    def serve(self, answers: list[bytes | None]) -> tuple[ScriptedServer, bytes]:
        server = ScriptedServer(answers)
        port = reactor.listenTCP(0, server, interface="127.0.0.1")  # type: ignore[attr-defined]
        self.addCleanup(port.stopListening)
        self.agent = LeanAgent(reactor, OriginEndpoints(reactor, tls_policy(None), 5.0), max_idle=4)
        self.addCleanup(self.agent.closeCachedConnections)
        return server, f"http://127.0.0.1:{port.getHost().port}".encode()

    async def get(self, url: bytes) -> tuple[int, bytes]:
        response = await self.agent.request(b"GET", url)
        return response.code, await read_body(response, 1 << 20)

    async def test_kept_alive_then_closed_by_the_server(self) -> None:
        """Requests share one connection; when the server closes it, the next opens another."""
        ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]"
        server, base = self.serve([ok, ok, b"close", ok])
        self.assertEqual(await self.get(base + b"/a"), (200, b"[]"))
        self.assertEqual(await self.get(base + b"/b"), (200, b"[]"))
        self.assertEqual(server.connections, 1)
        with self.assertRaises(ResponseNeverReceived):
            await self.get(base + b"/c")
        await wait_for(lambda: server.closed == 1)
        self.assertEqual(await self.get(base + b"/d"), (200, b"[]"))
        self.assertEqual(server.connections, 2)
        self.assertTrue(server.requests[0].startswith(b"GET /a HTTP/1.1\r\n"))
        self.assertIn(b"\r\nHost: 127.0.0.1:", server.requests[0])

    async def test_idle_connection_closed_by_the_server_is_forgotten(self) -> None:
        ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]"
        server, base = self.serve([ok, ok])
        await self.get(base + b"/a")
        for protocol in list(self.agent._origins.values())[0].idle:
            protocol.transport.loseConnection()  # as a server's idle timeout would
        await wait_for(lambda: server.closed == 1)
        self.assertEqual(await self.get(base + b"/b"), (200, b"[]"))
        self.assertEqual(server.connections, 2)

    async def test_refused(self) -> None:
        server, base = self.serve([])
        port = int(base.rsplit(b":", 1)[1])
        closed = reactor.listenTCP(0, Factory(), interface="127.0.0.1")  # type: ignore[attr-defined]
        free = closed.getHost().port
        await closed.stopListening()
        self.assertNotEqual(free, port)
        with self.assertRaises(ConnectError):
            await self.get(f"http://127.0.0.1:{free}/x".encode())

    async def test_cancel_while_waiting(self) -> None:
        """A request given up on (a timeout) drops its connection; the server sees it close."""
        server, base = self.serve([None])
        d = self.agent.request(b"GET", base + b"/slow")
        await wait_for(lambda: len(server.requests) == 1)
        d.cancel()
        with self.assertRaises(CancelledError):
            await d
        await wait_for(lambda: server.closed == 1)

    async def test_close_cached_connections(self) -> None:
        ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]"
        server, base = self.serve([ok])
        await self.get(base + b"/a")
        await self.agent.closeCachedConnections()
        await wait_for(lambda: server.closed == 1)
