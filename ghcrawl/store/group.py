"""Group commit: writes that arrive within a few milliseconds share one transaction.

Each write still stands alone: one that fails is the only one lost (the batch is
replayed with a savepoint per write), and a kill -9 before the COMMIT loses the whole
batch, whose tasks are still leased and are fetched again after a restart: never half
a page.
Sharing saves a thread hand-off, a BEGIN and a COMMIT per page, which cost more than
storing the page.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from twisted.enterprise.adbapi import Transaction
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.python.failure import Failure

from ghcrawl.store.dialect import sqlite_text, transient

#: Most writes in one transaction.
MAX_BATCH = 32
#: Seconds the first write of a batch waits for company, unless someone waits on it (``flush``):
#: the crawler flushes when requests could go out but no task is ready.
DELAY = 0.02

Write = tuple[Callable[..., Any], tuple[Any, ...]]


class Grouped:
    """The batch's transaction as one write sees it: already begun, so its own BEGIN is a no-op.

    Only SQLite groups its writes, so statements go straight to the sqlite3 cursor,
    translated as ``PortableTransaction`` would: a page runs a score of them.
    """

    def __init__(self, txn: Transaction) -> None:
        self._txn = txn
        #: Reads the batch's writes share while it holds the write lock (see ``privacy._known``);
        #: a new ``Grouped`` after a rollback starts with none.
        self.known: dict[str, Any] = {}
        self._cursor: Any = getattr(txn, "_cursor")  # noqa: B009 - typeshed calls it None
        # Looked up once per batch, not through two __getattr__ hops per statement.
        self.fetchone, self.fetchall = self._cursor.fetchone, self._cursor.fetchall

    def execute(self, sql: str, params: Any = ()) -> Any:
        if sql == "BEGIN IMMEDIATE":
            return None
        return self._cursor.execute(sqlite_text(sql), params)

    def executemany(self, sql: str, rows: Any) -> Any:
        return self._cursor.executemany(sqlite_text(sql), rows)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._txn, name)


class GroupCommit:
    """Queues writes and runs them in batches bounded by ``max_batch`` and ``delay``.

    ``run_interaction`` runs one interaction in the database thread (the store's, which
    runs it again after a passing failure such as a busy file: a batch is then retried whole).
    """

    def __init__(
        self,
        run_interaction: Callable[..., Awaitable[Any]],
        clock: IReactorTime,
        max_batch: int = MAX_BATCH,
        delay: float = DELAY,
    ) -> None:
        self._run_interaction, self._clock = run_interaction, clock
        self._max_batch, self._delay = max_batch, delay
        self._pending: list[tuple[Callable[..., Any], tuple[Any, ...], Deferred[Any]]] = []
        self._timer: IDelayedCall | None = None
        self._writing = False
        self._closed = False
        self._now = False  # a flush was asked for while a batch was being written

    def run(self, write: Callable[..., Any], *args: Any) -> Deferred[Any]:
        """Run ``write(txn, *args)`` in the next batch; fires with its result or its own error.

        After ``close`` nothing runs and the Deferred never fires, as with a stopped pool.
        """
        done: Deferred[Any] = Deferred()
        if self._closed:
            return done
        self._pending.append((write, args, done))
        if len(self._pending) >= self._max_batch:
            self._flush()
        elif self._timer is None:
            self._timer = self._clock.callLater(self._delay, self._flush)
        return done

    def flush(self) -> None:
        """Send what is queued without waiting for company: someone is waiting on it."""
        if self._writing:
            self._now = bool(self._pending)
        else:
            self._flush()

    def close(self) -> None:
        """Send nothing more. Writes not yet sent are dropped unanswered, as a stopped pool drops
        its queue: their tasks are still leased, so the next start fetches them again."""
        self._closed = True
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        self._pending = []

    def _flush(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        if self._writing or not self._pending:
            return  # the batch being written sends the rest when it ends
        batch, self._pending = self._pending[: self._max_batch], self._pending[self._max_batch :]
        self._writing, self._now = True, False
        writing = Deferred.fromCoroutine(_awaited(self._run_interaction(_write_batch, [(w, a) for w, a, _ in batch])))
        writing.addBoth(self._written, batch)

    def _written(self, outcome: list[tuple[bool, Any]] | Failure, batch: list[Any]) -> None:
        self._writing = False
        for i, (_, _, done) in enumerate(batch):
            if isinstance(outcome, Failure):
                done.errback(outcome)  # the transaction itself failed: no write of it stands
            elif outcome[i][0]:
                done.callback(outcome[i][1])
            else:
                done.errback(Failure(outcome[i][1]))
        if self._pending and not self._closed and (
                self._timer is None or self._now or len(self._pending) >= self._max_batch):
            self._flush()


def _write_batch(txn: Transaction, writes: list[Write]) -> list[tuple[bool, Any]]:
    """One transaction for all; if a write fails, the batch is run again with a savepoint per write.

    Writes fail rarely, so the common case pays for no savepoints; after a failure
    the failed write is the only one lost. A passing failure (a busy file) is raised:
    nothing of the batch stands, and the store runs it again.
    """
    grouped = Grouped(txn)
    txn.execute("BEGIN IMMEDIATE")
    try:
        return [(True, write(grouped, *args)) for write, args in writes]
    except Exception as e:
        if transient(e):
            raise
        txn.execute("ROLLBACK")
    txn.execute("BEGIN IMMEDIATE")
    grouped = Grouped(txn)
    return [_alone(txn, grouped, write, args) for write, args in writes]


def _alone(txn: Transaction, grouped: Grouped, write: Callable[..., Any], args: tuple[Any, ...]) -> tuple[bool, Any]:
    txn.execute("SAVEPOINT page")
    try:
        value = write(grouped, *args)
    except Exception as e:
        if transient(e):
            raise
        txn.execute("ROLLBACK TO page")
        grouped.known.clear()  # it may hold what the undone write read
        txn.execute("RELEASE page")
        return False, e
    txn.execute("RELEASE page")
    return True, value


async def _awaited(result: Awaitable[Any]) -> Any:
    return await result
