"""Leases with owners: which daemon holds which task, until when, and who is alive.

A daemon claims due work and expired leases alike, heart-beats what it holds,
and checks before every write that the claim is still its own: a task another
daemon took over after the lease ran out is dropped unwritten. Claims lock rows
with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so daemons never queue behind
each other's claims.
"""

from __future__ import annotations

from typing import Any

from attrs import frozen
from twisted.enterprise.adbapi import Transaction

from ghcrawl.errors import LeaseLost
from ghcrawl.store import privacy
from ghcrawl.store.records import Task, Validators, iso


@frozen
class Worker:
    """One daemon sharing the database, as it last reported itself."""

    name: str
    host: str
    pid: int
    started_at: float
    heartbeat_at: float
    requests_last_minute: int
    leases: int
    lease_timeout: float

    def gone(self, now: float) -> bool:
        """Silent past its lease timeout: dead, stuck or cut off; its leases are anyone's."""
        return now - self.heartbeat_at > self.lease_timeout

    def as_json(self, now: float) -> dict[str, Any]:
        return {"name": self.name, "host": self.host, "pid": self.pid, "started_at": self.started_at,
                "heartbeat_at": self.heartbeat_at, "heartbeat_ago": round(now - self.heartbeat_at, 1),
                "leases": self.leases, "requests_last_minute": self.requests_last_minute,
                "state": "gone" if self.gone(now) else "alive"}


def begin(txn: Transaction) -> None:
    txn.execute("BEGIN IMMEDIATE")


def hold(txn: Transaction, task: Task) -> None:
    """Raise ``LeaseLost`` unless this claim of ``task`` is still the live one (and lock its row)."""
    if not held(txn, task):
        raise LeaseLost(f"the lease on {task.kind} {task.key} was taken over; its page is dropped")


def held(txn: Transaction, task: Task) -> bool:
    """``hold`` for a page write: False when the task is gone (its person was removed meanwhile).

    One lookup answers both questions a page write asks, so a page costs one
    statement here, not two.
    """
    txn.execute("SELECT state, lease_owner, lease_seq FROM tasks WHERE id = ? FOR UPDATE", (task.id,))
    row = txn.fetchone()
    if row is None:
        return False
    if row[0] != "leased" or row[1] != task.lease_owner or row[2] != task.lease:
        raise LeaseLost(f"the lease on {task.kind} {task.key} was taken over; its page is dropped")
    return True


def validators(txn: Transaction, url: str) -> Validators:
    txn.execute("SELECT token_id, etag, last_modified, next_url FROM http_cache WHERE url = ?", (url,))
    return {t: (e, lm, nx) for t, e, lm, nx in txn.fetchall()}


def validators_of(txn: Transaction, urls: list[str]) -> dict[str, Validators]:
    """The validators of several URLs in one round trip."""
    found: dict[str, Validators] = {}
    if urls:
        txn.execute("SELECT url, token_id, etag, last_modified, next_url FROM http_cache "
                    f"WHERE url IN ({', '.join('?' * len(urls))})", urls)
        for url, t, e, lm, nx in txn.fetchall():
            found.setdefault(url, {})[t] = (e, lm, nx)
    return found


_CLAIM = (
    "UPDATE tasks SET state = 'leased', lease_owner = ?, lease_expires_at = ?, lease_seq = lease_seq + 1, "
    "updated_at = ?, pass_started_at = CASE WHEN url = first_url THEN ? ELSE pass_started_at END "
    "WHERE id IN (SELECT id FROM tasks WHERE {due} ORDER BY depth, id LIMIT ? FOR UPDATE SKIP LOCKED) "
    "RETURNING id, kind, key, url, first_url, depth, attempts, lease_seq"
)
#: Leases that ran out (a daemon died or stalled) first: they are few, and never wait behind the frontier.
_CLAIM_EXPIRED = _CLAIM.format(due="state = 'leased' AND lease_expires_at < ?")
#: Then due work, in the order of the ``tasks_ready`` index (state, depth, id): the walk stops after
#: ``n`` rows, where one query for both kinds sorted every pending task on each claim.
_CLAIM_DUE = _CLAIM.format(due="state = 'pending' AND next_attempt_at <= ?")


