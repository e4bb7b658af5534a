"""Watching a running crawl: the progress line, metrics, systemd status and the status endpoint."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from ghcrawl.crawler import Crawler
from ghcrawl.errors import ConfigError
from ghcrawl.metrics import Metrics
from ghcrawl.notify import SystemdNotifier
from ghcrawl.preflight import StatusListener, status_endpoint
from ghcrawl.progress import Progress, line
from ghcrawl.ratelimit import Pacer
from ghcrawl.store import Store


class Monitor:
    """Reports progress every interval to the log, systemd and Prometheus, and serves /status."""

    _log = Logger()

    def __init__(
        self, reactor: Any, store: Store, crawler: Crawler, pacer: Pacer, metrics: Metrics,
        notifier: SystemdNotifier, interval: float, save: Callable[[], Awaitable[None]],
    ) -> None:
        self._reactor, self._store, self._crawler, self._pacer = reactor, store, crawler, pacer
        self._metrics, self._notifier, self._interval, self._save = metrics, notifier, interval, save
        self._progress = Progress()
        self._loop: LoopingCall | None = None
        self._port: Any = None
        self._site: Any = None

    async def status(self) -> dict[str, Any]:
        """The current status document (also ``GET /status``)."""
        counts = await self._store.progress()
        by_depth = await self._store.by_depth()
        now = self._reactor.seconds()
        status = self._progress.status(now, counts, by_depth, self._crawler.requests,
                                       self._crawler.in_flight, self._pacer, self._crawler.outage.describe(now))
        status["worker"] = self._store.worker
        status["daemons"] = [w.as_json(now) for w in await self._store.workers()]
        return status

    async def listen(self, endpoint: str, bound: StatusListener | None = None) -> None:
        """Serve /metrics, /status and the status page on a Twisted endpoint string (or one already bound)."""
        from ghcrawl.web import status_site

        server = status_endpoint(self._reactor, endpoint) if bound is None else None
        self._site = status_site(self.status, self._metrics.registry, self._reactor,
                                 history_interval=self._interval)
        try:
            if server is not None:
                self._port = await server.listen(self._site.site)
            else:
                assert bound is not None
                self._port = await bound.serve(self._site.site)
        except Exception as e:
            raise ConfigError(f"cannot listen on status_endpoint {endpoint!r}: {e}") from None
        self._site.start()
        self._log.info("status page on {endpoint}", endpoint=endpoint)

    def start(self) -> None:
        """Report every interval from now on."""
        self._loop = LoopingCall(self.report)
        self._loop.clock = self._reactor
        self._loop.start(self._interval, now=False).addErrback(
            lambda f: self._log.failure("progress reporting stopped", f))

    async def report(self) -> None:
        """Log the progress line and update systemd and the gauges; a failure never stops the loop."""
        try:
            status = await self.status()
            summary = line(status)
            self._log.info("progress: {summary}", summary=summary, status=status)
            self._notifier.status(summary)
            self._update_gauges(status)
            await self._save()
        except Exception:
            self._log.failure("progress report failed")

    def _update_gauges(self, status: dict[str, Any]) -> None:
        m = self._metrics
        for table in ("users", "repos", "contributors"):
            m.stored.labels(table).set(status[table])
        m.frontier.clear()
        for row in status["by_depth"]:
            for state in ("open", "done", "failed"):
                m.frontier.labels(state, str(row["depth"]), row["kind"]).set(row[state])
        for budget in status["rate_limit"]:
            if budget["remaining"] is not None:
                m.remaining.labels(budget["budget"]).set(budget["remaining"])
            m.reset.labels(budget["budget"]).set(budget["reset_at"])
        m.in_flight.set(status["in_flight"])
        m.concurrency.set(status["concurrency"])

    async def stop(self) -> None:
        """Stop reporting and serving."""
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        if self._site is not None:
            self._site.stop()
        if self._port is not None:
            await self._port.stopListening()
