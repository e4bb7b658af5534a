"""Where the edge cases live: a few chosen users and repos with fixed traits.

Every case sits on a suggested seed or on one of its repositories, so a
depth-1 crawl from the suggested seeds meets all of them whatever the size
of the graph.
"""

from __future__ import annotations

import random

from attrs import frozen

BOT_LOGIN = "dependabot[bot]"
HUB_REPOS = 130
BIG_REPO_CONTRIBUTORS = 120

# Slots of the hub seed's repositories that carry an edge case.
EMPTY, TOO_LARGE, DMCA, RENAMED, BIG = 0, 1, 2, 3, 4
FORKS = range(5, 10)
WITH_DELETED, WITH_BOT = 10, 11


@frozen
class CoreOverride:
    """Traits forced on a planned user instead of drawn from its hash."""

    kind: str
    repo_count: int
    deleted: bool = False
    login: str | None = None


@frozen
class RepoOverride:
    """Traits forced on a planned repository."""

    fork: bool | None = None
    status: str = "ok"
    renamed: bool = False
    contributors: int | None = None
    extra: tuple[int, ...] = ()


@frozen
class Plan:
    """The indices of the planned users, drawn once from the graph seed."""

    hub: int
    org: int
    plain: tuple[int, int]
    deleted: int
    bot: int

    @classmethod
    def draw(cls, seed: int, users: int) -> Plan:
        """Chooses six distinct users; needs a graph of at least 50 users."""
        if users < 50:
            raise ValueError("a fakehub graph needs at least 50 users")
        hub, org, p1, p2, deleted, bot = random.Random(f"{seed}:plan").sample(range(users), 6)
        return cls(hub=hub, org=org, plain=(p1, p2), deleted=deleted, bot=bot)

    @property
    def seeds(self) -> list[int]:
        """The suggested seed indices, hub first."""
        return [self.hub, self.org, *self.plain]

    def core(self, index: int) -> CoreOverride | None:
        """The forced traits of a planned user, or None for ordinary users."""
        if index == self.hub:
            return CoreOverride("User", HUB_REPOS)
        if index == self.org:
            return CoreOverride("Organization", 8)
        if index in self.plain:
            return CoreOverride("User", 5 if index == self.plain[0] else 3)
        if index == self.deleted:
            return CoreOverride("User", 0, deleted=True)
        if index == self.bot:
            return CoreOverride("Bot", 0, login=BOT_LOGIN)
        return None

    def repo(self, owner: int, slot: int) -> RepoOverride | None:
        """The forced traits of a planned repository, or None."""
        if owner == self.org and slot == 0:
            return RepoOverride(fork=False, extra=(self.bot,))
        if owner != self.hub:
            return None
        forced = {
            EMPTY: RepoOverride(fork=False, status="empty"),
            TOO_LARGE: RepoOverride(fork=False, status="too_large"),
            DMCA: RepoOverride(fork=False, status="dmca"),
            RENAMED: RepoOverride(fork=False, renamed=True),
            BIG: RepoOverride(fork=False, contributors=BIG_REPO_CONTRIBUTORS),
            WITH_DELETED: RepoOverride(fork=False, extra=(self.deleted,)),
            WITH_BOT: RepoOverride(fork=False, extra=(self.bot,)),
        }
        if slot in FORKS:
            return RepoOverride(fork=True)
        return forced.get(slot, RepoOverride(fork=None))
