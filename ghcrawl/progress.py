"""Progress and ETA: how much is discovered, how much done, and when the current depth ends.

The ETA for the current depth comes from the recent task rate and, when the
budget will run out first, from the remaining budget and its reset times.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

from ghcrawl import __version__
from ghcrawl.ratelimit import Pacer

#: Seconds of history the rates are measured over.
RATE_SPAN = 120.0
#: GitHub's primary window, for budgets that must refill more than once.
WINDOW = 3600.0


class Progress:
    """Keeps a short history of counters to turn them into rates and an ETA."""

    def __init__(self) -> None:
        self._samples: deque[tuple[float, int, int]] = deque()  # (time, requests, tasks done)

    def status(
        self, now: float, counts: dict[str, int], by_depth: list[tuple[int, str, str, int]],
        requests: int, in_flight: int, pacer: Pacer, outage: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The status document of ``/status``, ``ghcrawl status`` and the progress line."""
        self._samples.append((now, requests, counts.get("done", 0)))
        while len(self._samples) > 2 and now - self._samples[0][0] > RATE_SPAN:
            self._samples.popleft()
        first = self._samples[0]
        span = now - first[0]
        request_rate = (requests - first[1]) / span if span > 0 else 0.0
        task_rate = (counts.get("done", 0) - first[2]) / span if span > 0 else 0.0
        depths = _by_depth(by_depth)
        budgets = [
            {"budget": b.budget_id, "remaining": b.remaining, "limit": b.limit, "reset_at": b.reset_at}
            for b in pacer.budgets
        ]
        return {
            "time": now,
            "version": __version__,
            "users": counts.get("users", 0),
            "profiles": counts.get("profiles", 0),
            "repos": counts.get("repos", 0),
            "contributors": counts.get("contributors", 0),
            "frontier": {s: counts.get(s, 0) for s in ("pending", "leased", "done", "failed")},
            "by_depth": depths,
            "requests_total": requests,
            "requests_per_second": round(request_rate, 2),
            "in_flight": in_flight,
            "concurrency": pacer.concurrency,
            "rate_limit": budgets,
            "paused_until": pacer.paused_until,
            "outage": outage,
            "eta": _eta(now, depths, task_rate, requests, counts.get("done", 0), pacer),
        }


def _by_depth(rows: list[tuple[int, str, str, int]]) -> list[dict[str, Any]]:
    table: dict[tuple[int, str], dict[str, Any]] = {}
    for depth, kind, state, count in rows:
        entry = table.setdefault((depth, kind), {"depth": depth, "kind": kind, "discovered": 0, "done": 0,
                                                 "failed": 0, "open": 0})
        entry["discovered"] += count
        if state in ("done", "failed"):
            entry[state] += count
        else:
            entry["open"] += count
    order = {"user": 0, "repos": 1, "contributors": 2}
    return [table[k] for k in sorted(table, key=lambda k: (k[0], order.get(k[1], 3)))]


def _eta(now: float, depths: list[dict[str, Any]], task_rate: float, requests: int, done: int,
         pacer: Pacer) -> dict[str, Any]:
    open_depths = [d for d in depths if d["open"]]
    if not open_depths:
        return {"depth": None, "seconds": 0.0, "remaining_tasks": 0}
    depth = min(d["depth"] for d in open_depths)
    remaining = sum(d["open"] for d in open_depths if d["depth"] == depth)
    seconds: float | None = remaining / task_rate if task_rate > 0 else None
    per_task = requests / done if done else 1.0
    needed = remaining * per_task
    budget = sum(b.remaining or 0 for b in pacer.budgets)
    limit = sum(b.limit or 0 for b in pacer.budgets)
    if limit and needed > budget:
        refills = math.ceil((needed - budget) / limit)
        first_reset = min((b.reset_at for b in pacer.budgets if b.reset_at > now), default=now)
        by_budget = (first_reset - now) + (refills - 1) * WINDOW
        seconds = max(seconds or 0.0, by_budget)
    return {"depth": depth, "seconds": None if seconds is None else round(seconds, 1), "remaining_tasks": remaining}


def line(status: dict[str, Any]) -> str:
    """The one-line summary for the log and systemd's STATUS=."""
    eta = status["eta"]
    when = "unknown" if eta["seconds"] is None else _duration(eta["seconds"])
    budget = sum(b["remaining"] or 0 for b in status["rate_limit"])
    reset = max((b["reset_at"] - status["time"] for b in status["rate_limit"]), default=0.0)
    f = status["frontier"]
    outage = status.get("outage")
    # First, so a truncated STATUS= still shows it.
    down = f"outage since {outage['since_iso']} ({outage['reason'][:80]}); " if outage else ""
    return down + (
        f"{status['users']} users, {status['repos']} repos, {status['contributors']} contributor rows; "
        f"{f['pending']} pending, {status['in_flight']} in flight, {f['failed']} failed; "
        f"{status['requests_per_second']:.1f} req/s; rate limit {budget} left, reset in {max(0.0, reset):.0f}s; "
        f"depth {eta['depth']} ETA {when}"
    )


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"
