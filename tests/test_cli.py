"""The ghcrawl command as a user runs it: status, export, seed add, retry-failed, and refusals."""

from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from ghcrawl.cli import main
from ghcrawl.store import sqlite as store
from tests.test_export import create_db, fill_small

ROOT = Path(__file__).parent.parent
NOW = 1_700_000_000.0
TASK_COLUMNS = "kind, key, first_url, url, depth, state, attempts, next_attempt_at, outcome, updated_at"


def run_cli(*args: str, cwd: str | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m ghcrawl.cli ARGS`` in a fresh process."""
    return subprocess.run([sys.executable, "-m", "ghcrawl.cli", *args], capture_output=True, text=True,
                          timeout=60, cwd=cwd, env={**os.environ, "PYTHONPATH": str(ROOT)})


def add_task(conn: sqlite3.Connection, kind: str, key: str, depth: int, state: str,
             outcome: str | None = None, updated_at: float = 0.0) -> None:
    conn.execute(
        "INSERT INTO tasks (kind, key, first_url, url, depth, state, attempts, next_attempt_at, outcome, "
        "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (kind, key, f"/{kind}/{key}", f"/{kind}/{key}?page=3", depth, state,
         5 if state == "failed" else 0, NOW + 60 if state == "failed" else 0, outcome, updated_at),
    )


class CliTestCase(SynchronousTestCase):
    def setUp(self) -> None:
        self.tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.tmp)
        self.db = os.path.join(self.tmp, "crawl.sqlite")
        conn = create_db(self.db)
        fill_small(conn)
        add_task(conn, "user", "alice", 0, "done", updated_at=NOW - 30)
        add_task(conn, "repos", "1", 0, "leased", updated_at=NOW - 90)
        add_task(conn, "contributors", "10", 0, "failed", "HTTP 502 Bad Gateway", NOW - 100)
        add_task(conn, "contributors", "11", 0, "failed", "HTTP 502 Bad Gateway", NOW - 100)
        add_task(conn, "user", "bob", 1, "failed", "bad API body: login", NOW - 100)
        add_task(conn, "user", "carol", 1, "pending")
        conn.execute("INSERT INTO rate_limits (token_id, remaining, reset_at, limited_until, updated_at) "
                     "VALUES ('tok1', 4200, ?, ?, ?)", (NOW + 600, NOW + 45, NOW - 5))
        conn.close()

    def run_main(self, *args: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        code = main([*args, "--db", self.db], out=out, err=err, now=NOW)
        return code, out.getvalue(), err.getvalue()

    def tasks(self, where: str = "1") -> list[tuple[object, ...]]:
        conn = sqlite3.connect(self.db)
        try:
            return conn.execute(f"SELECT {TASK_COLUMNS} FROM tasks WHERE {where} ORDER BY id").fetchall()
        finally:
            conn.close()


class StatusTests(CliTestCase):
    def test_json(self) -> None:
        """status --json reports counts, frontier, failures by reason, rate limits and last activity."""
        code, out, err = self.run_main("status", "--json")
        self.assertEqual((code, err), (0, ""))
        report = json.loads(out)
        self.assertEqual(report["counts"], {"users": 3, "users_with_profile": 1, "repos": 2, "forks": 1,
                                            "contributors": 3})
        self.assertEqual(report["frontier"]["by_state"], {"pending": 1, "leased": 1, "done": 1, "failed": 3})
        self.assertIn({"depth": 0, "kind": "contributors", "state": "failed", "count": 2},
                      report["frontier"]["by_depth_kind"])
        self.assertEqual(report["failures"], [{"reason": "HTTP 502 Bad Gateway", "count": 2},
                                              {"reason": "bad API body: login", "count": 1}])
        limit = report["rate_limits"][0]
        self.assertEqual((limit["token_id"], limit["remaining"], limit["reset_in"], limit["limited_for"]),
                         ("tok1", 4200, 600, 45))
        self.assertEqual(report["last_activity"], {"at": "2023-11-14T22:12:50Z", "ago": 30})

    def test_text(self) -> None:
        """Plain status aligns the frontier table and shows times with relative seconds."""
        code, out, _ = self.run_main("status")
        self.assertEqual(code, 0)
        self.assertIn("users          3 (1 with profile)\n", out)
        self.assertIn("  depth 0 contributors         0         0         0         2\n", out)
        self.assertIn("         2  HTTP 502 Bad Gateway\n", out)
        self.assertIn("reset 2023-11-14T22:23:20Z (in 600s)", out)
        self.assertIn("limited until 2023-11-14T22:14:05Z (in 45s)", out)
        self.assertIn("last activity  2023-11-14T22:12:50Z (30s ago)\n", out)

    def test_text_aligns_long_budget_names(self) -> None:
        """A GitHub App's budget name is longer than a token's: the columns still line up."""
        conn = sqlite3.connect(self.db)
        conn.execute("INSERT INTO rate_limits (token_id, remaining, reset_at, limited_until, updated_at) "
                     "VALUES ('installation-123456789', 10, ?, 0, ?)", (NOW + 60, NOW - 5))
        conn.commit()
        conn.close()
        code, out, _ = self.run_main("status")
        self.assertEqual(code, 0)
        rows = [line for line in out.splitlines() if " remaining " in line]
        self.assertEqual(len(rows), 2, out)
        self.assertEqual(len({line.index(" remaining ") for line in rows}), 1, out)

    def test_status_beside_a_writer(self) -> None:
        """status answers while another connection holds the write lock (the daemon mid-transaction)."""
        writer = sqlite3.connect(self.db, isolation_level=None)
        self.addCleanup(writer.close)
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("DELETE FROM contributors")
        code, out, _ = self.run_main("status", "--json")
        writer.execute("ROLLBACK")
        self.assertEqual((code, json.loads(out)["counts"]["contributors"]), (0, 3))

    def test_subprocess(self) -> None:
        """The installed command's status subcommand runs as its own process."""
        result = run_cli("status", "--db", self.db)
        self.assertEqual((result.returncode, result.stderr), (0, ""))
        self.assertIn("frontier", result.stdout)


class SeedTests(CliTestCase):
    def test_new_and_known(self) -> None:
        """seed add queues new logins at depth 0, lowers a pending one's depth and leaves finished ones."""
        code, out, _ = self.run_main("seed", "add", "Dave", "carol", "alice", "bob", "Dave")
        self.assertEqual(code, 0)
        self.assertEqual(out, "Dave: new, queued at depth 0\n"
                              "carol: already known (pending), now at depth 0\n"
                              "alice: already known (done), not queued again\n"
                              "bob: already known (failed), not queued again\n")
        self.assertEqual(self.tasks("key = 'dave'"),
                         [("user", "dave", "/users/Dave", "/users/Dave", 0, "pending", 0, 0, None, 0)])
        self.assertEqual([r[4:6] for r in self.tasks("key IN ('carol', 'alice', 'bob')")],
                         [(0, "done"), (0, "failed"), (0, "pending")])

    def test_same_rows_as_the_daemon(self) -> None:
        """seed add writes the very rows the daemon's own seeding writes."""
        other = os.path.join(self.tmp, "daemon.sqlite")
        conn = create_db(other)
        cur = conn.cursor()
        store._add_seeds(cur, ["Some-One", "x[bot]"])  # type: ignore[arg-type]
        conn.execute("COMMIT")  # adbapi commits after the interaction; so do we
        conn.close()
        self.db = os.path.join(self.tmp, "cli.sqlite")
        create_db(self.db).close()
        self.assertEqual(self.run_main("seed", "add", "Some-One", "x[bot]")[0], 0)
        daemon = sqlite3.connect(other).execute(f"SELECT {TASK_COLUMNS} FROM tasks ORDER BY id").fetchall()
        self.assertEqual(self.tasks(), daemon)

    def test_invalid_login(self) -> None:
        """An invalid login fails the whole command with exit 2 and queues nothing."""
        before = self.tasks()
        code, out, err = self.run_main("seed", "add", "fine", "not/valid")
        self.assertEqual((code, out), (2, ""))
        self.assertEqual(err, "ghcrawl: error: invalid login 'not/valid': not a GitHub login (nothing queued)\n")
        self.assertEqual(self.tasks(), before)

    def test_subprocess(self) -> None:
        """The seed add subcommand works from the command line."""
        result = run_cli("seed", "add", "newbie", "--db", self.db)
        self.assertEqual((result.returncode, result.stdout), (0, "newbie: new, queued at depth 0\n"))

    def test_waits_for_the_writer(self) -> None:
        """seed add waits on the daemon's write lock (busy timeout) instead of failing."""
        writer = sqlite3.connect(self.db, isolation_level=None, check_same_thread=False)
        self.addCleanup(writer.close)
        writer.execute("BEGIN IMMEDIATE")
        timer = threading.Timer(0.3, writer.execute, ("COMMIT",))
        timer.start()
        self.addCleanup(timer.join)
        self.assertEqual(self.run_main("seed", "add", "patient")[0], 0)
        self.assertEqual(len(self.tasks("key = 'patient'")), 1)


class RetryTests(CliTestCase):
    def test_all(self) -> None:
        """retry-failed puts every failed task back to pending with attempts and due time reset."""
        code, out, _ = self.run_main("retry-failed")
        self.assertEqual((code, out), (0, "3 failed tasks put back to pending\n"))
        self.assertEqual(self.tasks("state = 'failed'"), [])
        rows = self.tasks("key IN ('10', '11', 'bob')")
        self.assertEqual({(r[5], r[6], r[7], r[9]) for r in rows}, {("pending", 0, 0, NOW)})
        self.assertEqual(rows[0][3], "/contributors/10?page=3")  # the cursor resumes where it failed

    def test_reason(self) -> None:
        """--reason retries only failures whose reason contains the text."""
        code, out, _ = self.run_main("retry-failed", "--reason", "502")
        self.assertEqual((code, out), (0, "2 failed tasks matching '502' put back to pending\n"))
        self.assertEqual([r[1] for r in self.tasks("state = 'failed'")], ["bob"])

    def test_subprocess(self) -> None:
        """The retry-failed subcommand works from the command line."""
        result = run_cli("retry-failed", "--db", self.db, "--reason", "bad API")
        self.assertEqual((result.returncode, result.stdout), (0, "1 failed task matching 'bad API' put back to pending\n"))


class ExportCommandTests(CliTestCase):
    def test_subprocess(self) -> None:
        """export --format csv writes the three files into a new folder and says so."""
        result = run_cli("export", "--db", self.db, "--format", "csv", "--out", "dump", cwd=self.tmp)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout, "wrote dump/users.csv (3 rows)\nwrote dump/repos.csv (2 rows)\n"
                                        "wrote dump/contributors.csv (3 rows)\n")
        self.assertTrue(os.path.isfile(os.path.join(self.tmp, "dump", "contributors.csv")))

    def test_graphml(self) -> None:
        """export --format graphml writes graph.graphml and counts its edges."""
        out = os.path.join(self.tmp, "g")
        code, text, _ = self.run_main("export", "--format", "graphml", "--out", out)
        self.assertEqual((code, text), (0, f"wrote {out}/graph.graphml (3 edges)\n"))

    def test_unwritable_folder(self) -> None:
        """An output folder that cannot be created is one error line and exit 1."""
        blocker = os.path.join(self.tmp, "file")
        Path(blocker).write_text("")
        code, _, err = self.run_main("export", "--format", "jsonl", "--out", os.path.join(blocker, "x"))
        self.assertEqual(code, 1)
        self.assertEqual(len(err.splitlines()), 1)


class RefusalTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.tmp)

    def assert_refused(self, path: str, message: str, *command: str) -> None:
        result = run_cli(*(command or ("status",)), "--db", path)
        self.assertEqual((result.returncode, result.stdout), (2, ""))
        self.assertEqual(result.stderr, f"ghcrawl: error: {message}\n")

    def test_missing_file_is_never_created(self) -> None:
        """A missing database is an error, and no file appears, even for a writing command."""
        path = os.path.join(self.tmp, "missing.sqlite")
        self.assert_refused(path, f"no database at {path}", "seed", "add", "someone")
        self.assertEqual(os.listdir(self.tmp), [])

    def test_not_sqlite(self) -> None:
        """A file that is not SQLite is refused."""
        path = os.path.join(self.tmp, "notes.txt")
        Path(path).write_text("hello, this is not a database\n" * 100)
        self.assert_refused(path, f"{path} is not a usable SQLite database (file is not a database)")

    def test_not_ghcrawl(self) -> None:
        """A SQLite database without a schema_version table is refused."""
        path = os.path.join(self.tmp, "other.sqlite")
        conn = sqlite3.connect(path)
        conn.execute("CREATE TABLE things (id INTEGER)")
        conn.close()
        self.assert_refused(path, f"{path} is not a ghcrawl database (no schema_version table)", "retry-failed")

    def test_newer_schema(self) -> None:
        """A database from a newer ghcrawl is refused rather than misread."""
        path = os.path.join(self.tmp, "future.sqlite")
        conn = create_db(path)
        conn.execute("INSERT INTO schema_version VALUES (?, 'later')", (store.SCHEMA_VERSION + 1,))
        conn.close()
        self.assert_refused(path, f"{path} has schema version {store.SCHEMA_VERSION + 1}, newer than this "
                                  f"ghcrawl ({store.SCHEMA_VERSION}); upgrade ghcrawl")

    def test_folder(self) -> None:
        """A folder given as the database is refused."""
        self.assert_refused(self.tmp, f"{self.tmp} is not a file")

    def test_usage(self) -> None:
        """A missing --db is a usage error with exit 2."""
        result = run_cli("status")
        self.assertEqual(result.returncode, 2)
        self.assertIn("--db", result.stderr)
