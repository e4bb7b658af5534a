"""Shared test helpers: run the fakehub and twistd as real processes, compare to ground truth."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: The twistd script of the Python running the tests (a venv's, in CI).
TWISTD = os.path.join(os.path.dirname(sys.executable), "twistd")
TOKEN = "ghp_testtoken0000000000000000000000000001"
#: Users and graph seed of a small graph: its depth-1 crawl is 365 requests (the default seed's
#: 200 users take 1,022) and it holds every planned edge case. For crawls bound by a budget,
#: a latency or a lease, whose property shows on any graph and whose time grows with its size.
SMALL_GRAPH = (50, 2)


def truth(users: int, max_depth: int = 1, seed: int = 1, seeds: list[str] | None = None) -> dict[str, Any]:
    """Ground truth from the fakehub's own CLI, as a user would ask for it."""
    cmd = [sys.executable, "-m", "ghcrawl.fakehub", "truth", "--seed", str(seed), "--users", str(users),
           "--max-depth", str(max_depth)]
    if seeds:
        cmd += ["--seeds", ",".join(seeds)]
    out = subprocess.run(cmd, capture_output=True, check=True, timeout=60).stdout
    return json.loads(out)


class FakeHubProcess:
    """``ghcrawl-fakehub serve`` on a free 127.0.0.1 port, for the life of a test."""

    def __init__(self, workdir: str, *args: str) -> None:
        port_file = os.path.join(workdir, "fakehub.port")
        self.log = open(os.path.join(workdir, "fakehub.log"), "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ghcrawl.fakehub", "serve", "--port", "0", "--port-file", port_file, *args],
            stdout=self.log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while not (os.path.exists(port_file) and open(port_file).read().strip()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("fakehub did not start: " + open(self.log.name).read()[-2000:])
            time.sleep(0.05)
        self.port = int(open(port_file).read().strip())
        self.url = f"http://127.0.0.1:{self.port}"

    def stats(self) -> dict[str, Any]:
        import urllib.request

        with urllib.request.urlopen(self.url + "/__fakehub/stats", timeout=10) as r:
            return json.loads(r.read())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()


def crawl_env(token: str | None = TOKEN) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_TOKEN")}
    if token:
        env["GITHUB_TOKEN"] = token
    return env


def twistd(workdir: str, *args: str, token: str | None = TOKEN) -> subprocess.Popen[bytes]:
    """Start ``twistd -n ghcrawl`` (no pid file) in ``workdir``, output to crawl.log."""
    log = open(os.path.join(workdir, "crawl.log"), "ab")
    return subprocess.Popen(
        [TWISTD, "--nodaemon", "--pidfile=", "ghcrawl", *args],
        cwd=workdir, stdout=log, stderr=subprocess.STDOUT, env=crawl_env(token),
    )


def seed_args(t: dict[str, Any]) -> list[str]:
    return [a for s in t["seeds"] for a in ("--seed", s)]


def snapshot(db: str) -> dict[str, Any]:
    """What a crawl stored, in the ground truth's shape (SQLite file or PostgreSQL URI)."""
    from ghcrawl.store import is_uri, offline

    conn: Any = offline.open_offline(db) if is_uri(db) else sqlite3.connect(db)
    try:
        users = sorted(
            (i, login, typ, depth, fetched is not None)
            for i, login, typ, depth, fetched in conn.execute("SELECT id, login, type, depth, fetched_at FROM users")
        )
        repos = sorted(conn.execute("SELECT id, owner_id, full_name, fork FROM repos"))
        contributors = sorted(conn.execute("SELECT repo_id, user_id, contributions FROM contributors"))
    finally:
        conn.close()
    return {"users": users, "repos": [(i, o, n, bool(f)) for i, o, n, f in repos], "contributors": contributors}


def expected(t: dict[str, Any]) -> dict[str, Any]:
    return {
        "users": sorted((u["id"], u["login"], u["type"], u["depth"], u["profile"]) for u in t["users"]),
        "repos": sorted((r["id"], r["owner_id"], r["full_name"], bool(r["fork"])) for r in t["repos"]),
        "contributors": sorted(tuple(c) for c in t["contributors"]),
    }


def tempdir() -> str:
    return tempfile.mkdtemp(prefix="ghcrawl-test-")


def wait_for(predicate: Callable[[], object], timeout: float, what: str) -> None:
    """Poll until predicate() is true, failing the test after timeout seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
