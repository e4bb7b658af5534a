"""Counters the tests and benchmarks read to judge a client's manners."""

from __future__ import annotations

from collections import Counter
from typing import Any

from attrs import Factory, define


@define
class Stats:
    """What the hub has seen since start or the last reset."""

    requests: int = 0
    by_endpoint: Counter[str] = Factory(Counter)
    by_status: Counter[str] = Factory(Counter)
    not_modified: int = 0
    faults: int = 0
    violations: int = 0
    secondary_limited: int = 0
    secondary_violations: int = 0
    peak_concurrency: int = 0
    in_flight: int = 0
    charged: int = 0
    # When the first API request since the reset arrived and the last one ended: the span a
    # client's traffic took, to the clock's resolution (benchmarks divide requests by it).
    first_at: float | None = None
    last_at: float | None = None

    def begin(self, endpoint: str, now: float) -> None:
        """Counts an arriving API request and tracks concurrency."""
        if self.first_at is None:
            self.first_at = now
        self.requests += 1
        self.by_endpoint[endpoint] += 1
        self.in_flight += 1
        self.peak_concurrency = max(self.peak_concurrency, self.in_flight)

    def end(self, now: float) -> None:
        """Marks a request finished or abandoned by its client."""
        self.in_flight -= 1
        self.last_at = now

    def reset(self) -> None:
        """Zeroes every counter except requests still in flight."""
        in_flight = self.in_flight
        self.__init__()  # type: ignore[misc]
        self.in_flight = in_flight

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape of GET /__fakehub/stats."""
        return {
            "requests": self.requests, "by_endpoint": dict(self.by_endpoint),
            "by_status": dict(self.by_status), "not_modified": self.not_modified,
            "faults": self.faults, "violations": self.violations,
            "secondary_limited": self.secondary_limited,
            "secondary_violations": self.secondary_violations,
            "peak_concurrency": self.peak_concurrency, "in_flight": self.in_flight,
            "charged": self.charged, "first_at": self.first_at, "last_at": self.last_at,
        }
