"""Ground truth from the fakehub and the comparison of a crawl's database against it."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from typing import Any


def truth(users: int, max_depth: int, seed: int = 1, empty_repos: float = 0.0) -> dict[str, Any]:
    """``ghcrawl-fakehub truth`` for a graph: seeds, rows and the minimum request count."""
    cmd = [
        sys.executable,
        "-m",
        "ghcrawl.fakehub",
        "truth",
        "--seed",
        str(seed),
        "--users",
        str(users),
        "--max-depth",
        str(max_depth),
        "--empty-repos",
        str(empty_repos),
    ]
    return json.loads(subprocess.run(cmd, capture_output=True, check=True, timeout=120).stdout)


def expected(t: dict[str, Any]) -> dict[str, set[tuple[Any, ...]]]:
    """The rows a perfect crawl stores, as sets."""
    return {
        "users": {(u["id"], u["login"], u["type"], u["depth"], bool(u["profile"])) for u in t["users"]},
        "repos": {(r["id"], r["owner_id"], r["full_name"], bool(r["fork"])) for r in t["repos"]},
        "contributors": {tuple(c) for c in t["contributors"]},
    }


def snapshot(db: str) -> dict[str, set[tuple[Any, ...]]]:
    """What a crawl stored, in the truth's shape."""
    conn = sqlite3.connect(db)
    try:
        users = {
            (i, login, typ, depth, fetched is not None)
            for i, login, typ, depth, fetched in conn.execute("SELECT id, login, type, depth, fetched_at FROM users")
        }
        repos = {(i, o, n, bool(f)) for i, o, n, f in conn.execute("SELECT id, owner_id, full_name, fork FROM repos")}
        contributors = set(conn.execute("SELECT repo_id, user_id, contributions FROM contributors"))
    finally:
        conn.close()
    return {"users": users, "repos": repos, "contributors": contributors}


def compare(db: str, want: dict[str, set[tuple[Any, ...]]]) -> dict[str, Any]:
    """``{"ok": bool, "detail": "..."}``: missing and extra rows per table."""
    try:
        got = snapshot(db)
    except sqlite3.Error as e:
        return {"ok": False, "detail": f"unreadable database: {e}"}
    problems = []
    for table, rows in want.items():
        missing, extra = len(rows - got[table]), len(got[table] - rows)
        if missing or extra:
            problems.append(f"{table}: {missing} missing, {extra} extra of {len(rows)}")
    return {
        "ok": not problems,
        "detail": "; ".join(problems) or "equal to ground truth",
        "rows": sum(len(r) for r in want.values()),
    }
