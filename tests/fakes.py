"""In-memory fakes for unit tests where I/O is not the point."""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred

from ghcrawl.store import Task


class InstantStore:
    """A frontier of ``n`` user tasks whose every method completes synchronously."""

    def __init__(self, n: int) -> None:
        self.pending = [Task(i, "user", f"u{i}", f"/users/u{i}", f"/users/u{i}", 0, 0, {}) for i in range(n)]
        self.done: dict[int, str] = {}
        self.claims = 0

    async def claim(self, n: int, now: float) -> list[Task]:
        self.claims += 1
        taken, self.pending = self.pending[:n], self.pending[n:]
        return taken

    def flush(self) -> None:
        pass

    async def release(self, ids: Any) -> None:
        raise AssertionError("nothing should be released")

    async def finish(self, task: Task, outcome: str, now: float) -> None:
        self.done[task.id] = outcome

    async def next_due(self) -> float | None:
        return 0.0 if self.pending else None

    async def fail(self, task: Task, reason: str, now: float) -> None:
        self.done[task.id] = "failed: " + reason


class QueuedStore(InstantStore):
    """Claims wait in a queue until ``flush``, as in a group commit whose delay never passes."""

    def __init__(self, n: int) -> None:
        super().__init__(n)
        self.queued: list[Deferred[None]] = []

    async def claim(self, n: int, now: float) -> list[Task]:
        turn: Deferred[None] = Deferred()
        self.queued.append(turn)
        await turn
        return await super().claim(n, now)

    def flush(self) -> None:
        queued, self.queued = self.queued, []
        for turn in queued:
            turn.callback(None)
