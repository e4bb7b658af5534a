"""A deterministic synthetic GitHub, generated lazily from a seed.

Each user and repository is derived from a hash of (seed, id) on first use,
so even a 100,000-user graph costs nothing to construct; only what a client
touches is ever computed.
"""

from __future__ import annotations

import random
from typing import Any

from attrs import frozen

from ghcrawl.fakehub import names
from ghcrawl.fakehub.mutation import Mutations
from ghcrawl.fakehub.plan import BOT_LOGIN, Plan

USER_ID_BASE = 1000
REPO_ID_BASE = 100_000
REPO_SLOTS = 1000


@frozen
class User:
    """The stable identity of a user; profile fields are rendered elsewhere."""

    index: int
    id: int
    login: str
    kind: str
    repo_count: int
    deleted: bool
    version: int


@frozen
class Repo:
    """A repository; ``listed_name`` is what the owner's (stale) listing shows."""

    id: int
    owner: int
    slot: int
    name: str
    listed_name: str
    fork: bool
    status: str
    version: int

    @property
    def renamed(self) -> bool:
        """True when the listing still shows an old name."""
        return self.name != self.listed_name


@frozen
class Anonymous:
    """A contributor without an account, shown only with ``anon=1``."""

    email: str
    name: str
    contributions: int


