"""The Service: open the store, start the loop; on stop drain, cancel, flush and close.

Every step of stopping has a deadline: twistd waits forever on a ``stopService``
Deferred that never fires, so the whole stop is bounded by ``grace`` plus a
few seconds whatever the network or the database thread is doing.
"""

from __future__ import annotations

import os
import socket
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from twisted.application.service import Service
from twisted.internet.defer import Deferred, FirstError, gatherResults
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure

from ghcrawl import summary
from ghcrawl.agent import LeanAgent
from ghcrawl.config import Config
from ghcrawl.connections import OriginEndpoints
from ghcrawl.crawler import Crawler
from ghcrawl.credentials import Credential
from ghcrawl.errors import AppConfigError, BadCredentials, FetchError, GhcrawlError, RateLimited
from ghcrawl.github import Fetched, GitHub, Result, tls_policy
from ghcrawl.ledger import Ledger
from ghcrawl.metrics import Metrics
from ghcrawl.monitor import Monitor
from ghcrawl.notify import SystemdNotifier
from ghcrawl.optout import OptOutWatch
from ghcrawl.preflight import StatusListener
from ghcrawl.ratelimit import Budget, Pacer
from ghcrawl.store import Store, default_worker_name, open_store, redact

if TYPE_CHECKING:
    from ghcrawl.installations import AppTokens

#: Seconds past ``grace`` allowed for flushing writes and closing pools.
STOP_SLACK = 3.0


