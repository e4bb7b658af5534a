"""The crawl rules every peer shares: depths, what to fetch next, and the rows to store.

Pure bookkeeping with no I/O, so each peer differs only in how it fetches and
writes. Depths are relaxed like a shortest-path search: a user first seen far
from a seed and later seen nearer gets the smaller depth, and the change flows
on to the contributors already found under it, so the result does not depend
on the order in which answers arrive.
"""

from __future__ import annotations

import argparse
import os
import re
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEMA = Path(__file__).resolve().parents[2] / "ghcrawl" / "store" / "schema" / "sqlite" / "001_initial.sql"
USER_AGENT = "ghcrawl-bench-peer"
NO_ROWS = {204, 403, 404, 451}  # empty, too large, gone, blocked: the listing ends with no rows
_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="next"')


def headers(token: str) -> dict[str, str]:
    """The four headers every request carries."""
    return {
        "User-Agent": USER_AGENT,
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
        "Authorization": f"Bearer {token}",
    }


def next_url(link: str | None) -> str | None:
    """The rel="next" target of a Link header, if any."""
    found = _NEXT.search(link or "")
    return found.group(1) if found else None


def arguments(description: str) -> argparse.Namespace:
    """The command line all peers share (the token comes from GITHUB_TOKEN)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--api-url", required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--seed", action="append", required=True)
    parser.add_argument("--max-depth", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=30)
    args = parser.parse_args()
    args.token = os.environ.get("GITHUB_TOKEN", "")
    args.api_url = args.api_url.rstrip("/")
    return args


@dataclass(frozen=True)
class Task:
    """One URL to fetch: a profile, a page of repos, or a page of contributors."""

    kind: str  # user | repos | contributors
    url: str
    key: int | str  # login for user, owner id for repos, repo id for contributors


@dataclass
class Rows:
    """What one answer adds to the database."""

    profiles: list[tuple[Any, ...]] = field(default_factory=list)
    users: list[tuple[Any, ...]] = field(default_factory=list)
    repos: list[tuple[Any, ...]] = field(default_factory=list)
    contributors: list[tuple[Any, ...]] = field(default_factory=list)


class Crawl:
    """Decides what to fetch and what to store; callers serialise access to it."""

    def __init__(self, api_url: str, seeds: list[str], max_depth: int) -> None:
        self.api = api_url
        self.max_depth = max_depth
        self.seeds = {s.lower() for s in seeds}
        self.depth: dict[int, int] = {}
        self.login: dict[int, tuple[str, str]] = {}
        self.children: dict[int, set[int]] = {}
        self.repo_owner: dict[int, int] = {}
        self.crawled: set[str] = set(self.seeds)
        self.requests = 0

    def start(self) -> list[Task]:
        return [self._user_task(login) for login in sorted(self.seeds)]

    def _user_task(self, login: str) -> Task:
        return Task("user", f"{self.api}/users/{login}", login)

    def handle(self, task: Task, status: int, body: Any, link: str | None) -> tuple[Rows, list[Task]]:
        """Rows to store and tasks to run after ``task`` answered ``status`` with ``body``."""
        rows, tasks = Rows(), []
        if status == 200 and task.kind == "user":
            self._profile(task, body, rows, tasks)
        elif status == 200 and task.kind == "repos":
            self._repos(task, body, rows, tasks)
        elif status == 200 and task.kind == "contributors":
            self._contributors(task, body, rows, tasks)
        following = next_url(link) if status == 200 else None
        if following:
            tasks.append(Task(task.kind, following, task.key))
        return rows, tasks

    def _profile(self, task: Task, user: dict[str, Any], rows: Rows, tasks: list[Task]) -> None:
        depth = 0 if str(task.key) in self.seeds else self.depth.get(user["id"], 0)
        self.login[user["id"]] = (user["login"], user.get("type") or "User")
        self._relax(user["id"], depth, rows, tasks)
        depth = self.depth[user["id"]]
        rows.profiles.append(
            (
                user["id"],
                user["login"],
                user.get("type"),
                user.get("name"),
                user.get("company"),
                user.get("blog"),
                user.get("location"),
                user.get("bio"),
                user.get("public_repos"),
                user.get("followers"),
                user.get("following"),
                user.get("created_at"),
                user.get("updated_at"),
                depth,
                now(),
            )
        )
        tasks.append(Task("repos", f"{self.api}/users/{user['login']}/repos?per_page=100", user["id"]))

    def _repos(self, task: Task, items: list[dict[str, Any]], rows: Rows, tasks: list[Task]) -> None:
        stamp = now()
        for r in items:
            self.repo_owner[r["id"]] = int(task.key)
            rows.repos.append(
                (
                    r["id"],
                    task.key,
                    r["full_name"],
                    r["name"],
                    r.get("description"),
                    int(bool(r["fork"])),
                    r.get("language"),
                    r.get("stargazers_count"),
                    r.get("forks_count"),
                    r.get("open_issues_count"),
                    r.get("size"),
                    r.get("default_branch"),
                    r.get("created_at"),
                    r.get("updated_at"),
                    r.get("pushed_at"),
                    int(bool(r.get("archived"))),
                    stamp,
                )
            )
            if not r["fork"]:
                tasks.append(
                    Task("contributors", f"{self.api}/repos/{r['full_name']}/contributors?per_page=100", r["id"])
                )

    def _contributors(self, task: Task, items: list[dict[str, Any]], rows: Rows, tasks: list[Task]) -> None:
        stamp = now()
        repo_id = int(task.key)
        for c in items:
            rows.contributors.append((repo_id, c["id"], c["contributions"], stamp, task.url))
            self.login.setdefault(c["id"], (c["login"], c["type"]))
        parent = self.repo_owner.get(repo_id)
        depth = self.depth.get(parent, 0) + 1 if parent is not None else 1
        for c in items:
            if parent is not None:
                self.children.setdefault(parent, set()).add(c["id"])
            self._relax(c["id"], depth, rows, tasks)

    def _relax(self, user_id: int, depth: int, rows: Rows, tasks: list[Task]) -> None:
        """Lowers a user's depth and lets the change flow to the users found under them."""
        stack = [(user_id, depth)]
        while stack:
            uid, d = stack.pop()
            if d >= self.depth.get(uid, d + 1):
                continue
            self.depth[uid] = d
            known = self.login.get(uid)
            if known is not None:
                rows.users.append((uid, known[0], known[1], d))
                if d <= self.max_depth and known[0].lower() not in self.crawled:
                    self.crawled.add(known[0].lower())
                    tasks.append(self._user_task(known[0]))
            stack.extend((child, d + 1) for child in self.children.get(uid, ()))


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


