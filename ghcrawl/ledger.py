"""Budgets shared, not multiplied: a daemon spends only requests it reserved in the database.

Every daemon holding a token of one account reserves that account's requests a
chunk at a time from the ledger row (``store.reserve``), so N daemons together
never send more than GitHub's budget, and each pays only one short transaction
per chunk. A secondary-limit pause any daemon met is in the row too, and every
reservation brings it to the others. With K accounts, K budgets run in parallel.
The same on both engines: daemons on one SQLite file share their budgets as those
on one PostgreSQL database do, and a lone daemon pays one transaction per chunk.
"""

from __future__ import annotations

from collections.abc import Callable

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from ghcrawl.ratelimit import Budget, Pacer
from ghcrawl.store import Store
from ghcrawl.store.budgets import RESET_MARGIN

#: Seconds a probe grant (window over or unknown) stays valid, and before another is granted.
PROBE_FOR = 10.0
#: Seconds before asking again after the ledger had nothing to give within the window.
RETRY_EMPTY = 0.5


class Ledger:
    """Keeps each shared budget topped up with reserved requests."""

    _log = Logger()

    def __init__(self, store: Store, pacer: Pacer, clock: IReactorTime, chunk: int, keep: int,
                 wake: Callable[[], None]) -> None:
        self._store, self._pacer, self._clock = store, pacer, clock
        self._chunk, self._keep, self._wake = max(1, chunk), keep, wake
        self._busy = False

    def share(self) -> None:
        """From now on every budget spends only what it reserved."""
        for budget in self._pacer.budgets:
            budget.granted = 0

    def top_up(self) -> None:
        """Reserve more for budgets running low (cheap to call on every loop turn)."""
        if self._busy:
            return
        now = self._clock.seconds()
        low = [b for b in self._pacer.budgets
               if b.granted is not None and now >= b.refill_at and b.available(now, 0) < (self._chunk + 1) // 2]
        if not low:
            return
        self._busy = True
        refill = Deferred.fromCoroutine(self._refill(low))
        refill.addErrback(lambda f: self._log.failure("could not reserve budget", f))

    async def _refill(self, budgets: list[Budget]) -> None:
        try:
            for budget in budgets:
                await self._reserve(budget)
        finally:
            self._busy = False
            self._wake()

    async def _reserve(self, budget: Budget) -> None:
        now = self._clock.seconds()
        held = budget.available(now, 0)
        grant = await self._store.reserve(budget.budget_id, self._chunk - held, now,
                                          (budget.remaining, budget.reset_at), held + budget.in_flight,
                                          self._keep, PROBE_FOR)
        now = self._clock.seconds()
        if now >= budget.granted_until:
            budget.granted = 0  # what was left of an ended window is void
        budget.granted = (budget.granted or 0) + grant.requests
        budget.granted_until = grant.valid_until
        self._pacer.paused_until = max(self._pacer.paused_until, grant.limited_until)
        if grant.requests:
            budget.refill_at = 0.0
        elif grant.left is not None and now < grant.reset_at and (
                grant.left <= self._keep or now >= grant.reset_at - RESET_MARGIN):
            budget.refill_at = grant.reset_at  # spent by all of us, or ending: wait for the next window
        else:
            budget.refill_at = now + RETRY_EMPTY
