"""The opt-out file: people who asked to be left out, re-read whenever it changes.

One login or numeric id per line; ``#`` starts a comment; blank lines are
ignored; logins are case-insensitive. A line that is neither is reported once
and skipped, so one typo never stops a crawl or lets everyone else through.
An all-digit line names both the account with that id and the login spelled so.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from typing import Protocol

from attrs import frozen
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from ghcrawl.errors import ConfigError
from ghcrawl.models import valid_login
from ghcrawl.store import Store


@frozen
class OptOutList:
    """What one reading of the file gave: the entries in file order, and one warning per bad line."""

    entries: tuple[str, ...]
    warnings: tuple[str, ...]


def parse(path: str, text: str) -> OptOutList:
    """Read entries from the file's text (lower-cased, duplicates dropped)."""
    entries: dict[str, None] = {}
    warnings = []
    for number, line in enumerate(text.split("\n"), start=1):
        value = line.split("#", 1)[0].strip()
        if not value:
            continue
        if value.isdigit() or valid_login(value):
            entries[value.lower()] = None
        else:
            warnings.append(f"optout_file {path} line {number}: {value[:60]!r} is neither a login nor a numeric id")
    return OptOutList(tuple(entries), tuple(warnings))


class OptOutFile:
    """The file named by ``optout_file``; ``changed()`` re-reads it only when it changed."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._seen: tuple[int, int, int] | None = None

    def _stamp(self) -> tuple[int, int, int]:
        st = os.stat(self.path)
        return st.st_ino, st.st_mtime_ns, st.st_size

    def read(self) -> OptOutList:
        """Read the file now (at start: an unreadable file is an error the caller reports)."""
        stamp = self._stamp()
        with open(self.path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        self._seen = stamp
        return parse(self.path, text)

    def changed(self) -> OptOutList | None:
        """The new list if the file changed since the last reading, else None (also while it is missing)."""
        try:
            stamp = self._stamp()
        except OSError:
            return None
        if stamp == self._seen:
            return None
        try:
            return self.read()
        except OSError:
            return None


class Frontier(Protocol):
    """What the watch needs of the crawler: the tasks it holds, and a way to drop some."""

    def held(self) -> list[int]: ...

    def drop(self, task_ids: Iterable[int]) -> None: ...


class OptOutWatch:
    """Keeps opt-outs in effect in a running daemon: the file's edits and ``ghcrawl forget``'s removals.

    Each ``poll_interval`` it re-reads the file if it changed (removing what the
    crawl holds of anyone new) and, when the opt-outs changed by either way,
    drops work the crawler had already claimed for a removed person.
    """

    _log = Logger()

    def __init__(self, store: Store, clock: IReactorTime, path: str | None, interval: float) -> None:
        self._store, self._clock, self._interval = store, clock, interval
        self._file = OptOutFile(path) if path else None
        self._count = -1
        self._loop: LoopingCall | None = None
        self.frontier: Frontier | None = None

    async def start(self) -> None:
        """Apply the file before any seed is queued; an unreadable file stops the start."""
        if self._file is not None:
            try:
                listed = self._file.read()
            except OSError as e:
                raise ConfigError(f"cannot read optout_file {self._file.path}: {e.strerror}") from None
            await self._apply(listed)
        await self._noticed()

    def run(self) -> None:
        """Check every interval from now on."""
        self._loop = LoopingCall(self._check)
        self._loop.clock = self._clock
        self._loop.start(self._interval, now=False).addErrback(
            lambda f: self._log.failure("opt-out checks stopped", f))

    def stop(self) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()

    async def _check(self) -> None:
        try:
            listed = self._file.changed() if self._file is not None else None
            if listed is not None:
                await self._apply(listed)
            await self._noticed()
        except Exception:
            self._log.failure("opt-out check failed; trying again in {interval}s", interval=self._interval)

    async def _apply(self, listed: OptOutList) -> None:
        for warning in listed.warnings:
            self._log.warn("{warning}", warning=warning)
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self._clock.seconds()))
        removed = await self._store.sync_optouts(listed.entries, now)
        self._count = -1  # the file's records were rewritten: look at held work even if the count is equal
        if removed:
            self._log.info("opt-out file: removed {people} people, {rows} rows of theirs", people=len(removed),
                           rows=sum(r.users + r.repos + r.repo_contributors + r.contributions for r in removed))

    async def _noticed(self) -> None:
        count = await self._store.optout_count()
        if count == self._count:
            return
        self._count = count
        if self.frontier is not None:
            gone = await self._store.gone(self.frontier.held())
            self.frontier.drop(gone)
        self._log.info("opt-outs in effect: {count} recorded", count=count)