_PROFILE = """INSERT INTO users (id, login, type, name, company, blog, location, bio, public_repos, followers,
    following, created_at, updated_at, depth, fetched_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
    ON CONFLICT (id) DO UPDATE SET login = excluded.login, type = excluded.type, name = excluded.name,
    company = excluded.company, blog = excluded.blog, location = excluded.location, bio = excluded.bio,
    public_repos = excluded.public_repos, followers = excluded.followers, following = excluded.following,
    created_at = excluded.created_at, updated_at = excluded.updated_at,
    depth = MIN(users.depth, excluded.depth), fetched_at = excluded.fetched_at"""
_USER = """INSERT INTO users (id, login, type, depth) VALUES (?,?,?,?)
    ON CONFLICT (id) DO UPDATE SET depth = MIN(users.depth, excluded.depth)"""
_REPO = """INSERT INTO repos (id, owner_id, full_name, name, description, fork, language, stargazers_count,
    forks_count, open_issues_count, size, default_branch, created_at, updated_at, pushed_at, archived,
    fetched_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
    ON CONFLICT (id) DO UPDATE SET full_name = excluded.full_name, fetched_at = excluded.fetched_at"""
_CONTRIBUTOR = """INSERT INTO contributors (repo_id, user_id, contributions, seen_at, seen_on_page)
    VALUES (?,?,?,?,?) ON CONFLICT (repo_id, user_id) DO UPDATE SET contributions = excluded.contributions"""


def open_db(path: str, check_same_thread: bool = True) -> sqlite3.Connection:
    """A fresh database with ghcrawl's own tables, so every contender stores the same shape."""
    conn = sqlite3.connect(path, check_same_thread=check_same_thread)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.executescript(SCHEMA.read_text())
    return conn


def write(conn: sqlite3.Connection, rows: Rows) -> None:
    """Stores one answer's rows (the caller commits)."""
    if rows.profiles:
        conn.executemany(_PROFILE, rows.profiles)
    if rows.users:
        conn.executemany(_USER, rows.users)
    if rows.repos:
        conn.executemany(_REPO, rows.repos)
    if rows.contributors:
        conn.executemany(_CONTRIBUTOR, rows.contributors)
