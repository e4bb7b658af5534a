"""Plain values the store hands out and takes in, shared by every backend."""

from __future__ import annotations

import math
import time
from functools import lru_cache
from urllib.parse import quote

from attrs import frozen

# Column lists name schema version 1 explicitly, so exports keep their shape when
# later versions add columns.
USER_COLUMNS = (
    "id, login, type, name, company, blog, location, bio, public_repos, followers, following, "
    "created_at, updated_at"
)
REPO_COLUMNS = (
    "id, owner_id, full_name, name, description, fork, language, stargazers_count, forks_count, "
    "open_issues_count, size, default_branch, created_at, updated_at, pushed_at, archived"
)
USER_EXPORT_COLUMNS = (*(c.strip() for c in USER_COLUMNS.split(",")), "depth", "fetched_at")
REPO_EXPORT_COLUMNS = (*(c.strip() for c in REPO_COLUMNS.split(",")), "fetched_at", "contributors_status")
CONTRIBUTOR_EXPORT_COLUMNS = ("repo_id", "user_id", "contributions", "seen_at", "seen_on_page")

# url -> (etag, last_modified, token_id) of the answer last stored for it.
Validators = dict[str, tuple[str | None, str | None, str | None]]


@frozen
class Task:
    """One unit of frontier work, as leased to the crawler."""

    id: int
    kind: str  # user, repos, contributors
    key: str
    url: str
    first_url: str
    depth: int
    attempts: int
    validators: dict[str, tuple[str | None, str | None, str | None]]
    # Who holds the lease and which claim this is: a write checks both, so a task
    # another daemon took over after the lease expired is never written twice.
    lease_owner: str = ""
    lease: int = 0

    @property
    def at_first_page(self) -> bool:
        return self.url == self.first_url


def iso(now: float) -> str:
    """Timestamps as stored: UTC ISO 8601 with milliseconds (sorts as text)."""
    return _second(math.floor(now)) + f".{int(now * 1000) % 1000:03d}Z"


@lru_cache(maxsize=4)
def _second(second: int) -> str:
    # Every page and claim of one second shares the formatting of that second.
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))


def user_url(login: str) -> str:
    return "/users/" + quote(login, safe="")


def repos_url(login: str) -> str:
    return user_url(login) + "/repos?per_page=100"


def contributors_url(full_name: str) -> str:
    owner, _, name = full_name.partition("/")
    return f"/repos/{quote(owner, safe='')}/{quote(name, safe='')}/contributors?per_page=100"


@frozen
class Page:
    """What a fetched page leaves behind besides rows: cursor, validators, time."""

    url: str
    next_url: str | None
    now: float
    iso_now: str
    token_id: str = "anonymous"
    etag: str | None = None
    last_modified: str | None = None

