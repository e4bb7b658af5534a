"""Telling an outage of the API from failures of single URLs, and waiting one out.

A transport failure or a 5xx says nothing by itself: one repository may answer
502 while the rest answer 200, or the whole API may be down. So such a failure
is judged only by what follows it. It counts as an attempt against its task
once the API answers a request sent *after* the failure (the API is up, so this
URL is the problem); it does not count if an outage is declared first. When no
answer settles a failure within ``settle`` seconds, or ``streak`` distinct tasks
fail in a row with no answer between them, the free ``/rate_limit`` is probed:
its answer settles every failure before it, its failure starts the outage.

During an outage nothing is fetched, failures never count, and the probe is
repeated with exponential backoff (1, 2, 4... seconds, capped at ``probe_max``);
the first answer ends the outage. An outage of any length therefore cannot use
up a task's attempts: only answers sent after a failure make it count.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from twisted.internet.defer import CancelledError, Deferred, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from ghcrawl.metrics import Metrics

#: A probe: None when the API answered, else why it did not.
Probe = Callable[[], Awaitable[str | None]]


def stamp(t: float) -> str:
    """UTC time of day to the second, as the status line shows it."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


class Outage:
    """Decides whether failures are the API's outage, and probes until it is over."""

    _log = Logger()

    def __init__(
        self, clock: IReactorTime, probe: Probe, *, probe_max: float = 60.0, settle: float = 1.0,
        streak: int = 3, metrics: Metrics | None = None, on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self._clock, self._probe = clock, probe
        self.probe_max, self._settle, self._streak_limit = probe_max, settle, streak
        self._metrics, self._on_change = metrics, on_change
        self.since: float | None = None
        self.reason = ""
        self.count = 0
        self._streak: set[int] = set()
        self._waiting: list[tuple[float, Deferred[bool]]] = []
        self._backoff = 1.0
        self._call: IDelayedCall | None = None
        self._in_probe = False
        self._probing: Deferred[None] | None = None

    @property
    def active(self) -> bool:
        """Whether the API is down: nothing should be fetched."""
        return self.since is not None

    def describe(self, now: float) -> dict[str, Any] | None:
        """The outage for /status and the progress line, or None."""
        if self.since is None:
            return None
        return {"since": self.since, "since_iso": stamp(self.since), "seconds": round(now - self.since, 1),
                "reason": self.reason}

    def answered(self, sent_at: float) -> None:
        """The API answered a request sent at ``sent_at``: failures before it were the URL's own."""
        self._streak.clear()
        settled = [d for t, d in self._waiting if t <= sent_at]
        self._waiting = [(t, d) for t, d in self._waiting if t > sent_at]
        for d in settled:
            d.callback(True)
        if self.since is not None and sent_at >= self.since:
            self._end()
        elif self.since is None and not self._waiting and self._call is not None and self._call.active():
            self._call.cancel()  # nothing left to settle: no probe needed
            self._call = None

    def failed(self, task_id: int, reason: str) -> Deferred[bool]:
        """A transport failure or 5xx of ``task_id``: fires whether it counts as an attempt."""
        if self.since is not None:
            return succeed(False)
        judged: Deferred[bool] = Deferred(lambda d: self._forget(d))
        self._waiting.append((self._clock.seconds(), judged))
        self._streak.add(task_id)
        self.reason = reason
        if len(self._streak) >= self._streak_limit:
            self._probe_now()
        elif self._call is None and not self._in_probe:
            self._call = self._clock.callLater(self._settle, self._probe_now)
        return judged

    def stop(self) -> None:
        """Cancel the pending probe (at shutdown)."""
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None
        if self._probing is not None:
            self._probing.cancel()

    def _forget(self, judged: Deferred[bool]) -> None:
        self._waiting = [(t, d) for t, d in self._waiting if d is not judged]

    def _probe_now(self) -> None:
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None
        if self._in_probe:
            return
        self._in_probe = True
        probing = Deferred.fromCoroutine(self._run_probe())
        probing.addErrback(self._probe_crashed)
        self._probing = None if probing.called else probing

    async def _run_probe(self) -> None:
        sent = self._clock.seconds()
        try:
            why = await self._probe()
        except CancelledError:
            raise
        except Exception as e:
            self._log.failure("outage probe crashed")
            why = f"probe crashed: {e}"
        finally:
            self._in_probe = False
            self._probing = None
        if why is None:
            self.answered(sent)
        else:
            if self.since is None:
                self._begin(why)
            self._call = self._clock.callLater(self._backoff, self._probe_now)
            self._backoff = min(self._backoff * 2, self.probe_max)
        if self._waiting and self._call is None:
            self._call = self._clock.callLater(self._settle, self._probe_now)

    def _probe_crashed(self, failure: Failure) -> None:
        if not failure.check(CancelledError):
            self._log.failure("outage probe crashed", failure)

    def _begin(self, reason: str) -> None:
        self.since = self._clock.seconds()
        self.reason = reason
        self.count += 1
        self._backoff = 1.0
        self._log.warn("API outage started: {reason}; fetching paused, probing /rate_limit "
                       "(backoff up to {cap:.0f}s); no task spends an attempt meanwhile",
                       reason=reason, cap=self.probe_max)
        if self._metrics is not None:
            self._metrics.outage.set(1)
            self._metrics.outages.inc()
        waiting, self._waiting = self._waiting, []
        for _, d in waiting:
            d.callback(False)
        self._on_change()

    def _end(self) -> None:
        assert self.since is not None
        took = self._clock.seconds() - self.since
        self.since = None
        self._streak.clear()
        self._backoff = 1.0
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None
        self._log.info("API outage over after {seconds:.1f}s; fetching resumed", seconds=took)
        if self._metrics is not None:
            self._metrics.outage.set(0)
        self._on_change()
