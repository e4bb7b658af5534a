"""Trouble made on demand through the admin paths: an outage of the whole API, or broken paths.

Tests use it to act out what a long-running crawler meets: GitHub answering 503
to everything for a while, or one repository answering 502 while the rest work.
"""

from __future__ import annotations

from attrs import Factory, define


@define
class Breakage:
    """Which requests fail with which status, and until when."""

    status: int = 0
    until: float = 0.0
    paths: dict[str, int] = Factory(dict)

    def outage(self, status: int, seconds: float, now: float) -> None:
        """Answer ``status`` to every API request for ``seconds`` (0 ends an outage at once)."""
        if not 500 <= status <= 599:
            raise ValueError("an outage answers a 5xx status")
        self.status, self.until = status, now + seconds

    def break_path(self, path: str, status: int) -> None:
        """Answer ``status`` to ``path`` (without its query) from now on; 0 mends it."""
        if status == 0:
            self.paths.pop(path, None)
        elif not 500 <= status <= 599:
            raise ValueError("a broken path answers a 5xx status")
        else:
            self.paths[path] = status

    def answer(self, path: str, now: float) -> int | None:
        """The failing status this request gets, or None to answer normally."""
        if self.status and now < self.until:
            return self.status
        return self.paths.get(path)
