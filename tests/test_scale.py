"""Several daemons on one database: leases with owners, no stealing, the work shared."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys

from twisted.trial.unittest import SynchronousTestCase

from ghcrawl.store import offline
from tests import pg
from tests.support import (
    SMALL_GRAPH,
    TOKEN,
    FakeHubProcess,
    expected,
    seed_args,
    snapshot,
    tempdir,
    truth,
    twistd,
    wait_for,
)

USERS = 200


class SharedDatabaseCase(SynchronousTestCase):
    hub_args: tuple[str, ...] = ("--latency", "20")
    #: Users and seed of the fake graph.
    graph: tuple[int, int] = (USERS, 1)

    def setUp(self) -> None:
        self.dir = tempdir()
        self.db = os.path.join(self.dir, "crawl.sqlite")
        users, seed = self.graph
        self.truth = truth(users, seed=seed)
        self.hub = FakeHubProcess(self.dir, "--users", str(users), "--seed", str(seed), "--token", TOKEN,
                                  *self.hub_args)
        self.addCleanup(self.hub.stop)

    def daemon(self, name: str, *extra: str) -> subprocess.Popen[bytes]:
        proc = twistd(self.dir, "--api-url", self.hub.url, "--db", self.db, *seed_args(self.truth),
                      "--worker-name", name, "--concurrency", "5", *extra)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        return proc

    def log(self) -> str:
        with open(os.path.join(self.dir, "crawl.log"), encoding="utf-8", errors="replace") as f:
            return f.read()

    def rows(self, sql: str) -> list[tuple[object, ...]]:
        conn = sqlite3.connect(self.db, timeout=10)
        try:
            return list(conn.execute(sql))
        finally:
            conn.close()

    def count(self, sql: str) -> int:
        """A count, or 0 while the schema is not there yet."""
        try:
            return int(self.rows(sql)[0][0])  # type: ignore[call-overload]
        except sqlite3.Error:
            return 0

    def assertMatchesTruth(self, got: dict[str, list[tuple[object, ...]]]) -> None:
        want = expected(self.truth)
        for table in ("users", "repos", "contributors"):
            self.assertEqual(len(got[table]), len(set(got[table])), f"{table} has duplicated rows")
            missing = sorted(set(want[table]) - set(got[table]))[:5]
            extra = sorted(set(got[table]) - set(want[table]))[:5]
            self.assertEqual((missing, extra), ([], []), f"{table} differs from the ground truth")


class TwoDaemonsOnSqliteTests(SharedDatabaseCase):
    def test_two_daemons_share_the_work_without_stealing(self) -> None:
        """Two --once daemons on one SQLite file: the truth, about the minimum of requests, no lease taken over."""
        first = self.daemon("one", "--once")
        wait_for(lambda: os.path.exists(self.db), 30, "database")
        second = self.daemon("two", "--once")
        self.assertEqual(first.wait(120), 0, self.log()[-3000:])
        self.assertEqual(second.wait(120), 0, self.log()[-3000:])
        self.assertMatchesTruth(snapshot(self.db))
        stats = self.hub.stats()
        self.assertLessEqual(stats["charged"], self.truth["min_requests"] + 4)
        self.assertNotIn("was taken over", self.log())
        owners = dict(self.rows("SELECT lease_owner, COUNT(*) FROM tasks GROUP BY lease_owner"))
        self.assertGreater(owners.get("one", 0), 0, owners)
        self.assertGreater(owners.get("two", 0), 0, owners)

    def test_killed_daemons_work_is_finished_after_its_leases_expire(self) -> None:
        """kill -9 one of two running daemons: the other finishes its tasks once their leases time out."""
        victim = self.daemon("victim", "--lease-timeout", "3")
        wait_for(lambda: os.path.exists(self.db), 30, "database")
        survivor = self.daemon("survivor", "--once", "--lease-timeout", "3")
        wait_for(lambda: self.count("SELECT COUNT(*) FROM tasks WHERE state = 'leased' AND lease_owner = 'victim'")
                 > 0, 30, "leases")
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        orphaned = self.rows("SELECT COUNT(*) FROM tasks WHERE state = 'leased' AND lease_owner = 'victim'")[0][0]
        self.assertEqual(survivor.wait(120), 0, self.log()[-3000:])
        self.assertMatchesTruth(snapshot(self.db))
        self.assertEqual(self.rows("SELECT COUNT(*) FROM tasks WHERE state <> 'done'"), [(0,)])
        self.assertGreater(orphaned, 0)
        # Re-fetched at most: what the victim had in flight or was storing (2 x concurrency).
        self.assertLessEqual(self.hub.stats()["charged"], self.truth["min_requests"] + 2 * 5 + 4)

    def test_status_shows_each_daemon(self) -> None:
        """`ghcrawl status` lists a running daemon with its heartbeat and leases, and drops it after a clean stop."""
        import json

        proc = self.daemon("crawler-7", "--lease-timeout", "3")

        def listed() -> list[dict[str, object]]:
            done = subprocess.run([sys.executable, "-m", "ghcrawl.cli", "status", "--json", "--db", self.db],
                                  capture_output=True, text=True, timeout=30)
            return json.loads(done.stdout)["daemons"] if done.returncode == 0 else []  # type: ignore[no-any-return]

        wait_for(lambda: any(d["leases"] for d in listed()), 60, "a daemon holding leases")
        [daemon] = listed()
        self.assertEqual((daemon["name"], daemon["state"], daemon["pid"]), ("crawler-7", "alive", proc.pid))
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(30), 0)
        self.assertEqual(listed(), [])


class TwoDaemonsOnSqliteBudgetTests(SharedDatabaseCase):
    graph = SMALL_GRAPH  # 365 requests: three windows of 150, two of them closed
    hub_args = ("--latency", "20", "--rate-limit", "150", "--rate-window", "3")

    def test_two_daemons_on_one_token_never_exceed_its_budget(self) -> None:
        """Two daemons on one SQLite file and one token share its budget through the ledger row."""
        procs = [self.daemon(f"d{i}", "--once") for i in range(2)]
        for proc in procs:
            self.assertEqual(proc.wait(120), 0, self.log()[-3000:])
        self.assertMatchesTruth(snapshot(self.db))
        stats = self.hub.stats()
        self.assertEqual(stats["violations"], 0, stats)
        self.assertGreaterEqual(len(stats["closed_windows"]), 2)


class PostgresCase(SharedDatabaseCase):
    def setUp(self) -> None:
        super().setUp()
        self.server = pg.server()
        self.db = self.server.database()

    def rows(self, sql: str) -> list[tuple[object, ...]]:
        conn = offline.open_offline(self.db)
        try:
            return conn.execute(sql).fetchall()  # type: ignore[no-any-return]
        finally:
            conn.close()

    def count(self, sql: str) -> int:
        try:
            return int(self.rows(sql)[0][0])  # type: ignore[call-overload]
        except Exception:
            return 0


class ThreeDaemonsOnPostgresTests(PostgresCase):
    def test_kill9_and_a_server_restart_lose_nothing(self) -> None:
        """Three daemons on PostgreSQL, one kill -9'd and the server restarted: the truth, nothing failed or doubled."""
        procs = [self.daemon(f"d{i}", "--once", "--lease-timeout", "5") for i in range(3)]
        wait_for(lambda: self.count("SELECT COUNT(*) FROM contributors") > 100, 60, "rows")
        procs[0].send_signal(signal.SIGKILL)
        procs[0].wait(10)
        wait_for(lambda: self.count("SELECT COUNT(*) FROM contributors") > 300, 60, "more rows")
        self.server.restart()
        for proc in procs[1:]:
            self.assertEqual(proc.wait(180), 0, self.log()[-3000:])
        self.assertMatchesTruth(snapshot(self.db))
        self.assertEqual(self.rows("SELECT state, COUNT(*) FROM tasks GROUP BY state"),
                         [("done", len(self.rows("SELECT id FROM tasks")))])
        self.assertEqual(self.count("SELECT COUNT(*) FROM (SELECT kind, key FROM tasks GROUP BY kind, key "
                                    "HAVING COUNT(*) > 1) AS twice"), 0)
        self.assertLessEqual(self.hub.stats()["charged"], 1.05 * self.truth["min_requests"])
        # A restart longer than lease_timeout lets leases expire: a daemon that lost one drops
        # that page unwritten (the rows above are exact), so no takeover check here.
        # Each cut-off transaction is one warning line, not a traceback.
        self.assertNotIn("Traceback", self.log())


