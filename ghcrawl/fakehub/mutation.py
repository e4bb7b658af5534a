"""The record of how a graph has drifted from its generated state.

Kept apart from generation so that an unmutated graph is a pure function
of (seed, users) and a mutated one is that plus this small overlay.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from attrs import Factory, define

if TYPE_CHECKING:
    from ghcrawl.fakehub.graph import Graph

Edit = tuple[tuple[int, ...], tuple[tuple[int, int], ...]]


@define
class Mutations:
    """Version counters and contributor edits layered over the generated graph."""

    version: int = 0
    added_users: int = 0
    users: dict[int, int] = Factory(dict)
    repos: dict[int, int] = Factory(dict)
    edits: dict[int, list[Edit]] = Factory(dict)

    def user_version(self, index: int) -> int:
        """0 until a mutation touches the user's profile."""
        return self.users.get(index, 0)

    def repo_version(self, repo_id: int) -> int:
        """0 until a mutation touches the repository's description or counts."""
        return self.repos.get(repo_id, 0)

    def contributor_edits(self, repo_id: int) -> list[Edit]:
        """Removals and additions to apply, oldest first."""
        return self.edits.get(repo_id, [])

    def apply(self, graph: Graph, share: float, seed: int) -> dict[str, Any]:
        """Touches ``share`` of users and, for as many owners, one repo each."""
        rng = random.Random(f"{graph.seed}:mutate:{seed}:{self.version}")
        count = min(graph.users, round(share * graph.users))
        changed = {"users_changed": 0, "repos_changed": 0, "contributors_added": 0,
                   "contributors_removed": 0, "new_users": 0}
        for index in rng.sample(range(graph.users), count):
            self.users[index] = self.users.get(index, 0) + 1
            changed["users_changed"] += 1
        for owner in rng.sample(range(graph.users), count):
            repos = graph.repos_of(owner)
            if not repos:
                continue
            repo = rng.choice(repos)
            self.repos[repo.id] = self.repos.get(repo.id, 0) + 1
            changed["repos_changed"] += 1
            if repo.status == "ok":
                self._edit_contributors(graph, rng, repo, changed)
        self.version += 1
        changed["version"] = self.version
        return changed

    def _edit_contributors(self, graph: Graph, rng: random.Random, repo: Any,
                           changed: dict[str, int]) -> None:
        """Removes up to two contributors and adds up to three, some brand new users."""
        current = {index for index, _n in graph.contributors(repo)}
        removable = sorted(current - {repo.owner})
        removed = tuple(rng.sample(removable, min(len(removable), rng.randint(0, 2))))
        added: list[tuple[int, int]] = []
        for _ in range(rng.randint(0, 3)):
            if rng.random() < 0.3:
                index = graph.users + self.added_users
                self.added_users += 1
                changed["new_users"] += 1
            else:
                index = rng.randrange(graph.users)
                if index in current or graph.user(index).kind == "Organization":
                    continue
            current.add(index)
            added.append((index, rng.randint(1, 40)))
        self.edits.setdefault(repo.id, []).append((removed, tuple(added)))
        changed["contributors_added"] += len(added)
        changed["contributors_removed"] += len(removed)
