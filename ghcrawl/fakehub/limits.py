"""Primary budgets in fixed windows and secondary-limit waits, per budget key.

A budget key is the user owning the token (so all of a user's tokens share
one budget, as on GitHub) or "anonymous" for requests without a token.
"""

from __future__ import annotations

import math

from attrs import Factory, define, frozen


@frozen
class Quota:
    """One key's standing in its current window."""

    limit: int
    used: int
    reset: int

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    def headers(self) -> list[tuple[bytes, bytes]]:
        """The five x-ratelimit-* headers GitHub sends on every answer."""
        return [
            (b"x-ratelimit-limit", b"%d" % self.limit),
            (b"x-ratelimit-remaining", b"%d" % self.remaining),
            (b"x-ratelimit-reset", b"%d" % self.reset),
            (b"x-ratelimit-used", b"%d" % self.used),
            (b"x-ratelimit-resource", b"core"),
        ]


@define
class _Window:
    start: float
    used: int = 0


@define
class Budgets:
    """Windows open on a key's first request and last ``window`` seconds."""

    window: float
    _windows: dict[str, _Window] = Factory(dict)
    _waits: dict[str, float] = Factory(dict)
    _wait_starts: dict[str, float] = Factory(dict)
    #: Units used in each window that has ended (how well a client used its budget).
    closed: list[int] = Factory(list)

    def _current(self, key: str, now: float) -> _Window:
        found = self._windows.get(key)
        if found is None or now >= found.start + self.window:
            if found is not None:
                self.closed.append(found.used)
            found = self._windows[key] = _Window(start=now)
        return found

    def quota(self, key: str, limit: int, now: float) -> Quota:
        """The key's quota now, opening a fresh window when the old one ended."""
        current = self._current(key, now)
        return Quota(limit, min(current.used, limit), math.ceil(current.start + self.window))

    def charge(self, key: str, now: float) -> None:
        """Spends one unit of the key's budget."""
        self._current(key, now).used += 1

    def waiting(self, key: str, now: float) -> bool:
        """True while the key sits inside a secondary-limit wait."""
        return now < self._waits.get(key, 0.0)

    def hold(self, key: str, until: float, now: float) -> None:
        """Starts (or extends) a secondary-limit wait."""
        if not self.waiting(key, now):
            self._wait_starts[key] = now
        self._waits[key] = max(until, self._waits.get(key, 0.0))

    def sent_while_told(self, key: str, now: float, grace: float) -> bool:
        """True when a request inside a wait came too late to have been in flight already."""
        return now >= self._wait_starts.get(key, 0.0) + grace

    def clear(self) -> None:
        """Forgets every window and wait."""
        self._windows.clear()
        self._waits.clear()
        self._wait_starts.clear()
        self.closed.clear()