class SharedBudgetTests(PostgresCase):
    # The small graph needs four windows of 100 (so three close, all spent) and meets a secondary limit thrice.
    graph = SMALL_GRAPH
    hub_args = ("--latency", "20", "--rate-limit", "100", "--rate-window", "2", "--secondary-every", "100",
                "--secondary-wait", "1")

    def test_three_daemons_on_one_token_never_exceed_its_budget(self) -> None:
        """Three daemons sharing one token and a tight budget: the truth, 0 violations of either limit."""
        procs = [self.daemon(f"d{i}", "--once", "--secondary-limit-wait", "1") for i in range(3)]
        for proc in procs:
            self.assertEqual(proc.wait(240), 0, self.log()[-3000:])
        self.assertMatchesTruth(snapshot(self.db))
        stats = self.hub.stats()
        self.assertEqual((stats["violations"], stats["secondary_violations"]), (0, 0), stats)
        self.assertGreater(stats["secondary_limited"], 0)
        self.assertGreaterEqual(len(stats["closed_windows"]), 3)
        owners = dict(self.rows("SELECT lease_owner, COUNT(*) FROM tasks GROUP BY lease_owner"))
        self.assertEqual(sorted(owners), ["d0", "d1", "d2"], owners)


class PostgresInputTests(SynchronousTestCase):
    def run_without_psycopg(self, code: str) -> subprocess.CompletedProcess[str]:
        hide = "import sys; sys.modules['psycopg'] = None; "
        return subprocess.run([sys.executable, "-c", hide + code], capture_output=True, text=True, timeout=60)

    def test_missing_driver_is_one_line_exit_2(self) -> None:
        """Without psycopg, a PostgreSQL URI is refused with the one line naming the extra to install."""
        done = self.run_without_psycopg(
            "from ghcrawl.cli import main; sys.exit(main(['status', '--db', 'postgresql://crawler@db.example/ghcrawl']))")
        self.assertEqual((done.returncode, done.stderr),
                         (2, "ghcrawl: error: PostgreSQL needs psycopg: pip install 'ghcrawl[postgres]'\n"))

    def test_password_never_shown(self) -> None:
        """The status line names the database without a password, even for a URI that held one."""
        from ghcrawl.store import redact

        self.assertEqual(redact("postgresql://crawler:s3cret@db.example:5432/ghcrawl"),
                         "postgresql://crawler@db.example:5432/ghcrawl")


