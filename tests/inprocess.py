"""An in-process crawl: treq's RequestTraversalAgent over the fakehub resource, a real SQLite file, the real reactor."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from typing import Any

from treq.testing import RequestTraversalAgent
from twisted.internet import reactor
from twisted.internet.defer import Deferred

from ghcrawl.crawler import Crawler
from ghcrawl.credentials import Credential
from ghcrawl.fakehub import FakeHub, Graph, Knobs
from ghcrawl.github import GitHub
from ghcrawl.ratelimit import Budget, Pacer
from ghcrawl.store import Store

BASE = "http://fakehub.test"
TOKEN = "ghp_unit0000000000000000000000000000000"


async def crawl(graph: Graph, seeds: list[str], max_depth: int, knobs: Knobs | None = None, *,
                wrap: Callable[[Any], Any] = lambda resource: resource, concurrency: int = 10,
                **crawler_args: Any) -> tuple[str, FakeHub]:
    """Crawl to the end (``--once``) and return the database path and the hub."""
    path = os.path.join(tempfile.mkdtemp(prefix="ghcrawl-unit-"), "crawl.sqlite")
    store = Store(path, max_depth)
    try:
        await store.migrate()
        await store.add_seeds(seeds)
        hub = FakeHub(graph, reactor, knobs or Knobs())
        pacer = Pacer([Budget("b")], concurrency, secondary_wait=0.05)
        github = GitHub(RequestTraversalAgent(wrap(hub.resource)), reactor, pacer, BASE, timeout=5)
        finished: Deferred[None] = Deferred()
        crawler = Crawler(store, github, pacer, reactor, {"b": [Credential(TOKEN)]}, once=True,
                          on_finished=lambda: finished.callback(None), poll_interval=0.05, **crawler_args)
        crawler.start()
        await finished
    finally:
        store.close()
    return path, hub
