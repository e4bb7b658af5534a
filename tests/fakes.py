"""In-memory fakes for unit tests where I/O is not the point."""

from __future__ import annotations

from typing import Any

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

    async def release(self, ids: Any) -> None:
        raise AssertionError("nothing should be released")

    async def finish(self, task: Task, outcome: str, now: float) -> None:
        self.done[task.id] = outcome

    async def next_due(self) -> float | None:
        return 0.0 if self.pending else None

    async def fail(self, task: Task, reason: str, now: float) -> None:
        self.done[task.id] = "failed: " + reason