class CopyTests(PostgresCase):
    hub_args = ()

    def ghcrawl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "ghcrawl.cli", *args], capture_output=True, text=True,
                              timeout=120)

    def table_rows(self, db: str) -> dict[str, list[tuple[object, ...]]]:
        conn = offline.open_offline(db)
        try:
            return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr)
                    for t in ("users", "repos", "contributors", "tasks", "http_cache", "rate_limits")}
        finally:
            conn.close()

    def exports(self, db: str, name: str) -> dict[str, bytes]:
        """Every export format of ``db``: file name -> bytes."""
        folder = os.path.join(self.dir, name)
        for form in ("csv", "jsonl", "graphml"):
            done = self.ghcrawl("export", "--db", db, "--format", form, "--out", folder)
            self.assertEqual(done.returncode, 0, done.stderr)
        files = {}
        for entry in sorted(os.listdir(folder)):
            with open(os.path.join(folder, entry), "rb") as f:
                files[entry] = f.read()
        return files

    def test_round_trip_is_identical_and_the_copy_continues_with_304s(self) -> None:
        """SQLite -> PostgreSQL -> SQLite is row for row identical, and so are exports; a refresh on the copy is all 304."""
        sqlite_db = os.path.join(self.dir, "crawl.sqlite")
        crawl = twistd(self.dir, "--api-url", self.hub.url, "--db", sqlite_db, *seed_args(self.truth), "--once")
        self.assertEqual(crawl.wait(120), 0, self.log()[-3000:])
        copied = self.ghcrawl("copy", sqlite_db, self.db)
        self.assertEqual(copied.returncode, 0, copied.stderr)
        back = os.path.join(self.dir, "back.sqlite")
        self.assertEqual(self.ghcrawl("copy", self.db, back).returncode, 0)
        original = self.table_rows(sqlite_db)
        self.assertEqual(self.table_rows(back), original)
        self.assertEqual(self.table_rows(self.db), original)
        exported = self.exports(sqlite_db, "from-sqlite")
        self.assertEqual(len(exported), 7, sorted(exported))
        self.assertIn(b"Z,", exported["users.csv"])  # the times are there, as text
        self.assertEqual(self.exports(self.db, "from-postgres"), exported)
        refused = self.ghcrawl("copy", sqlite_db, self.db)
        self.assertEqual(refused.returncode, 2)
        self.assertEqual(len(refused.stderr.splitlines()), 1, refused.stderr)
        self.assertIn("is not empty", refused.stderr)
        before = self.hub.stats()
        refresh = twistd(self.dir, "--api-url", self.hub.url, "--db", self.db, "--once", "--refresh-after", "0")
        self.assertEqual(refresh.wait(120), 0, self.log()[-3000:])
        after = self.hub.stats()
        sent = after["requests"] - before["requests"] - (after["by_endpoint"]["rate_limit"]
                                                         - before["by_endpoint"]["rate_limit"])
        self.assertGreater(sent, 100)
        # Every page that had validators answers 304; only final answers (404, 451...) come again.
        probes = after["by_endpoint"]["rate_limit"] - before["by_endpoint"]["rate_limit"]  # the token check
        self.assertEqual(after["by_status"]["200"] - before["by_status"]["200"], probes, after)
        self.assertGreaterEqual(after["not_modified"] - before["not_modified"], sent - 10, after)
        self.assertMatchesTruth(snapshot(self.db))


