"""Whole-crawl sentences for people: what a starting daemon crawls, and how a ``--once`` run ended.

They go to systemd's STATUS= and the log, so each is one line that says what to
do next when something needs doing.
"""

from __future__ import annotations

from collections.abc import Sequence


def waiting_line(db: str) -> str:
    """What a daemon with nothing to crawl is waiting for."""
    return f"nothing to crawl yet: waiting for 'ghcrawl seed add LOGIN... --db {db}'"


def ready_line(counts: dict[str, int], seeds: Sequence[str], db: str) -> str:
    """STATUS= sent with READY=1: the seeds and how much work is open."""
    open_tasks = counts.get("pending", 0) + counts.get("leased", 0)
    if not any(counts.get(s, 0) for s in ("pending", "leased", "done", "failed")):
        return waiting_line(db)
    shown = ", ".join(seeds[:3]) + (f" and {len(seeds) - 3} more" if len(seeds) > 3 else "")
    crawling = f"crawling from {shown}" if seeds else "crawling the database's frontier"
    return (f"{crawling}: {open_tasks} tasks pending, {counts.get('done', 0)} done, "
            f"{counts.get('failed', 0)} failed; {counts.get('users', 0)} users stored")


def failed_line(failed: int, top_reason: str | None) -> str | None:
    """The closing line of a ``--once`` run that left tasks failed (None when none did)."""
    if failed <= 0:
        return None
    reason = " ".join((top_reason or "unknown").split())[:160]
    # Worded the same for one task too: scripts match "N tasks failed".
    return (f"{failed} tasks failed (top reason: {reason}); see 'ghcrawl status', "
            "re-queue with 'ghcrawl retry-failed'")
