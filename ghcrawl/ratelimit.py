"""The pacer: rate-limit headers and Retry-After in, "may I send, and with which token" out.

Pure logic with no I/O and no clock of its own (``now`` is always passed in), so
every decision is testable with plain numbers. Rules follow GitHub's documentation
(docs.github.com, "Rate limits for the REST API"; "Best practices for using the
REST API"): wait until ``x-ratelimit-reset`` + 1 s when ``remaining`` is spent; on a
secondary limit honour ``retry-after``, else wait until reset if ``remaining`` is 0,
else at least a minute with exponential backoff; never more than 100 in flight.
"""

from __future__ import annotations

from email.utils import parsedate_to_datetime

from attrs import define, field, frozen

#: GitHub's cap on concurrent requests (secondary limits).
GITHUB_MAX_CONCURRENCY = 100
#: Seconds between looks at a shared budget being refilled.
SHARED_POLL = 0.1
#: Seconds added to ``x-ratelimit-reset`` before sending again (clock skew, rounding).
RESET_MARGIN = 1.0


@frozen
class RateInfo:
    """What one response's ``x-ratelimit-*`` headers say about the budget."""

    limit: int
    remaining: int
    reset_at: float


def parse_rate_headers(
    limit: str | None, remaining: str | None, reset: str | None
) -> RateInfo | None:
    """Read the three budget headers; None when any is absent or not a number."""
    try:
        if limit is None or remaining is None or reset is None:
            return None
        return RateInfo(int(limit), max(0, int(remaining)), float(int(reset)))
    except ValueError:
        return None


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Return seconds to wait from a ``retry-after`` header (seconds or HTTP date)."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError, IndexError):
        return None


@define
class Budget:
    """The primary budget of one GitHub account, shared by every token it owns."""

    budget_id: str
    remaining: int | None = None
    limit: int | None = None
    reset_at: float = 0.0
    in_flight: int = 0
    # Shared with other daemons (see ``ledger``): requests reserved and not yet sent,
    # valid until the window they came from ends; None when not shared.
    granted: int | None = None
    granted_until: float = 0.0
    refill_at: float = 0.0

    def observe(self, info: RateInfo) -> None:
        """Learn from a response; within one window the lowest ``remaining`` wins."""
        if info.reset_at > self.reset_at or self.remaining is None:
            self.remaining, self.reset_at = info.remaining, info.reset_at
        else:
            self.remaining = min(self.remaining, info.remaining)
        self.limit = info.limit

    def spent(self, until: float) -> None:
        """Record an exhausted budget that GitHub says refills at ``until``."""
        self.remaining = 0
        self.reset_at = max(self.reset_at, until - RESET_MARGIN)
        if self.granted is not None:
            self.granted, self.refill_at = 0, until

    def available(self, now: float, reserve: int) -> int:
        """Requests that may start now without any chance of overrunning the budget."""
        if self.granted is not None:
            return self.granted if now < self.granted_until else 0
        if self.remaining is None or now >= self.reset_at + RESET_MARGIN:
            # Unknown window: one probe at a time until headers tell us more.
            return max(0, 1 - self.in_flight)
        return max(0, self.remaining - reserve - self.in_flight)

    def ready_at(self, now: float) -> float:
        """When this budget can next send, if it cannot now."""
        if self.granted is not None:
            return max(now + SHARED_POLL, self.refill_at)
        return self.reset_at + RESET_MARGIN if self.reset_at + RESET_MARGIN > now else now


@define
class Pacer:
    """Owns every decision of when a request may go and which budget pays for it."""

    budgets: list[Budget]
    max_concurrency: int
    reserve: int = 0
    secondary_wait: float = 60.0
    secondary_max_wait: float = 3600.0
    grow_every: int = 20
    concurrency: int = field(default=0)
    paused_until: float = 0.0
    strikes: int = 0
    clean: int = 0

    def __attrs_post_init__(self) -> None:
        self.max_concurrency = max(1, min(self.max_concurrency, GITHUB_MAX_CONCURRENCY))
        self.concurrency = self.concurrency or self.max_concurrency

    @property
    def in_flight(self) -> int:
        return sum(b.in_flight for b in self.budgets)

    def allowance(self, now: float) -> tuple[int, float | None]:
        """How many requests may start now, and if none, when to ask again."""
        if not self.budgets:
            return 0, None
        if now < self.paused_until:
            return 0, self.paused_until
        slots = self.concurrency - self.in_flight
        budget = sum(b.available(now, self.reserve) for b in self.budgets)
        if budget <= 0:
            waiting = [b.ready_at(now) for b in self.budgets if b.in_flight == 0]
            return 0, (min(waiting) if waiting else None)
        return max(0, min(slots, budget)), None

    def take(self, now: float) -> Budget | None:
        """Pick the budget with the most headroom and count a request against it.

        A budget whose window is still unknown goes first when it may send: its one
        probe opens the window (an installation added mid-crawl would otherwise wait
        behind budgets that always have more headroom than one probe).
        """
        if now < self.paused_until or self.in_flight >= self.concurrency:
            return None
        best, best_key = None, (False, 0)
        for budget in self.budgets:
            available = budget.available(now, self.reserve)
            key = (available > 0 and budget.remaining is None, available)
            if key > best_key:
                best, best_key = budget, key
        if best is None:
            return None
        best.in_flight += 1
        if best.granted is not None:
            best.granted -= 1
        return best

    def answered(self, budget: Budget, info: RateInfo | None, *, clean: bool) -> None:
        """A request paid by ``budget`` came back; learn its headers, maybe grow."""
        budget.in_flight = max(0, budget.in_flight - 1)
        if info is not None:
            budget.observe(info)
        if clean:
            self.clean += 1
            if self.clean >= self.grow_every:
                self.clean = 0
                self.strikes = max(0, self.strikes - 1)
                self.concurrency = min(self.max_concurrency, self.concurrency + 1)

    def secondary_limited(
        self, now: float, retry_after: float | None, budget: Budget | None
    ) -> float:
        """Pause everything after a secondary limit; return when sending may resume."""
        if now < self.paused_until:
            # Answers to requests already in flight when the pause began: one limit, one strike.
            return self.paused_until
        if retry_after is not None:
            wait = retry_after
        elif budget is not None and budget.remaining == 0 and budget.reset_at > now:
            wait = budget.reset_at + RESET_MARGIN - now
        else:
            wait = min(self.secondary_wait * 2**self.strikes, self.secondary_max_wait)
        self.strikes += 1
        self.clean = 0
        self.concurrency = max(1, self.concurrency // 2)
        self.paused_until = max(self.paused_until, now + wait)
        return self.paused_until

    def remove(self, budget: Budget) -> None:
        """Stop using a budget whose token was rejected."""
        if budget in self.budgets:
            self.budgets.remove(budget)
