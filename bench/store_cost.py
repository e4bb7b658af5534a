"""``python -m bench.store_cost``: what a stored page and a claim cost, SQLite against PostgreSQL.

Page cost: one process commits ``--pages`` contributor pages (20 new users each,
the commonest and dearest write) through the real Store, first one after another
(latency), then ``--in-flight`` at a time as a crawl does (wall time per page:
throughput). Each write is flushed at once, as the crawler does when it has
nothing else ready; writes queued behind a transaction being written still share
the next one.
Claim latency: ``--daemons`` stores with their own pools and worker names claim
5 tasks at a time from one frontier of ``--tasks`` seeds and finish them, all at
once; the figure is the median and 95th percentile of one claim's round trip.
PostgreSQL runs on a throwaway server (tests/pg.py).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from typing import Any

from twisted.internet import defer, task

from bench.run import ROOT


def _page(url: str, now: float) -> Any:
    from ghcrawl.store.records import Page, iso

    return Page(url, None, now, iso(now), "tok-bench", '"e"')


async def page_cost(db: str, pages: int, in_flight: int, reactor: Any) -> float:
    """Milliseconds of wall time per contributor page stored, ``in_flight`` pages at a time."""
    from ghcrawl.models import Contribution, Repo, User
    from ghcrawl.store import open_store

    store = open_store(db, 1, worker="bench", clock=reactor)
    await store.migrate()
    await store.add_seeds([f"owner{i}" for i in range(pages)])
    for t in await store.claim(pages, 1.0):
        await store.commit_user(t, User(1 + t.id, t.key, "User"), _page(t.url, 1.0))
    for t in await store.claim(pages, 2.0):
        owner = int(t.key)
        repo = Repo(owner * 10, owner, f"o{owner}/r", "r", None, False, None, 0, 0, 0, 1, "main", None, None, None,
                    False)
        await store.commit_repos(t, [repo], _page(t.url, 2.0))
    listings = [t for t in await store.claim(pages, 3.0) if t.kind == "contributors"]
    work = iter(enumerate(listings))

    async def commit_some() -> None:
        for n, t in work:
            found = [Contribution(User(10_000_000 + n * 100 + k, f"c{n}x{k}", "User"), k + 1) for k in range(20)]
            committing = defer.Deferred.fromCoroutine(store.commit_contributors(t, found, _page(t.url, 3.0)))
            store.flush()  # as the crawler does when nothing else is ready: no wait for company
            await committing

    started = time.perf_counter()
    await defer.gatherResults([defer.Deferred.fromCoroutine(commit_some()) for _ in range(in_flight)])
    elapsed = time.perf_counter() - started
    store.close()
    return 1000 * elapsed / max(1, len(listings))


async def claim_latency(db: str, daemons: int, tasks: int, reactor: Any) -> tuple[float, float]:
    """Median and 95th percentile milliseconds of one claim of 5, with ``daemons`` claiming at once."""
    from ghcrawl.store import open_store

    stores = [open_store(db, 1, worker=f"bench-{i}", clock=reactor) for i in range(daemons)]
    await stores[0].migrate()
    await stores[0].add_seeds([f"seed{i}" for i in range(tasks)])
    times: list[float] = []

    async def run(store: Any) -> None:
        while True:
            started = time.perf_counter()
            claiming = defer.Deferred.fromCoroutine(store.claim(5, 10.0))
            store.flush()
            claimed = await claiming
            times.append(time.perf_counter() - started)
            if not claimed:
                return
            for t in claimed:
                await store.finish(t, "not_found", 10.0)

    await defer.gatherResults([defer.Deferred.fromCoroutine(run(s)) for s in stores])
    for s in stores:
        s.close()
    ordered = sorted(times)
    return 1000 * statistics.median(ordered), 1000 * ordered[int(0.95 * (len(ordered) - 1))]


async def main(reactor: Any, args: argparse.Namespace) -> None:
    sys.path.insert(0, str(ROOT))
    from tests import pg

    server = pg.server()
    work = tempfile.mkdtemp(prefix="ghcrawl-store-cost-")
    print(f"| database | ms per contributor page (20 users), one at a time | {args.in_flight} at a time "
          "| claim of 5, median / p95 ms, by daemons |")
    print("|---|---|---|---|")
    for backend in ("sqlite", "postgres"):
        def fresh(name: str, backend: str = backend) -> str:
            return server.database() if backend == "postgres" else os.path.join(work, name + ".sqlite")

        one = await page_cost(fresh("pages1"), args.pages, 1, reactor)
        many = await page_cost(fresh("pagesN"), args.pages, args.in_flight, reactor)
        claims = []
        for n in args.daemons:
            median, p95 = await claim_latency(fresh(f"claims{n}"), n, args.tasks, reactor)
            claims.append(f"{n}: {median:.1f} / {p95:.1f}")
        print(f"| {backend} | {one:.2f} | {many:.2f} | {'; '.join(claims)} |", flush=True)


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--in-flight", type=int, default=10)
    parser.add_argument("--tasks", type=int, default=1500)
    parser.add_argument("--daemons", type=int, nargs="+", default=[1, 3])
    args = parser.parse_args()
    task.react(lambda reactor: defer.Deferred.fromCoroutine(main(reactor, args)))


if __name__ == "__main__":
    cli()
