"""The status site: /status JSON and its history, /metrics, the page, errors and disconnects."""

from __future__ import annotations

import copy
from typing import Any

import prometheus_client
import treq
from treq.testing import StubTreq
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.test.requesthelper import DummyRequest

from ghcrawl.web import StatusSite, status_site

#: The shape the service provides, as agreed with it.
STATUS: dict[str, Any] = {
    "time": 1764115200.0,
    "version": "0.1.0",
    "users": 1200,
    "profiles": 300,
    "repos": 900,
    "contributors": 4000,
    "frontier": {"pending": 120, "leased": 10, "done": 2000, "failed": 3},
    "by_depth": [
        {"depth": 0, "kind": "user", "discovered": 4, "done": 4, "failed": 0},
        {"depth": 0, "kind": "repos", "discovered": 4, "done": 4, "failed": 0},
        {"depth": 0, "kind": "contributors", "discovered": 40, "done": 38, "failed": 1},
        {"depth": 1, "kind": "user", "discovered": 300, "done": 180, "failed": 2},
    ],
    "requests_total": 5123,
    "requests_per_second": 41.5,
    "in_flight": 10,
    "concurrency": 10,
    "rate_limit": [
        {"budget": "tok-1a2b3c4d", "remaining": 4100, "limit": 5000, "reset_at": 1764118800.0},
        {"budget": "tok-5e6f7a8b", "remaining": 900, "limit": 5000, "reset_at": 1764117000.0},
    ],
    "paused_until": 0.0,
    "eta": {"depth": 1, "seconds": 840.0, "remaining_tasks": 120},
}


class FakeStatus:
    """A status() that answers a copy of STATUS, or raises, or never answers, as a test sets it."""

    def __init__(self) -> None:
        self.status = copy.deepcopy(STATUS)
        self.error: Exception | None = None
        self.hang = False
        self.calls = 0
        self.cancelled = 0

    async def __call__(self) -> dict[str, Any]:
        self.calls += 1
        if self.error is not None:
            raise self.error
        if self.hang:
            return await Deferred(self._cancel)
        return copy.deepcopy(self.status)

    def _cancel(self, waiting: Deferred[dict[str, Any]]) -> None:
        self.cancelled += 1


class SiteTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(STATUS["time"])
        self.fake = FakeStatus()
        self.registry = prometheus_client.CollectorRegistry()
        self.web = status_site(self.fake, self.registry, self.clock, history_interval=10.0, history_span=60.0)
        self.addCleanup(self.web.stop)
        self.client = StubTreq(self.web.site.resource)

    def get(self, path: str, method: str = "GET") -> Any:
        response = self.successResultOf(self.client.request(method, "http://127.0.0.1" + path))
        self.assertEqual(response.headers.getRawHeaders("cache-control"), ["no-store"], path)
        return response

    def json(self, path: str) -> tuple[int, dict[str, Any]]:
        response = self.get(path)
        self.assertEqual(response.headers.getRawHeaders("content-type"), ["application/json"])
        return response.code, self.successResultOf(response.json())

    def test_status_is_the_status_plus_empty_history(self) -> None:
        """Before sampling starts /status is exactly status() with an empty history."""
        code, body = self.json("/status")
        self.assertEqual(code, 200)
        self.assertEqual(body, {**STATUS, "history": []})

    def test_history_samples_every_interval(self) -> None:
        """Each interval adds one sample of req/s and the rate-limit remaining summed over budgets."""
        self.web.start()
        self.fake.status["requests_per_second"] = 12.0
        self.clock.advance(10)
        history = self.json("/status")[1]["history"]
        self.assertEqual(
            history,
            [
                {"time": STATUS["time"], "requests_per_second": 41.5, "remaining": 5000},
                {"time": STATUS["time"] + 10, "requests_per_second": 12.0, "remaining": 5000},
            ],
        )

    def test_history_keeps_only_the_span(self) -> None:
        """Samples older than the span leave the history, so it covers the last span seconds only."""
        self.web.start()
        self.clock.pump([10] * 12)
        times = [h["time"] for h in self.json("/status")[1]["history"]]
        now = self.clock.seconds()
        self.assertEqual(times, [now - 60 + 10 * i for i in range(7)])

    def test_history_forgets_old_samples_while_stopped(self) -> None:
        """Samples taken before a pause longer than the span are not reported as the last hour."""
        self.web.start()
        self.clock.advance(10)
        self.web.stop()
        self.clock.advance(55)
        self.assertEqual([h["time"] for h in self.json("/status")[1]["history"]], [STATUS["time"] + 10])
        self.clock.advance(10)
        self.assertEqual(self.json("/status")[1]["history"], [])

    def test_failing_sample_does_not_stop_sampling(self) -> None:
        """A status() that raises during sampling is logged and the next interval samples again."""
        self.fake.error = RuntimeError("database is locked")
        self.web.start()
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.fake.error = None
        self.clock.advance(10)
        self.assertEqual(len(self.web.history.recent(self.clock.seconds())), 1)

    def test_hanging_sample_times_out(self) -> None:
        """A status() that never answers is given up after one interval and sampling goes on."""
        self.fake.hang = True
        self.web.start()
        self.clock.advance(10)
        self.assertEqual(len(self.flushLoggedErrors()), 1)
        self.assertEqual(self.fake.cancelled, 1)
        self.fake.hang = False
        self.clock.advance(10)
        self.assertEqual(self.fake.calls, 2)
        self.assertEqual(len(self.web.history.recent(self.clock.seconds())), 1)

    def test_stop_stops_sampling(self) -> None:
        """After stop() advancing the clock takes no more samples."""
        self.web.start()
        self.web.stop()
        self.clock.advance(100)
        self.assertEqual(self.fake.calls, 1)

    def test_status_failure_is_503_json(self) -> None:
        """When status() raises, /status answers 503 with the error as JSON."""
        self.fake.error = RuntimeError("store closed")
        code, body = self.json("/status")
        self.assertEqual((code, body), (503, {"error": "store closed"}))
        self.flushLoggedErrors(RuntimeError)

    def test_metrics_show_the_registry(self) -> None:
        """/metrics serves the given registry in Prometheus text format."""
        counter = prometheus_client.Counter("ghcrawl_test_requests", "Requests sent.", registry=self.registry)
        counter.inc(7)
        response = self.get("/metrics")
        self.assertEqual(response.code, 200)
        self.assertEqual(response.headers.getRawHeaders("content-type"), [prometheus_client.CONTENT_TYPE_LATEST])
        self.assertIn(b"ghcrawl_test_requests_total 7.0", self.successResultOf(response.content()))

    def test_page_is_self_contained_html(self) -> None:
        """/ is an HTML page titled "ghcrawl status" that loads nothing from elsewhere."""
        response = self.get("/")
        self.assertEqual(response.code, 200)
        self.assertEqual(response.headers.getRawHeaders("content-type"), ["text/html; charset=utf-8"])
        page = self.successResultOf(response.text())
        self.assertIn("<title>ghcrawl status</title>", page)
        self.assertIn('fetch("/status"', page)
        for external in ("<link", " src=", "@import", "url("):
            self.assertNotIn(external, page)

    def test_unknown_paths_are_404(self) -> None:
        """Unknown paths, and paths below a known one, answer 404."""
        for path in ("/nope", "/status/extra", "/metrics/x/y", "/index.html"):
            self.assertEqual(self.get(path).code, 404, path)

    def test_only_get(self) -> None:
        """Anything but GET (or HEAD) is refused with 405 and an Allow header."""
        for path, method in (("/status", "POST"), ("/", "DELETE"), ("/metrics", "PUT"), ("/nope", "POST")):
            response = self.get(path, method=method)
            self.assertEqual(response.code, 405, (path, method))
            self.assertEqual(response.headers.getRawHeaders("allow"), ["GET, HEAD"])

    def test_disconnect_cancels_status(self) -> None:
        """A client hanging up mid-answer cancels the status() call and nothing is written."""
        self.fake.hang = True
        request = DummyRequest([b"status"])
        resource = self.web.site.resource.getChildWithDefault(b"status", request)
        request.postpath = []
        resource.render(request)
        self.assertEqual(self.fake.cancelled, 0)
        request.processingFailed(Exception("client went away"))
        self.assertEqual(self.fake.cancelled, 1)
        self.assertEqual(request.written, [])
        self.assertEqual(self.flushLoggedErrors(), [])


class ListeningTests(TestCase):
    def setUp(self) -> None:
        self.fake = FakeStatus()
        self.web: StatusSite = status_site(self.fake, prometheus_client.CollectorRegistry(), reactor)
        self.port = reactor.listenTCP(0, self.web.site, interface="127.0.0.1")
        self.addCleanup(self.port.stopListening)

    async def test_status_over_tcp(self) -> None:
        """Listening on 127.0.0.1 with the real reactor, /status answers the status JSON."""
        url = f"http://127.0.0.1:{self.port.getHost().port}/status"
        response = await treq.get(url, timeout=5, persistent=False)
        body = await response.json()
        self.assertEqual(response.code, 200)
        self.assertEqual(body["frontier"], STATUS["frontier"])
        self.assertEqual(body["history"], [])