class Graph:
    """Users, repositories and contributor lists of one synthetic GitHub."""

    def __init__(self, seed: int = 1, users: int = 1000, empty_repos: float = 0.0) -> None:
        self.seed = seed
        self.users = users
        #: Share of ordinary (unplanned, not forked) repositories that are empty: contributors answer 204.
        self.empty_repos = empty_repos
        self.plan = Plan.draw(seed, users)
        self.mutations = Mutations()
        self._cores: dict[int, tuple[str, int, str]] = {}
        self._repos: dict[int, tuple[Repo, ...]] = {}
        self._contribs: dict[int, tuple[tuple[int, int], ...]] = {}

    @property
    def size(self) -> int:
        """Users including those added by mutations."""
        return self.users + self.mutations.added_users

    @property
    def version(self) -> int:
        """Grows with every mutation, so caches know when to drop."""
        return self.mutations.version

    @property
    def suggested_seeds(self) -> list[str]:
        """Logins from which a depth-1 crawl meets every edge case."""
        return [self.user(i).login for i in self.plan.seeds]

    def _core(self, index: int) -> tuple[str, int, str]:
        """Kind, repo count and login: the traits other users' lists depend on."""
        core = self._cores.get(index)
        if core is None:
            core = self._cores[index] = self._draw_core(index)
        return core

    def _draw_core(self, index: int) -> tuple[str, int, str]:
        forced = self.plan.core(index) if index < self.users else None
        rng = random.Random(f"{self.seed}:core:{index}")
        r = rng.random()
        kind = "Organization" if r < 0.04 else "Bot" if r < 0.05 else "User"
        if index >= self.users and kind == "Organization":
            kind = "User"  # mutations add contributors, never organisations
        r = rng.random()
        if kind == "Organization":
            count = rng.randint(1, 15)
        elif kind == "Bot":
            count = 0
        else:
            count = (
                0 if r < 0.25 else rng.randint(1, 6) if r < 0.85
                else rng.randint(7, 25) if r < 0.97 else rng.randint(26, 250)
            )
        stem = names.login_stem(rng, kind)
        if forced is not None:
            kind, count = forced.kind, forced.repo_count
            if forced.login is None:
                stem = names.login_stem(rng, kind)
        login = forced.login if forced and forced.login else names.make_login(stem, index, kind)
        return kind, count, login

    def user(self, index: int) -> User:
        """The user at an index (0 <= index < size)."""
        kind, count, login = self._core(index)
        return User(
            index=index, id=USER_ID_BASE + index, login=login, kind=kind, repo_count=count,
            deleted=index == self.plan.deleted, version=self.mutations.user_version(index),
        )

    def user_by_login(self, login: str) -> User | None:
        """Case-insensitive lookup, as GitHub resolves logins in paths."""
        wanted = login.lower()
        index = self.plan.bot if wanted == BOT_LOGIN else names.index_of_login(wanted)
        if index is None or index >= self.size:
            return None
        found = self.user(index)
        return found if found.login.lower() == wanted else None

    def user_by_id(self, user_id: int) -> User | None:
        """Lookup by numeric id, the key that survives renames."""
        index = user_id - USER_ID_BASE
        return self.user(index) if 0 <= index < self.size else None

    def repos_of(self, index: int) -> tuple[Repo, ...]:
        """A user's repositories in slot order."""
        repos = self._repos.get(index)
        if repos is None:
            repos = self._repos[index] = self._draw_repos(index)
        return repos

    def _draw_repos(self, index: int) -> tuple[Repo, ...]:
        kind, count, _login = self._core(index)
        seen: set[str] = set()
        out = []
        for slot in range(count):
            rid = REPO_ID_BASE + index * REPO_SLOTS + slot
            rng = random.Random(f"{self.seed}:repo:{rid}")
            name = names.repo_name(rng)
            if name.lower() in seen:
                name = f"{name}-{slot}"
            seen.add(name.lower())
            fork = rng.random() < (0.05 if kind == "Organization" else 0.15)
            forced = self.plan.repo(index, slot) if index < self.users else None
            status, current = "ok", name
            if self.empty_repos and not fork and random.Random(f"{self.seed}:empty:{rid}").random() < self.empty_repos:
                status = "empty"  # its own draw, so the share leaves every other trait as it was
            if forced is not None:
                fork = fork if forced.fork is None else forced.fork
                status = forced.status
                current = f"{name}-v2" if forced.renamed else name
            out.append(Repo(
                id=rid, owner=index, slot=slot, name=current, listed_name=name, fork=fork,
                status=status, version=self.mutations.repo_version(rid),
            ))
        return tuple(out)

    def repo_by_id(self, repo_id: int) -> Repo | None:
        """Lookup by numeric id; the canonical address of a renamed repository."""
        owner, slot = divmod(repo_id - REPO_ID_BASE, REPO_SLOTS)
        if repo_id < REPO_ID_BASE or owner >= self.size:
            return None
        repos = self.repos_of(owner)
        return repos[slot] if slot < len(repos) else None

    def repo_by_name(self, owner: str, name: str) -> tuple[Repo, bool] | None:
        """Finds a repository and says whether the name used is an old one."""
        user = self.user_by_login(owner)
        if user is None or user.deleted:
            return None
        wanted = name.lower()
        for repo in self.repos_of(user.index):
            if repo.name.lower() == wanted:
                return repo, False
        for repo in self.repos_of(user.index):
            if repo.listed_name.lower() == wanted:
                return repo, True
        return None

    def listing(self, index: int) -> list[Repo]:
        """The owner's repos in GitHub's default order for that listing (full_name)."""
        return sorted(self.repos_of(index), key=lambda r: r.listed_name.lower())

    def contributors(self, repo: Repo) -> tuple[tuple[int, int], ...]:
        """(user index, contributions), sorted by contributions desc as GitHub does."""
        found = self._contribs.get(repo.id)
        if found is None:
            found = self._contribs[repo.id] = self._draw_contributors(repo)
        return found

    def _draw_contributors(self, repo: Repo) -> tuple[tuple[int, int], ...]:
        rng = random.Random(f"{self.seed}:contrib:{repo.id}")
        forced = self.plan.repo(repo.owner, repo.slot) if repo.owner < self.users else None
        r = rng.random()
        count = (
            1 if r < 0.55 else rng.randint(2, 5) if r < 0.85
            else rng.randint(6, 20) if r < 0.97 else rng.randint(21, 150)
        )
        if forced is not None and forced.contributors is not None:
            count = forced.contributors
        picks: dict[int, int] = {}
        if self._core(repo.owner)[0] == "User":
            picks[repo.owner] = int(rng.paretovariate(1.1) * 40)
        for index in self._sample_contributors(rng, count - len(picks), set(picks)):
            picks[index] = int(rng.paretovariate(1.2) * 3)
        for index in forced.extra if forced is not None else ():
            picks.setdefault(index, rng.randint(1, 9))
        for removed, added in self.mutations.contributor_edits(repo.id):
            for index in removed:
                picks.pop(index, None)
            picks.update(added)
        return tuple(sorted(picks.items(), key=lambda p: (-p[1], p[0])))

    def _sample_contributors(self, rng: random.Random, count: int, taken: set[int]) -> list[int]:
        """Prefers users with few repos, so big repos do not explode a crawl."""
        chosen: list[int] = []
        attempts = 0
        while len(chosen) < count and attempts < 80 * max(count, 1):
            attempts += 1
            index = rng.randrange(self.users)
            kind, repos, _login = self._core(index)
            relaxed = attempts > 30 * count
            if index in taken or kind == "Organization":
                continue
            if repos <= 4 or relaxed or rng.random() < 0.03:
                taken.add(index)
                chosen.append(index)
        return chosen

    def anonymous(self, repo: Repo) -> list[Anonymous]:
        """Contributors known only by e-mail; zero to two per repository."""
        rng = random.Random(f"{self.seed}:anon:{repo.id}")
        if rng.random() < 0.7:
            return []
        return [
            Anonymous(
                email=f"dev{repo.id}-{n}@example.org",
                name=names.person_name(rng) or "Anonymous Coder",
                contributions=rng.randint(1, 30),
            )
            for n in range(rng.randint(1, 2))
        ]

    def mutate(self, share: float = 0.1, seed: int = 2) -> dict[str, Any]:
        """Changes a share of users and repos; returns what changed."""
        changed = self.mutations.apply(self, share, seed)
        self._repos.clear()
        self._contribs.clear()
        return changed

