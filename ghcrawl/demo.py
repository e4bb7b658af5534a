"""``ghcrawl demo``: a complete offline crawl against a fakehub started for the purpose.

The first thing a newcomer should see: a fake GitHub on 127.0.0.1, a real
``twistd ghcrawl --once`` crawling it, and the result checked against the fake's
ground truth. Nothing leaves the machine and the token is a throwaway.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from typing import TextIO

from ghcrawl.errors import GhcrawlError
from ghcrawl.fakehub import Graph, truth


def run(folder: str, users: int, out: TextIO) -> str:
    """Crawl a fakehub of ``users`` users into ``folder``; return the database path."""
    # The crawl runs with the folder as its working directory: every path handed to it
    # (database, token file) must not depend on the caller's.
    folder = os.path.abspath(folder)
    os.makedirs(folder, exist_ok=True)
    db = os.path.join(folder, "demo.sqlite")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(db + suffix):
            os.unlink(db + suffix)
    token = "demo_" + secrets.token_hex(12)
    tokens = os.path.join(folder, "demo-token")
    with open(os.open(tokens, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        f.write(token + "\n")
    port_file = os.path.join(folder, "fakehub.port")
    if os.path.exists(port_file):
        os.unlink(port_file)
    graph = Graph(seed=1, users=users)
    seeds = graph.suggested_seeds
    with open(os.path.join(folder, "fakehub.log"), "wb") as hub_log:
        hub = subprocess.Popen([sys.executable, "-m", "ghcrawl.fakehub", "serve", "--port", "0", "--port-file",
                                port_file, "--users", str(users), "--tokens-file", tokens, "--latency", "5"],
                               stdout=hub_log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{_wait_for_port(port_file, hub)}"
        out.write(f"fakehub with {users} users on {url}; seeds {', '.join(seeds)}\n")
        twistd = shutil.which("twistd", path=os.path.dirname(sys.executable)) or shutil.which("twistd") or "twistd"
        started = time.monotonic()
        args = [twistd, "--nodaemon", "--pidfile=", "ghcrawl", "--api-url", url, "--db", db, "--once",
                "--max-depth", "1", "--concurrency", "20", "--token-file", tokens]
        args += [a for s in seeds for a in ("--seed", s)]
        with open(os.path.join(folder, "crawl.log"), "wb") as crawl_log:
            code = subprocess.run(args, cwd=folder, stdout=crawl_log, stderr=subprocess.STDOUT, timeout=300).returncode
        if code != 0:
            raise GhcrawlError(f"the crawl exited with status {code}; see {os.path.join(folder, 'crawl.log')}")
        out.write(f"crawled in {time.monotonic() - started:.1f}s; log in {os.path.join(folder, 'crawl.log')}\n")
        out.write(_compare(db, truth(graph, seeds, 1)) + "\n\n")
    finally:
        hub.send_signal(signal.SIGTERM)
        try:
            hub.wait(10)
        except subprocess.TimeoutExpired:
            hub.kill()
    return db


def _wait_for_port(port_file: str, hub: subprocess.Popen[bytes]) -> int:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if hub.poll() is not None:
            raise GhcrawlError("the fakehub did not start")
        try:
            with open(port_file) as f:
                text = f.read().strip()
            if text:
                return int(text)
        except FileNotFoundError:
            pass
        time.sleep(0.05)
    raise GhcrawlError("the fakehub did not start within 30 s")


def _compare(db: str, expected: dict) -> str:  # type: ignore[type-arg]
    conn = sqlite3.connect(db)
    try:
        users = {r[0] for r in conn.execute("SELECT id FROM users")}
        repos = {r[0] for r in conn.execute("SELECT id FROM repos")}
        rows = set(conn.execute("SELECT repo_id, user_id, contributions FROM contributors"))
    finally:
        conn.close()
    same = (users == {u["id"] for u in expected["users"]} and repos == {r["id"] for r in expected["repos"]}
            and rows == {tuple(c) for c in expected["contributors"]})
    verdict = "equals" if same else "DIFFERS FROM"
    return f"the database {verdict} the fakehub's ground truth ({len(users)} users, {len(repos)} repos, {len(rows)} contributor rows)"
