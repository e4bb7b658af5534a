"""The pull loop, in process: treq's RequestTraversalAgent over the fakehub, a real SQLite file, the real reactor."""

from __future__ import annotations

from typing import Any

from treq.testing import RequestTraversalAgent
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase
from twisted.web.resource import Resource

from ghcrawl.crawler import Crawler
from ghcrawl.fakehub import Graph, Knobs, truth
from ghcrawl.github import GitHub
from ghcrawl.ratelimit import Budget, Pacer
from ghcrawl.store import Task
from tests.fakes import InstantStore, QueuedStore
from tests.inprocess import crawl
from tests.support import expected, snapshot

BASE = "http://fakehub.test"


class NotFound(Resource):
    isLeaf = True

    def render_GET(self, request: Any) -> bytes:
        request.setResponseCode(404)
        request.setHeader(b"content-type", b"application/json; charset=utf-8")
        return b'{"message": "Not Found"}'


class CrawlerTests(TestCase):
    timeout = 60

    async def crawl(self, graph: Graph, max_depth: int, knobs: Knobs | None = None,
                    **kwargs: Any) -> tuple[str, dict[str, Any]]:
        t = truth(graph, None, max_depth)
        path, self.hub = await crawl(graph, t["seeds"], max_depth, knobs, **kwargs)
        return path, t

    async def test_depth_one_equals_truth(self) -> None:
        """An in-process crawl stores exactly the ground truth with the minimum requests."""
        path, t = await self.crawl(Graph(seed=3, users=120), 1)
        self.assertEqual(snapshot(path), expected(t))
        self.assertEqual(self.hub.stats()["charged"], t["min_requests"])

    async def test_depth_two_equals_truth(self) -> None:
        """Two rings deep, depths stay minimal and nothing is fetched twice."""
        path, t = await self.crawl(Graph(seed=4, users=80), 2)
        self.assertEqual(snapshot(path), expected(t))
        self.assertEqual(self.hub.stats()["charged"], t["min_requests"])

    async def test_faults_still_reach_truth(self) -> None:
        """5xx, malformed JSON and secondary limits are retried until the truth is stored."""
        knobs = Knobs(fault_rate=0.1, faults=("500", "502", "503", "malformed"), secondary_every=40,
                      secondary_wait=0.05, secondary_retry_after=None)
        path, t = await self.crawl(Graph(seed=5, users=80), 1, knobs, max_attempts=20, retry_base=0.01, retry_max=0.05)
        self.assertEqual(snapshot(path), expected(t))
        self.assertEqual(self.hub.stats()["violations"], 0)

    async def run_to_the_end(self, store: InstantStore, concurrency: int) -> Crawler:
        """A --once crawl of ``store``'s tasks, every answer a 404."""
        pacer = Pacer([Budget("b", remaining=10**6, reset_at=10**12)], concurrency)
        github = GitHub(RequestTraversalAgent(NotFound()), reactor, pacer, BASE)
        finished: Deferred[None] = Deferred()
        crawler = Crawler(store, github, pacer, reactor, {"b": [None]}, once=True,  # type: ignore[arg-type]
                          on_finished=lambda: finished.callback(None), poll_interval=0.05)
        crawler.start()
        await finished
        return crawler

    async def test_thousands_of_instant_tasks(self) -> None:
        """Five thousand tasks that all complete synchronously finish without recursion or a stall."""
        store = InstantStore(5000)
        crawler = await self.run_to_the_end(store, 100)
        self.assertEqual(len(store.done), 5000)
        self.assertEqual(set(store.done.values()), {"not_found"})
        self.assertEqual(crawler.in_flight, 0)

    async def test_idle_slots_flush_the_store(self) -> None:
        """With slots free and no task ready, the crawler has the store send its queue at once."""
        store = QueuedStore(300)
        await self.run_to_the_end(store, 10)
        self.assertEqual(len(store.done), 300)


class PeerStore(InstantStore):
    """A frontier other daemons are working on: nothing pending, their leases run out in a minute."""

    async def next_due(self) -> float | None:
        return 0.0 if self.pending else 60.0


class IdleLookTests(TestCase):
    timeout = 10

    def test_work_added_by_another_daemon_is_claimed_at_once(self) -> None:
        """An idle daemon sees a peer's new task within moments, not at the next ``poll_interval``."""
        clock = Clock()
        store = PeerStore(0)
        pacer = Pacer([Budget("b", remaining=10**6, reset_at=10**12)], 5)
        agent = RequestTraversalAgent(NotFound())
        github = GitHub(agent, clock, pacer, BASE)
        crawler = Crawler(store, github, pacer, clock, {"b": [None]}, poll_interval=5.0)  # type: ignore[arg-type]
        crawler.start()
        clock.advance(0)
        self.assertEqual(store.claims, 1)
        store.pending.append(Task(7, "user", "u7", "/users/u7", "/users/u7", 0, 0, {}))  # a peer's page stored
        for _ in range(4):
            clock.advance(0.05)
            agent.flush()
        self.assertEqual(store.done, {7: "not_found"})
        # A long idle backs off to poll_interval: 50 s cost a handful of looks, not a spin.
        looks = store.claims
        clock.pump([0.05] * 1000)
        self.assertLessEqual(store.claims - looks, 20)
        crawler.stop_claiming()