def claim(txn: Transaction, n: int, now: float, owner: str, expires: float) -> list[Task]:
    begin(txn)
    rows: list[Any] = []
    for sql in (_CLAIM_EXPIRED, _CLAIM_DUE):
        if len(rows) < n:
            txn.execute(sql, (owner, expires, now, iso(now), now, n - len(rows)))
            rows += txn.fetchall()
    cached = validators_of(txn, sorted({row[3] for row in rows}))
    tasks = [
        Task(int(i), kind, key, url, first, int(depth), int(attempts), cached.get(url, {}), owner, int(seq))
        for i, kind, key, url, first, depth, attempts, seq in rows
    ]
    tasks.sort(key=lambda t: (t.depth, t.id))
    return privacy.claimable(txn, tasks)


def release(txn: Transaction, ids: list[int], owner: str) -> None:
    begin(txn)
    txn.executemany(
        "UPDATE tasks SET state = 'pending', lease_owner = NULL, lease_expires_at = NULL "
        "WHERE id = ? AND state = 'leased' AND lease_owner = ?",
        [(i, owner) for i in sorted(ids)],
    )


def recover(txn: Transaction, owners: list[str], now: float) -> int:
    """Put back this daemon's own leftover leases, dead daemons', and any that expired."""
    begin(txn)
    txn.execute(
        "UPDATE tasks SET state = 'pending', lease_owner = NULL, lease_expires_at = NULL "
        "WHERE state = 'leased' AND lease_expires_at < ?",
        (now,),
    )
    count = int(txn.rowcount)
    for owner in owners:
        txn.execute(
            "UPDATE tasks SET state = 'pending', lease_owner = NULL, lease_expires_at = NULL "
            "WHERE state = 'leased' AND lease_owner = ?",
            (owner,),
        )
        count += int(txn.rowcount)
    return count


def register(txn: Transaction, name: str, host: str, pid: int, now: float, forget_before: float,
             lease_timeout: float) -> None:
    """Announce a starting daemon; forget long-silent ones that hold nothing."""
    begin(txn)
    txn.execute(
        "DELETE FROM workers WHERE heartbeat_at < ? AND name NOT IN "
        "(SELECT lease_owner FROM tasks WHERE state = 'leased' AND lease_owner IS NOT NULL)",
        (forget_before,),
    )
    txn.execute(
        "INSERT INTO workers (name, host, pid, started_at, heartbeat_at, requests_last_minute, lease_timeout) "
        "VALUES (?, ?, ?, ?, ?, 0, ?) ON CONFLICT (name) DO UPDATE SET host = excluded.host, pid = excluded.pid, "
        "started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at, requests_last_minute = 0, "
        "lease_timeout = excluded.lease_timeout",
        (name, host, pid, now, now, lease_timeout),
    )


def heartbeat(txn: Transaction, name: str, now: float, expires: float, requests: int) -> int:
    """Extend every lease this daemon holds and say it is alive; returns the leases held."""
    begin(txn)
    txn.execute(
        "UPDATE workers SET heartbeat_at = ?, requests_last_minute = ? WHERE name = ?", (now, requests, name)
    )
    txn.execute(
        "UPDATE tasks SET lease_expires_at = ? WHERE state = 'leased' AND lease_owner = ?", (expires, name)
    )
    return int(txn.rowcount)


def unregister(txn: Transaction, name: str) -> None:
    begin(txn)
    txn.execute("DELETE FROM workers WHERE name = ?", (name,))


def workers(txn: Any) -> list[Worker]:
    txn.execute(
        "SELECT name, host, pid, started_at, heartbeat_at, requests_last_minute, "
        "(SELECT COUNT(*) FROM tasks WHERE state = 'leased' AND lease_owner = workers.name), lease_timeout "
        "FROM workers ORDER BY name"
    )
    return [Worker(n, h, int(p), float(s), float(b), int(r), int(c), float(t))
            for n, h, p, s, b, r, c, t in txn.fetchall()]


def next_due(txn: Transaction, owner: str) -> float | None:
    """When work may next be claimable: a pending task's due time or another daemon's lease expiry."""
    txn.execute(
        "SELECT MIN(CASE WHEN state = 'pending' THEN next_attempt_at ELSE lease_expires_at END) FROM tasks "
        "WHERE state = 'pending' OR (state = 'leased' AND lease_owner <> ?)",
        (owner,),
    )
    row = txn.fetchone()
    return None if row[0] is None else float(row[0])
