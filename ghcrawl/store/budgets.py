"""The budget ledger: each account's requests, reserved in chunks by the daemons sharing it.

A row holds what is left of the account's window that no daemon has reserved
yet. A reservation takes from it in one short transaction (the row locked), so
N daemons together never hold more than GitHub said remains. What a daemon saw
in the headers can only lower the row within a window (someone else spends
too); a newer window replaces it. With the window over or unknown, one probe at
a time is granted, and its answer opens the new window for everyone.

GitHub's reset time is whole seconds, so a window may really end up to a second
before it: nothing is granted, nor spent, in that last second, since a request
sent then could land in the next window, unaccounted.
"""

from __future__ import annotations

from attrs import frozen
from twisted.enterprise.adbapi import Transaction

from ghcrawl.store.leases import begin

#: Seconds before a window's reset in which nothing is granted or spent.
RESET_MARGIN = 1.0


@frozen
class Grant:
    """What a reservation gave: requests, until when they are valid, and the shared pause."""

    requests: int
    valid_until: float
    limited_until: float
    left: int | None
    reset_at: float


def _row(txn: Transaction, budget_id: str) -> tuple[int | None, float, float, float]:
    txn.execute(
        "SELECT remaining, reset_at, limited_until, probe_until FROM rate_limits WHERE token_id = ? FOR UPDATE",
        (budget_id,),
    )
    row = txn.fetchone()
    if row is None:
        return None, 0.0, 0.0, 0.0
    remaining, reset_at, limited, probe = row
    return (None if remaining is None else int(remaining)), float(reset_at or 0), float(limited or 0), float(probe)


def reserve(
    txn: Transaction, budget_id: str, want: int, now: float, seen: tuple[int | None, float], outstanding: int,
    keep: int, probe_for: float,
) -> Grant:
    """Take up to ``want`` requests from the row; ``seen`` is (remaining, reset) from this daemon's headers."""
    begin(txn)
    txn.execute(
        "INSERT INTO rate_limits (token_id, remaining, reset_at, limited_until, updated_at, probe_until) "
        "VALUES (?, NULL, 0, 0, ?, 0) ON CONFLICT (token_id) DO NOTHING",
        (budget_id, now),
    )
    remaining, reset_at, limited, probe = _row(txn, budget_id)
    seen_remaining, seen_reset = seen
    if seen_remaining is not None:
        # Requests this daemon holds or has in flight may not be in GitHub's count yet.
        left = seen_remaining - outstanding
        if seen_reset > reset_at or remaining is None:
            remaining, reset_at, probe = left, seen_reset, 0.0
        elif seen_reset == reset_at:
            remaining = min(remaining, left)
    if remaining is None or now >= reset_at:
        requests = 1 if probe <= now else 0
        probe = now + probe_for if requests else probe
        valid_until = now + probe_for
    elif now >= reset_at - RESET_MARGIN:
        requests, valid_until = 0, reset_at
    else:
        requests = max(0, min(want, remaining - keep))
        remaining -= requests
        valid_until = reset_at - RESET_MARGIN
    txn.execute(
        "UPDATE rate_limits SET remaining = ?, reset_at = ?, probe_until = ?, updated_at = ? WHERE token_id = ?",
        (remaining, reset_at, probe, now, budget_id),
    )
    return Grant(requests, valid_until, limited, remaining, reset_at)