class TemplateUnitTests(SynchronousTestCase):
    UNITS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "etc")
    DIFFERENT = ("Description=", "After=", "ExecStart=", "StateDirectory=", "WorkingDirectory=")

    def read(self, name: str) -> list[str]:
        with open(os.path.join(self.UNITS, name), encoding="utf-8") as f:
            return [line for line in f.read().splitlines() if line and not line.startswith(("#", " "))]

    def test_same_hardening_as_the_single_unit(self) -> None:
        """Every setting of ghcrawl.service is in the template, except naming, ordering and folders."""
        template = set(self.read("ghcrawl@.service"))
        missing = [line for line in self.read("ghcrawl.service")
                   if not line.startswith(self.DIFFERENT) and line not in template]
        self.assertEqual(missing, [])
        self.assertIn("LoadCredential=pg-password:/etc/ghcrawl/pg-password", template)

    def test_systemd_accepts_an_instance(self) -> None:
        """systemd-analyze verifies an instance without a warning and rates its exposure at most 2.0."""
        import re
        import shutil

        from twisted.trial.unittest import SkipTest

        if shutil.which("systemd-analyze") is None:
            raise SkipTest("systemd-analyze is not installed")
        folder = tempdir()
        twistd_path = os.path.join(os.path.dirname(sys.executable), "twistd")
        with open(os.path.join(self.UNITS, "ghcrawl@.service"), encoding="utf-8") as f:
            text = f.read().replace("/opt/ghcrawl/venv/bin/twistd", twistd_path)
        unit = os.path.join(folder, "ghcrawl@1.service")
        with open(unit, "w", encoding="utf-8") as f:
            f.write(text)
        verify = subprocess.run(["systemd-analyze", "verify", unit], capture_output=True, text=True, timeout=60)
        self.assertEqual((verify.returncode, verify.stderr), (0, ""))
        security = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--no-pager", unit],
                                  capture_output=True, text=True, timeout=60)
        match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", security.stdout)
        self.assertIsNotNone(match, security.stdout + security.stderr)
        assert match is not None
        self.assertLessEqual(float(match.group(1)), 2.0)