class CrawlService(Service):
    """A crawl that starts with the reactor and stops cleanly with it."""

    _log = Logger()

    def __init__(
        self, config: Config, reactor: Any, stop_reactor: Callable[[], None],
        notifier: SystemdNotifier | None = None, status: StatusListener | None = None,
    ) -> None:
        self.config = config
        self._reactor = reactor
        self._stop_reactor = stop_reactor
        self.notifier = notifier or SystemdNotifier({}, reactor)
        self.metrics = Metrics(enabled=bool(config.status_endpoint))  # no reader, no cost
        self.monitor: Monitor | None = None
        self.exit_code = 0
        self.store: Store | None = None
        self.crawler: Crawler | None = None
        self.pacer: Pacer | None = None
        self._agent: LeanAgent | None = None
        self._refresh: LoopingCall | None = None
        self._optouts: OptOutWatch | None = None
        self._heartbeat: LoopingCall | None = None
        self._sent: deque[tuple[float, int]] = deque()  # (time, requests so far), the last minute
        self._starting: Deferred[None] | None = None
        self.app: AppTokens | None = None
        self._status = status  # the status endpoint, bound while the options were read

    def startService(self) -> None:
        super().startService()
        self._starting = Deferred.fromCoroutine(self._start())
        self._starting.addErrback(self._start_failed)

    def _start_failed(self, failure: Failure) -> None:
        if failure.check(GhcrawlError):
            self.fatal(failure.getErrorMessage(), 2 if failure.check(AppConfigError) else 1)
        elif not failure.check(Exception) or failure.check(KeyboardInterrupt):
            return
        else:
            self._log.failure("ghcrawl could not start", failure)
            self.fatal(f"could not start: {failure.getErrorMessage()}")

    def fatal(self, reason: str, exit_code: int = 1) -> None:
        """Stop the whole process with one error line and a non-zero exit status."""
        if self.exit_code == 0:
            self._log.error("ghcrawl: {reason}", reason=reason)
            self.exit_code = exit_code
            self._reactor.callLater(0, self._stop_reactor)

    async def _start(self) -> None:
        config, clock = self.config, self._reactor
        for warning in config.warnings:
            self._log.warn("{warning}", warning=warning)
        endpoints = OriginEndpoints(clock, tls_policy(config.ca_file), config.request_timeout)
        agent = self._agent = LeanAgent(clock, endpoints, max_idle=config.concurrency)
        self.pacer = Pacer([], config.concurrency, reserve=config.rate_limit_reserve,
                           secondary_wait=config.secondary_limit_wait)
        github = GitHub(agent, clock, self.pacer, config.api_url, config.request_timeout, self.metrics,
                        max_body_bytes=config.max_body_bytes)
        # Tokens first: a rejected token must not leave a database behind.
        credentials = await self._check_tokens(github)
        self.store = store = open_store(config.db, config.max_depth, worker=config.worker_name or default_worker_name(),
                                        lease_timeout=config.lease_timeout, clock=clock)
        await store.migrate()
        await store.set_personal_data(config.personal_data)
        self._optouts = OptOutWatch(store, clock, config.optout_file, config.poll_interval)
        await self._optouts.start()
        await self._restore_budgets(store)
        recovered = await store.recover_leases(clock.seconds(), await self._dead_workers(store))
        await store.register(socket.gethostname(), os.getpid(), clock.seconds())
        self._heartbeat = LoopingCall(self._beat)
        self._heartbeat.clock = clock
        self._heartbeat.start(config.lease_timeout / 3, now=False).addErrback(
            lambda f: self._log.failure("heartbeat scheduling stopped", f))
        for login in await store.opted_out(config.seeds):
            self._log.warn("seed {login} refused: this person opted out", login=login)
        added = await store.add_seeds(config.seeds)
        reachable = await store.enqueue_reachable()
        refreshed = 0
        if config.once:
            refreshed = await store.requeue_stale(clock.seconds() - config.refresh_after, clock.seconds())
        self._log.info(
            "database {db} open as {worker}: {added} new seeds, {recovered} leases recovered, {reachable} users newly in reach, "
            "{refreshed} tasks due for refresh", db=redact(config.db), added=added, recovered=recovered,
            reachable=reachable, refreshed=refreshed, worker=store.worker,
        )
        ledger = Ledger(store, self.pacer, clock, chunk=4 * config.concurrency, keep=config.rate_limit_reserve,
                        wake=lambda: self.crawler.poke() if self.crawler is not None else None)
        ledger.share()
        self.crawler = Crawler(
            store, github, self.pacer, clock, credentials,
            max_attempts=config.max_attempts, retry_base=config.retry_base, retry_max=config.retry_max,
            poll_interval=config.poll_interval, once=config.once,
            on_finished=self._finished, on_fatal=self.fatal, on_limited=self._save_budgets_soon,
            on_first_claim=self._ready, on_pump=ledger.top_up, metrics=self.metrics,
            renew=self.app.renew if self.app else None,
            outage_probe_max=config.outage_probe_max, on_outage=self._report_soon,
        )
        if self.app is not None:
            self.app.on_refused = self.crawler.retire
            self.app.on_added = self._adopt_installation
        self.monitor = Monitor(clock, store, self.crawler, self.pacer, self.metrics, self.notifier,
                               config.progress_interval, self._save_budgets)
        if config.status_endpoint:
            await self.monitor.listen(config.status_endpoint, self._status)
        self._optouts.frontier = self.crawler
        if self.running:
            self.crawler.start()
            self.monitor.start()
            self._optouts.run()
            if not config.once:
                self._refresh = LoopingCall(self._requeue_stale)
                self._refresh.clock = clock
                self._refresh.start(min(max(config.refresh_after / 10, 1.0), 600.0), now=False).addErrback(
                    lambda f: self._log.failure("refresh scheduling stopped", f))

    async def _dead_workers(self, store: Store) -> list[str]:
        """Daemons of this host whose process is gone: their leases need not wait to expire."""
        host, dead = socket.gethostname(), []
        for worker in await store.workers():
            if worker.host == host and worker.pid != os.getpid() and not _alive(worker.pid):
                dead.append(worker.name)
        return dead

    async def _beat(self) -> None:
        """Keep this daemon's leases alive and say how busy it is; an outage only delays the next beat."""
        if self.store is None:
            return
        now = self._reactor.seconds()
        sent = self.crawler.requests if self.crawler is not None else 0
        self._sent.append((now, sent))
        while len(self._sent) > 1 and self._sent[1][0] <= now - 60:
            self._sent.popleft()
        try:
            await self.store.heartbeat(now, sent - self._sent[0][1])
        except Exception:
            self._log.failure("heartbeat failed")

    async def _check_tokens(self, github: GitHub) -> dict[str, list[Credential | None]]:
        """Check each token once and group tokens by the account whose budget they spend."""
        assert self.pacer is not None
        groups: dict[str, list[Credential | None]] = await self._check_app(github)
        if groups and not self.config.credentials:
            return groups
        if not self.config.credentials:
            self._log.warn("no GitHub token: crawling at the unauthenticated budget (60 requests/hour)")
            probe = Budget("anonymous", in_flight=1)
            self.pacer.budgets.append(probe)
            await self._probe(github, "/rate_limit", probe, None)
            return {"anonymous": [None]}
        # Checked side by side: a start-up waits one round trip, however many tokens there are.
        checks = [Deferred.fromCoroutine(self._account(github, cred)) for cred in self.config.credentials]
        try:
            checked_all = await gatherResults(checks, consumeErrors=True)
        except FirstError as e:
            e.subFailure.raiseException()  # the first check's own error (a TLS failure, say)
        for cred, checked in zip(self.config.credentials, checked_all, strict=True):
            if checked is None:
                continue
            account, probe = checked
            groups.setdefault(account, []).append(cred)
            if all(b.budget_id != account for b in self.pacer.budgets):
                probe.budget_id = account
                self.pacer.budgets.append(probe)
        if not groups:
            raise GhcrawlError("no usable token: every token was rejected (401 Bad credentials)")
        return groups

    async def _check_app(self, github: GitHub) -> dict[str, list[Credential | None]]:
        """Each installation of the configured App is a budget of its own."""
        assert self.pacer is not None
        if self.config.app is None:
            return {}
        from ghcrawl.installations import AppTokens  # only an App run signs JWTs

        self.app = AppTokens(self.config.app, github, self._reactor, rescan_every=self.config.app_rescan_interval)
        groups: dict[str, list[Credential | None]] = {}
        for cred in await self.app.start():
            self.pacer.budgets.append(Budget(cred.token_id))
            groups[cred.token_id] = [cred]
        return groups

    def _adopt_installation(self, cred: Credential) -> None:
        """An installation added while crawling: its budget draws on the ledger like the others."""
        if self.crawler is not None:
            self.crawler.adopt(Budget(cred.token_id, granted=0), [cred])

    async def _restore_budgets(self, store: Store) -> None:
        """Carry budget state over a restart, so a restart loop cannot burst into a limit."""
        assert self.pacer is not None
        saved = await store.load_budgets()
        now = self._reactor.seconds()
        for budget in self.pacer.budgets:
            remaining, reset_at, limited_until = saved.get(budget.budget_id, (None, 0.0, 0.0))
            if budget.remaining is None and remaining is not None and reset_at > now:
                budget.remaining, budget.reset_at = remaining, reset_at
            self.pacer.paused_until = max(self.pacer.paused_until, limited_until)

    async def _account(self, github: GitHub, cred: Credential) -> tuple[str, Budget] | None:
        """Name the account a token spends (GitHub counts budgets per account, not per token)."""
        probe = Budget(cred.token_id, in_flight=1)
        # One token: the free /rate_limit checks it. Several: /user tells whose each is.
        url = "/user" if len(self.config.credentials) > 1 else "/rate_limit"
        try:
            result = await self._probe(github, url, probe, cred)
        except BadCredentials as e:
            if len(self.config.credentials) > 1 or self.config.app is not None:
                self._log.error("{reason}; continuing without it", reason=str(e))
            return None
        account = cred.token_id
        if url == "/user" and isinstance(result, Fetched) and isinstance(result.body, dict):
            if isinstance(result.body.get("id"), int):
                account = f"account-{result.body['id']}"
        return account, probe

    async def _probe(self, github: GitHub, url: str, budget: Budget, cred: Credential | None) -> Result | None:
        """Make the start-up request; a TLS failure is fatal, other trouble only a warning."""
        try:
            return await github.fetch(url, budget, cred)
        except FetchError as e:
            if not e.retryable:
                raise GhcrawlError(e.reason) from None
            self._log.warn("start-up check of {url} failed: {reason}", url=url, reason=e.reason)
        except RateLimited as e:
            self._log.warn("start-up check of {url}: {reason}", url=url, reason=e.reason)
        return None

    def _budget_rows(self) -> list[tuple[str, int | None, float, float]]:
        assert self.pacer is not None
        return [(b.budget_id, b.remaining, b.reset_at, self.pacer.paused_until) for b in self.pacer.budgets]

    def _save_budgets_soon(self) -> None:
        """Persist a limit at once, so even kill -9 right after cannot forget it."""
        if self.store is not None and self.pacer is not None:
            saving = Deferred.fromCoroutine(self.store.save_budgets(self._budget_rows(), self._reactor.seconds()))
            saving.addErrback(lambda f: self._log.failure("could not save the rate-limit state", f))

    async def _requeue_stale(self) -> None:
        """Daemon mode: put work finished more than ``refresh_after`` ago back, to re-fetch conditionally."""
        if self.store is None or self.crawler is None:
            return
        now = self._reactor.seconds()
        count = await self.store.requeue_stale(now - self.config.refresh_after, now)
        if count:
            self._log.info("refresh: {count} tasks older than {age:.0f}s queued again", count=count,
                           age=self.config.refresh_after)
            self.crawler.poke()

    def _ready(self) -> None:
        """Database open and the first batch claimed: tell systemd what is crawled, start the watchdog."""
        announcing = Deferred.fromCoroutine(self._announce())
        announcing.addErrback(lambda f: self._log.failure("could not announce readiness", f))

    async def _announce(self) -> None:
        assert self.store is not None
        counts = await self.store.progress()
        self.notifier.ready(summary.ready_line(counts, self.config.seeds, self.config.db))
        self.notifier.start_watchdog()
        if not any(counts.get(s, 0) for s in ("pending", "leased", "done", "failed")) and not self.config.once:
            self._log.warn("{waiting}", waiting=summary.waiting_line(self.config.db))

    def _report_soon(self) -> None:
        """An outage began or ended: show it in STATUS= and the gauges now, not at the next tick."""
        if self.monitor is not None:
            reporting = Deferred.fromCoroutine(self.monitor.report())
            reporting.addErrback(lambda f: self._log.failure("could not report the outage", f))

    def _finished(self) -> None:
        """``--once`` ran out of work: exit 0, or 3 when tasks are left failed."""
        closing = Deferred.fromCoroutine(self._close_once())
        closing.addErrback(lambda f: self._log.failure("could not count failed tasks", f))
        closing.addBoth(lambda _: self._stop_reactor())

    async def _close_once(self) -> None:
        assert self.store is not None
        failed, reason = await self.store.failures()
        line = summary.failed_line(failed, reason)
        if line is not None:
            self._log.error("{line}", line=line)
            self.exit_code = 3

    async def _save_budgets(self) -> None:
        if self.store is not None and self.pacer is not None:
            await self.store.save_budgets(self._budget_rows(), self._reactor.seconds())

    def stopService(self) -> Deferred[None]:
        super().stopService()
        stopping = Deferred.fromCoroutine(self._stop())
        stopping.addTimeout(self.config.grace + STOP_SLACK, self._reactor)
        stopping.addErrback(lambda f: self._log.warn("stop did not finish cleanly: {e}", e=f.getErrorMessage()))
        return stopping

    async def _stop(self) -> None:
        if self._starting is not None and not self._starting.called:
            self._starting.cancel()
        in_flight = self.crawler.in_flight if self.crawler is not None else 0
        self.notifier.stopping(self.config.grace + STOP_SLACK + 5, f"stopping: draining {in_flight} requests")
        self.notifier.stop_watchdog()
        if self._refresh is not None and self._refresh.running:
            self._refresh.stop()
        if self._optouts is not None:
            self._optouts.stop()
        if self._heartbeat is not None and self._heartbeat.running:
            self._heartbeat.stop()
        if self.app is not None:
            self.app.stop()
        if self.monitor is not None:
            await self.monitor.stop()
        if self.crawler is not None:
            self._log.info("stopping: draining {n} requests in flight (grace {grace}s)",
                           n=self.crawler.in_flight, grace=self.config.grace)
            cancelled = await self.crawler.drain(self.config.grace)
            if cancelled and self.store is not None:
                await self.store.release(cancelled)
        await self._save_budgets()
        if self.store is not None and self._heartbeat is not None:
            await self.store.unregister()
        if self._agent is not None:
            closing = self._agent.closeCachedConnections()
            closing.addTimeout(1.0, self._reactor)
            try:
                await closing
            except Exception:
                pass
        if self.store is not None:
            self.store.close()
        self._log.info("stopped cleanly")
        self.notifier.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
