"""What one answer may cost: body bytes after decoding, the Link header, items per page (treq's RequestTraversalAgent)."""

from __future__ import annotations

import gzip
import json
from typing import Any

from treq.testing import RequestTraversalAgent
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from ghcrawl.bounds import check_items, check_link
from ghcrawl.credentials import Credential
from ghcrawl.errors import FetchError
from ghcrawl.github import Fetched, GitHub
from ghcrawl.ratelimit import Budget, Pacer

BASE = "http://api.test"
CAP = 64 * 1024
PROFILE = json.dumps({"login": "a", "id": 1}).encode()


class Answers(Resource):
    """Answers each path as the test says: a body, gzip or not, whole or in chunks."""

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.written = 0

    def render_GET(self, request: Request) -> Any:
        path = request.path.decode()
        request.setHeader(b"content-type", b"application/json; charset=utf-8")
        if path == "/plain":
            return PROFILE
        if path == "/gzip":
            request.setHeader(b"content-encoding", b"gzip")
            return gzip.compress(PROFILE)
        if path == "/bomb":
            request.setHeader(b"content-encoding", b"gzip")
            return gzip.compress(b" " * (50 * CAP))
        if path == "/declared":
            request.setHeader(b"content-length", str(CAP + 1).encode())
            request.write(b"[")
            self.written += 1
            return NOT_DONE_YET
        if path == "/stream":
            for _ in range(4):
                request.write(b" " * (CAP // 2))
                self.written += CAP // 2
            request.finish()
            return NOT_DONE_YET
        if path == "/items":
            return json.dumps([{"id": i} for i in range(101)]).encode()
        if path == "/link":
            request.setHeader(b"link", b'<' + b"x" * 10240 + b'>; rel="next"')
            return b"[]"
        return b"{}"


class BoundsTests(SynchronousTestCase):
    def fetch(self, path: str) -> Any:
        self.resource = Answers()
        stub = RequestTraversalAgent(self.resource)
        budget = Budget("b", in_flight=1)
        github = GitHub(stub, Clock(), Pacer([budget], 10), BASE, max_body_bytes=CAP)
        d = Deferred.fromCoroutine(github.fetch(path, budget, Credential("ghp_x")))
        stub.flush()
        got: list[Any] = []
        d.addBoth(got.append)
        self.assertEqual(len(got), 1, "no answer")
        return got[0].value if hasattr(got[0], "value") else got[0]

    def assertFinal(self, path: str, reason: str) -> None:
        error = self.fetch(path)
        self.assertIsInstance(error, FetchError)
        self.assertEqual(error.reason, reason)
        self.assertFalse(error.retryable, "the same URL would answer the same")

    def test_small_bodies_pass(self) -> None:
        """A body under the cap is read whole, plain or gzip."""
        for path in ("/plain", "/gzip"):
            result = self.fetch(path)
            self.assertIsInstance(result, Fetched)
            self.assertEqual(result.body, {"login": "a", "id": 1})

    def test_streamed_body_over_cap(self) -> None:
        """A body with no length that grows past the cap fails with its size."""
        self.assertFinal("/stream", f"body over {CAP} bytes")

    def test_gzip_bomb(self) -> None:
        """The cap counts decoded bytes: a small gzip body that inflates past it fails."""
        self.assertFinal("/bomb", f"body over {CAP} bytes")

    def test_declared_length_over_cap(self) -> None:
        """A Content-Length above the cap is refused before the body is read."""
        self.assertFinal("/declared", f"body over {CAP} bytes")

    def test_too_many_items(self) -> None:
        """A page of 101 items is a bad answer, not a page to store."""
        self.assertFinal("/items", "bad API answer: page of 101 items, more than the 100 asked for")

    def test_long_link_header(self) -> None:
        """A Link header of 10 KiB is a bad answer."""
        self.assertFinal("/link", "bad API answer: Link header over 8192 bytes")

    def test_items_against_per_page(self) -> None:
        """A page may hold what per_page asked for and no more; without per_page, GitHub's 100."""
        check_items([1] * 30, "/x?per_page=30")
        check_items([1] * 100, "/x")
        check_items({"not": "a list"}, "/x?per_page=1")
        with self.assertRaises(FetchError):
            check_items([1] * 31, "/x?per_page=30")
        with self.assertRaises(FetchError):
            check_items([1] * 101, "/x?per_page=500")

    def test_per_page_read_as_parse_qs_reads_it(self) -> None:
        """The per_page a page is held to is the query's, however the URL spells it."""
        from urllib.parse import parse_qs, urlsplit

        from ghcrawl.bounds import _per_page

        for url in ["/x", "/x?per_page=30", "/x?per_page=", "/x?per_page=&per_page=5", "/x?a=1&per_page=7&per_page=9",
                    "/x?per_page=1=2", "/x?per_page=%31", "/x?per%5Fpage=3", "/x?per_page=1+", "/x?per_page=5#f",
                    "/x?per_pages=3", "/x?aper_page=3", "/x?per_page", "/x?&&per_page=4&", "/x?per_page=-1",
                    "http://h:1/r?per_page=100&anon=0&page=2", "/x?q=a;per_page=3", "/x?per_page=3\n"]:
            self.assertEqual(_per_page(url), parse_qs(urlsplit(url).query).get("per_page", [""])[0], url)
        with self.assertRaises(FetchError):
            check_items([1] * 2, "/x?per_page=%31")  # percent-encoded: still one

    def test_link_of_sane_length_passes(self) -> None:
        """GitHub's own Link headers pass untouched."""
        link = '<https://api.github.com/user/1/repos?page=2>; rel="next"'
        self.assertEqual(check_link(link), link)
        self.assertIsNone(check_link(None))
