"""The pull loop: claim work only for free slots, fetch, hand each page to the store.

Work is claimed from the database only when a concurrency slot and budget are
free, so the ``DeferredSemaphore`` never holds waiters (a long waiter list that
completes synchronously overflows the stack in ``release()``, see
twisted/twisted#9304). Waking the loop is coalesced into one ``callLater(0)`` per
reactor turn, so a thousand instant completions never recurse.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from attrs import evolve
from twisted.internet.defer import CancelledError, Deferred, DeferredList, DeferredSemaphore
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from ghcrawl.credentials import Credential
from ghcrawl.errors import BadCredentials, FetchError, LeaseLost, RateLimited, StoreError
from ghcrawl.github import Final, GitHub, Moved, NotModified, Result, Validators
from ghcrawl.metrics import Metrics, reason_class
from ghcrawl.models import Contribution, Repo, User, items_of
from ghcrawl.outage import Outage
from ghcrawl.ratelimit import Budget, Pacer
from ghcrawl.store import Page, Store, Task
from ghcrawl.store.records import iso

#: Most tasks claimed in one database round trip.
CLAIM_BATCH = 50

#: First look for new work after a claim came back empty. Each further empty look
#: waits twice as long, up to ``poll_interval``: work that other daemons sharing the
#: database are about to create is picked up within moments, a long idle costs little.
IDLE_FIRST_LOOK = 0.05


class Crawler:
    """Runs tasks from the frontier until told to stop, never more than the pacer allows."""

    _log = Logger()

    def __init__(
        self,
        store: Store,
        github: GitHub,
        pacer: Pacer,
        clock: IReactorTime,
        credentials: dict[str, list[Credential | None]],
        *,
        max_attempts: int = 5,
        retry_base: float = 2.0,
        retry_max: float = 600.0,
        poll_interval: float = 5.0,
        once: bool = False,
        on_finished: Callable[[], None] = lambda: None,
        on_fatal: Callable[[str], None] = lambda reason: None,
        on_limited: Callable[[], None] = lambda: None,
        on_first_claim: Callable[[], None] = lambda: None,
        on_pump: Callable[[], None] = lambda: None,
        renew: Callable[[Credential, str], Awaitable[bool]] | None = None,
        metrics: Metrics | None = None,
        rng: random.Random | None = None,
        outage_probe_max: float = 60.0,
        on_outage: Callable[[], None] = lambda: None,
    ) -> None:
        self._store, self._github, self._pacer, self._clock = store, github, pacer, clock
        self._credentials = credentials
        self._max_attempts, self._retry_base, self._retry_max = max_attempts, retry_base, retry_max
        self._poll_interval, self._once = poll_interval, once
        self._on_finished, self._on_fatal, self._on_limited = on_finished, on_fatal, on_limited
        self._on_first_claim: Callable[[], None] | None = on_first_claim
        self._on_pump = on_pump
        self._renew = renew
        self._metrics = metrics or Metrics()
        self._rng = rng or random.Random()
        probe_cred = next((c for creds in credentials.values() for c in creds), None)
        self.outage = Outage(clock, lambda: github.probe(probe_cred), probe_max=outage_probe_max,
                             metrics=self._metrics, on_change=lambda: self._outage_changed(on_outage))
        # Tasks running at once: the requests in flight plus as many pages being stored.
        # The bound keeps what a kill -9 can cost (answers fetched, not yet stored) small.
        self._slots = DeferredSemaphore(2 * pacer.max_concurrency)
        self._running = False
        self._claiming = False
        self._wake_call: IDelayedCall | None = None
        self._in_flight: dict[int, Deferred[None]] = {}
        self._ready: deque[Task] = deque()  # claimed (leased) and waiting for a slot
        self._idle_wait = IDLE_FIRST_LOOK
        self._turn = 0
        self.requests = 0
        self.failed = 0

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    def held(self) -> list[int]:
        """Ids of the tasks claimed and not finished: in flight or waiting for a slot."""
        return [*self._in_flight, *(t.id for t in self._ready)]

    def drop(self, task_ids: Iterable[int]) -> None:
        """Never start these claimed tasks: their work left the frontier (a person opted out)."""
        gone = set(task_ids)
        self._ready = deque(t for t in self._ready if t.id not in gone)

    def start(self) -> None:
        """Begin claiming work."""
        self._running = True
        self._wake()

    def poke(self) -> None:
        """New work may be due: look now rather than at the next poll."""
        self._wake()

    def stop_claiming(self) -> None:
        """Take no new work; tasks in flight finish their current page."""
        self._running = False
        self.outage.stop()
        if self._wake_call is not None and self._wake_call.active():
            self._wake_call.cancel()
        self._wake_call = None

    async def drain(self, grace: float) -> list[int]:
        """Wait up to ``grace`` seconds for work in flight, then cancel the rest."""
        self.stop_claiming()
        pending = list(self._in_flight.items())
        if pending:
            waiting: Deferred[Any] = DeferredList([d for _, d in pending], consumeErrors=True)
            waiting.addTimeout(grace, self._clock)
            try:
                await waiting
            except Exception:
                pass
        cancelled = list(self._in_flight) + [t.id for t in self._ready]
        self._ready.clear()
        for d in list(self._in_flight.values()):
            d.cancel()
        return cancelled

    def _wake(self, delay: float = 0.0) -> None:
        if not self._running:
            return
        when = self._clock.seconds() + delay
        if self._wake_call is not None and self._wake_call.active():
            if self._wake_call.getTime() <= when:
                return
            self._wake_call.cancel()
        self._wake_call = self._clock.callLater(delay, self._pump)

    def _outage_changed(self, on_outage: Callable[[], None]) -> None:
        on_outage()
        self._wake()  # an outage's end: resume at once

    def _pump(self) -> None:
        self._wake_call = None
        if not self._running or self.outage.active:
            return  # the outage's end wakes the loop again
        self._on_pump()  # shared budgets top up their reservations
        now = self._clock.seconds()
        allowed, ask_again = self._pacer.allowance(now)
        idle = allowed  # requests the pacer would send now
        allowed = min(allowed, self._slots.tokens)
        while allowed > 0 and self._ready:
            self._start(self._ready.popleft())
            allowed -= 1
            idle -= 1
        if ask_again is not None:
            self._wake(max(0.0, ask_again - now))
        elif not self._pacer.budgets:
            self._on_fatal("no usable token is left: every token was rejected (401 Bad credentials)")
            return
        # Keep up to one concurrency's worth claimed ahead, so a freed slot starts at once.
        wanted = min(CLAIM_BATCH, allowed + self._pacer.concurrency - len(self._ready), self._slots.tokens)
        if not (self._claiming or wanted <= 0 or ask_again is not None):
            self._claiming = True
            claim = Deferred.fromCoroutine(self._claim(wanted))
            claim.addErrback(self._loop_error)
        if idle > 0:
            # Requests could go out but no task is ready: what they wait for (a claim, the
            # pages whose next page or new work they are) is in the store's queue.
            self._store.flush()

    async def _claim(self, count: int) -> None:
        try:
            tasks = await self._store.claim(count, self._clock.seconds())
        finally:
            self._claiming = False
        if self._on_first_claim is not None:
            first, self._on_first_claim = self._on_first_claim, None
            first()
        if not self._running:
            await self._store.release([t.id for t in tasks])
            return
        self._ready.extend(tasks)
        if tasks:
            self._idle_wait = IDLE_FIRST_LOOK
            self._wake()
        elif not self._in_flight and not self._ready:
            await self._idle()

    async def _idle(self) -> None:
        due = await self._store.next_due()
        busy = bool(self._in_flight or self._ready)
        if due is None and self._once and not busy:
            self._log.info("frontier drained: no work is pending")
            self._running = False
            self.outage.stop()
            self._on_finished()
            return
        # Another daemon's page may add work at any moment, and nothing tells us: look
        # again soon after the last find, then less and less often.
        wait, self._idle_wait = self._idle_wait, min(2 * self._idle_wait, self._poll_interval)
        if due is not None and not busy:
            wait = min(wait, max(0.0, due - self._clock.seconds()))
        self._wake(wait)

    def _loop_error(self, failure: Failure) -> None:
        self._claiming = False
        self._log.failure("crawl loop error; retrying in {delay}s", failure, delay=self._poll_interval)
        self._wake(self._poll_interval)

    def _start(self, task: Task) -> None:
        self._slots.acquire()  # fires at once: we only claim for free slots
        work = Deferred.fromCoroutine(self._work(task))
        self._in_flight[task.id] = work
        work.addErrback(self._work_error, task)
        work.addBoth(self._finished, task)

    def _finished(self, _: object, task: Task) -> None:
        self._in_flight.pop(task.id, None)
        self._slots.release()
        self._wake()

    def _work_error(self, failure: Failure, task: Task) -> None:
        if failure.check(CancelledError):
            return None
        self._log.failure("task {kind} {key} crashed", failure, kind=task.kind, key=task.key)
        failing = Deferred.fromCoroutine(self._store.fail(task, f"internal error: {failure.getErrorMessage()}", self._clock.seconds()))
        failing.addErrback(lambda f: self._log.failure("could not record the failure", f))
        return None

    def _credential(self, budget: Budget) -> Credential | None:
        creds = self._credentials[budget.budget_id]
        self._turn += 1
        return creds[self._turn % len(creds)]

    async def _work(self, task: Task) -> None:
        """Run a task; one whose lease another daemon took over is dropped without a write."""
        try:
            await self._pages(task)
        except LeaseLost as e:
            self._log.warn("{reason}", reason=str(e))

    async def _pages(self, task: Task) -> None:
        """Fetch a task page by page until it is done, waits, fails or we stop."""
        following: Task | None = task
        renewed = False  # a request refused (401) with a renewable token is renewed and sent again once
        while following is not None:
            current = following
            budget = self._pacer.take(self._clock.seconds())
            if budget is None:
                self._ready.appendleft(current)  # still leased; next free slot takes it
                return
            cred = self._credential(budget)
            token_id = cred.token_id if cred else "anonymous"
            used = cred.token if cred else ""
            cached_id, cached = self._validators(current, cred, token_id)
            self.requests += 1
            sent = self._clock.seconds()
            try:
                try:
                    result = await self._github.fetch(current.url, budget, cred, cached)
                    renewed = False
                except (RateLimited, BadCredentials):
                    self.outage.answered(sent)
                    raise
                finally:
                    self._wake()  # the request's slot is free while its page is being stored
                self.outage.answered(sent)
                following = await self._apply(current, result, token_id, cached_id)
            except RateLimited as e:
                self._metrics.waits.labels("secondary" if e.secondary else "primary").inc()
                self._log.warn("{reason}: {kind} {key} waits {wait:.0f}s", reason=e.reason,
                               kind=current.kind, key=current.key, wait=e.until - self._clock.seconds())
                await self._store.retry(current, e.until, e.reason, attempt=False, now=self._clock.seconds())
                self._on_limited()
                self._wake(max(0.0, e.until - self._clock.seconds()))
                return
            except BadCredentials as e:
                if cred is not None and cred.renewable and not renewed and self._renew is not None:
                    renewed = True
                    if await self._renew(cred, used):
                        continue  # the same page again, with the new token; not a failure
                    if self._holds(budget, cred):  # renewal failed for now: the task waits, not the budget
                        await self._store.retry(current, self._clock.seconds() + self._retry_base, str(e),
                                                attempt=False, now=self._clock.seconds())
                        return
                self._retire(budget, cred, str(e))
                await self._store.retry(current, self._clock.seconds(), str(e), attempt=False, now=self._clock.seconds())
                return
            except FetchError as e:
                if e.outage and not await self.outage.failed(current.id, e.reason):
                    # The API is out, not this URL: back without spending an attempt.
                    await self._store.retry(current, self._clock.seconds(), e.reason, attempt=False,
                                            now=self._clock.seconds())
                    return
                await self._retry_or_fail(current, str(e), e.retryable)
                return
            except StoreError as e:
                await self._retry_or_fail(current, str(e), False)
                return
            if following is not None and (not self._running or self.outage.active):
                await self._store.release([following.id])
                return

    def _validators(self, task: Task, cred: Credential | None, token_id: str) -> tuple[str, Validators | None]:
        """What to send back for a conditional request, and under which name it was stored."""
        cached = task.validators.get(token_id)
        if cached is None and cred is not None and cred.renewable:
            # Last-Modified does not depend on the token: another budget's copy serves as well.
            token_id, cached = next(((k, v) for k, v in task.validators.items() if v[1]), (token_id, None))
        return token_id, Validators(cached[0], cached[1]) if cached else None

    async def _apply(self, task: Task, result: Result, token_id: str, cached_id: str) -> Task | None:
        now = self._clock.seconds()
        if isinstance(result, Final):
            if result.outcome not in ("not_found", "empty"):
                self._log.info("{kind} {key}: {message}", kind=task.kind, key=task.key, message=result.message)
            await self._store.finish(task, result.outcome, now)
            return None
        if isinstance(result, Moved):
            if task.attempts + 1 >= self._max_attempts:
                raise FetchError(f"too many redirects (last to {result.location[:200]})", retryable=False)
            await self._store.move(task, result.location, now)
            return evolve(task, url=result.location, validators={}, attempts=task.attempts + 1)
        if isinstance(result, NotModified):
            return await self._store.not_modified(task, Page(task.url, None, now, iso(now), cached_id))
        page = Page(task.url, self._github.relative(result.next_url) if result.next_url else None,
                    now, iso(now), token_id, result.etag, result.last_modified)
        if task.kind == "user":
            following = await self._store.commit_user(task, User.from_api(result.body), page)
            self._metrics.rows.labels("users").inc()
            return following
        if task.kind == "repos":
            repos = [Repo.from_api(i) for i in items_of(result.body)]
            following = await self._store.commit_repos(task, repos, page)
            self._metrics.rows.labels("repos").inc(len(repos))
            return following
        found = [c for c in (Contribution.from_api(i) for i in items_of(result.body)) if c is not None]
        following = await self._store.commit_contributors(task, found, page)
        self._metrics.rows.labels("contributors").inc(len(found))
        return following

    async def _retry_or_fail(self, task: Task, reason: str, retryable: bool) -> None:
        now = self._clock.seconds()
        if retryable and task.attempts + 1 < self._max_attempts:
            self._metrics.retries.labels(reason_class(reason)).inc()
            delay = min(self._retry_max, self._retry_base * 2**task.attempts)
            delay *= 0.5 + self._rng.random() / 2
            self._log.warn("{kind} {key}: {reason}; retry {n} in {delay:.1f}s", kind=task.kind,
                           key=task.key, reason=reason, n=task.attempts + 1, delay=delay)
            await self._store.retry(task, now + delay, reason, attempt=True, now=now)
            self._wake(delay)
        else:
            self.failed += 1
            self._metrics.failures.labels(reason_class(reason)).inc()
            self._log.error("{kind} {key} failed: {reason}", kind=task.kind, key=task.key, reason=reason)
            await self._store.fail(task, reason, now)

    def _holds(self, budget: Budget, cred: Credential) -> bool:
        return cred in self._credentials.get(budget.budget_id, [])

    def adopt(self, budget: Budget, creds: list[Credential | None]) -> None:
        """Spend a budget that appeared while crawling (an App installed on one more account)."""
        self._credentials[budget.budget_id] = creds
        self._pacer.budgets.append(budget)
        self._wake()

    def retire(self, cred: Credential, reason: str) -> None:
        """Stop using a credential GitHub refused outside a request (an App that lost its key)."""
        for budget in list(self._pacer.budgets):
            if self._holds(budget, cred):
                self._retire(budget, cred, reason)

    def _retire(self, budget: Budget, cred: Credential | None, reason: str) -> None:
        creds = self._credentials.get(budget.budget_id, [])
        if cred in creds:
            creds.remove(cred)
            self._log.error("{reason}; continuing without it", reason=reason)
        if not creds:
            self._pacer.remove(budget)
        if not self._pacer.budgets:
            self._on_fatal("no usable token is left: every token was rejected (401 Bad credentials)")
