"""The fakehub's Site: plain HTTP/1.1 channels that keep connections alive and answer HEAD."""

from __future__ import annotations

import http.client
from typing import Any

from twisted.internet import reactor
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import TestCase
from twisted.web.resource import Resource
from twisted.web.server import Request

from ghcrawl.fakehub.site import QuietSite


class _Recorder(Resource):
    """Answers each path back and remembers the channel, address and TLS flag it was seen with."""

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[Any, Any, bool]] = []

    def render(self, request: Request) -> bytes:
        self.seen.append((request.channel, request.getHost(), request.isSecure()))
        request.setHeader(b"content-type", b"text/plain")
        return request.path


def _exchange(port: int, requests: list[tuple[str, str]]) -> list[tuple[int, str | None, bytes]]:
    """Sends the requests one after another over one connection (blocking; runs in a thread)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    answers = []
    try:
        for method, path in requests:
            conn.request(method, path)
            response = conn.getresponse()
            answers.append((response.status, response.getheader("content-length"), response.read()))
    finally:
        conn.close()
    return answers


class QuietSiteTests(TestCase):
    timeout = 20

    def setUp(self) -> None:
        self.resource = _Recorder()
        self.port = reactor.listenTCP(0, QuietSite(self.resource), interface="127.0.0.1")  # type: ignore[arg-type]
        self.addCleanup(self.port.stopListening)

    async def test_one_connection_many_answers(self) -> None:
        """Requests on one kept-alive connection are answered in turn with Content-Length, HEAD without a body."""
        port: int = self.port.getHost().port  # type: ignore[attr-defined]
        answers = await deferToThread(_exchange, port, [("GET", "/a"), ("HEAD", "/bb"), ("GET", "/ccc")])
        self.assertEqual(answers, [(200, "2", b"/a"), (200, "3", b""), (200, "4", b"/ccc")])
        channels = {id(channel) for channel, _host, _secure in self.resource.seen}
        self.assertEqual(len(channels), 1)
        hosts = [host for _channel, host, _secure in self.resource.seen]
        self.assertEqual((hosts[0].host, hosts[0].port), ("127.0.0.1", port))
        self.assertTrue(all(host is hosts[0] for host in hosts))
        self.assertEqual([secure for _c, _h, secure in self.resource.seen], [False, False, False])
