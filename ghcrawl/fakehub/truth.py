"""What a perfect crawl of a graph stores, and the fewest requests it needs.

Computed from the graph directly (never over HTTP) so tests can hold a real
crawl against it; it follows the same status rules the server applies.
"""

from __future__ import annotations

from typing import Any

from ghcrawl.fakehub.graph import Graph, User
from ghcrawl.fakehub.plan import (
    BIG,
    DMCA,
    EMPTY,
    RENAMED,
    TOO_LARGE,
    WITH_BOT,
    WITH_DELETED,
)

PER_PAGE = 100


def _pages(count: int) -> int:
    """Pages at per_page=100; an empty listing still costs one request."""
    return max(1, -(-count // PER_PAGE))


def truth(graph: Graph, seeds: list[str] | None = None, max_depth: int = 1) -> dict[str, Any]:
    """Breadth-first crawl of users -> repos -> contributors down to ``max_depth``."""
    seeds = list(graph.suggested_seeds if seeds is None else seeds)
    depth_of: dict[int, int] = {}
    level: list[User] = []
    requests = 0
    for login in seeds:
        user = graph.user_by_login(login)
        if user is None or user.deleted:
            requests += 1  # the 404 answer still costs a request
        elif user.index not in depth_of:
            depth_of[user.index] = 0
            level.append(user)
    profiles: set[int] = set()
    repos: list[dict[str, Any]] = []
    contributors: list[list[int]] = []
    depth = 0
    while level and depth <= max_depth:
        following: list[User] = []
        for user in sorted(level, key=lambda u: u.id):
            requests += 1
            if user.deleted:
                continue
            profiles.add(user.index)
            listing = graph.listing(user.index)
            requests += _pages(len(listing))
            for repo in listing:
                repos.append({"id": repo.id, "owner_id": user.id,
                              "full_name": f"{user.login}/{repo.listed_name}", "fork": repo.fork})
                if repo.fork:
                    continue
                requests += 1 if repo.renamed else 0
                if repo.status != "ok":
                    requests += 1
                    continue
                found = graph.contributors(repo)
                requests += _pages(len(found))
                for index, count in found:
                    contributors.append([repo.id, graph.user(index).id, count])
                    if index not in depth_of:
                        depth_of[index] = depth + 1
                        following.append(graph.user(index))
        level, depth = following, depth + 1
    users = [
        {"id": u.id, "login": u.login, "type": u.kind, "depth": depth_of[u.index],
         "profile": u.index in profiles}
        for u in sorted((graph.user(i) for i in depth_of), key=lambda u: (depth_of[u.index], u.id))
    ]
    return {
        "seeds": seeds, "max_depth": max_depth, "users": users, "repos": repos,
        "contributors": contributors, "min_requests": requests, "edge_cases": edge_cases(graph),
    }


def edge_cases(graph: Graph) -> dict[str, Any]:
    """Where each planned edge case sits, for tests to aim at."""
    plan = graph.plan
    hub = graph.user(plan.hub)
    slots = graph.repos_of(plan.hub)
    renamed = slots[RENAMED]
    return {
        "hub_seed": hub.login,
        "org_seed": graph.user(plan.org).login,
        "empty_repo": slots[EMPTY].id,
        "too_large_repo": slots[TOO_LARGE].id,
        "dmca_repo": slots[DMCA].id,
        "deleted_user": graph.user(plan.deleted).login,
        "deleted_user_in_repo": slots[WITH_DELETED].id,
        "bot_user": graph.user(plan.bot).login,
        "bot_in_repos": [slots[WITH_BOT].id, graph.repos_of(plan.org)[0].id],
        "renamed_repo": {"id": renamed.id, "old_full_name": f"{hub.login}/{renamed.listed_name}",
                         "new_full_name": f"{hub.login}/{renamed.name}"},
        "multi_page_repo_listing": hub.login,
        "multi_page_contributors_repo": slots[BIG].id,
        "fork_repos": [r.id for r in slots if r.fork],
    }
