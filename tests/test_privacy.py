"""Privacy end to end: `ghcrawl forget`, the opt-out file on a running daemon, personal_data, no e-mail."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections import deque
from typing import Any

from tests.support import SMALL_GRAPH, TOKEN, FakeHubProcess, expected, snapshot, tempdir, truth, twistd
from tests.test_e2e import CrawlTestCase, wait_for

USERS = 200
PERSONAL = ("name", "company", "blog", "location", "bio")


def ghcrawl(*args: str) -> subprocess.CompletedProcess[str]:
    """The ``ghcrawl`` command in its own process."""
    return subprocess.run([sys.executable, "-m", "ghcrawl.cli", *args], capture_output=True, text=True, timeout=60)


def without(t: dict[str, Any], user_id: int) -> dict[str, Any]:
    """The ground truth minus one person: their user row, their repositories and every contributor row of theirs."""
    theirs = {r["id"] for r in t["repos"] if r["owner_id"] == user_id}
    return {
        "users": sorted((u["id"], u["login"], u["type"]) for u in t["users"] if u["id"] != user_id),
        "repos": sorted((r["id"], r["owner_id"], r["full_name"], bool(r["fork"])) for r in t["repos"]
                        if r["id"] not in theirs),
        "contributors": sorted(tuple(c) for c in t["contributors"] if c[0] not in theirs and c[1] != user_id),
    }


def stored(db: str) -> dict[str, Any]:
    got = snapshot(db)
    got["users"] = sorted(u[:3] for u in got["users"])
    return got


def depths(t: dict[str, Any], gone: int) -> dict[int, int]:
    """Shortest distance from the remaining seeds over what remains; the unreachable keep the truth's depth."""
    rest = without(t, gone)
    owner = {r[0]: r[1] for r in rest["repos"]}
    edges: dict[int, set[int]] = {}
    for repo, user, _n in rest["contributors"]:
        edges.setdefault(owner[repo], set()).add(user)
    result = {u["id"]: u["depth"] for u in t["users"] if u["id"] != gone}
    queue = deque(u for u, d in result.items() if d == 0)
    found = dict.fromkeys(queue, 0)
    while queue:
        u = queue.popleft()
        for v in edges.get(u, ()):
            if v not in found:
                found[v] = found[u] + 1
                queue.append(v)
    result.update(found)
    return result


def about(line: str, login: str, user_id: int, repos: set[int]) -> bool:
    """Whether a request path asks for this person's profile, repositories or their repositories' contributors."""
    path = line.split(" ", 1)[1].strip().lower()
    login = login.lower()
    return (path.split("?")[0] in (f"/users/{login}",) or path.startswith((f"/users/{login}/", f"/user/{user_id}/",
                                                                           f"/repos/{login}/"))
            or any(path.startswith(f"/repositories/{r}/") for r in repos))


def crawled_all(db: str, t: dict[str, Any]) -> bool:
    """Whether a running daemon has stored every contributor row of the truth."""
    try:
        return len(snapshot(db)["contributors"]) >= len(t["contributors"])
    except sqlite3.Error:
        return False  # not created yet


def mentions(db: str, user_id: int) -> list[str]:
    """Rows that still name this user id (the opt-out record aside)."""
    conn = sqlite3.connect(db, timeout=10)
    try:
        found = []
        for sql in ("SELECT 'users' FROM users WHERE id = ?", "SELECT 'repos' FROM repos WHERE owner_id = ?",
                    "SELECT 'contributors' FROM contributors WHERE user_id = ?",
                    "SELECT 'tasks' FROM tasks WHERE kind = 'repos' AND key = CAST(? AS TEXT)",
                    "SELECT 'http_cache' FROM http_cache WHERE url LIKE '/user/' || ? || '/%'"):
            found += [r[0] for r in conn.execute(sql, (user_id,))]
        return found
    finally:
        conn.close()


class PrivacyCrawl(CrawlTestCase):
    """A crawl whose fakehub logs every request it receives, with its arrival time."""

    def setUp(self) -> None:
        self.dir = tempdir()
        self.db = os.path.join(self.dir, "crawl.sqlite")
        users, seed = self.graph
        self.truth = truth(users, seed=seed)
        self.hub = FakeHubProcess(self.dir, "--users", str(users), "--seed", str(seed), "--token", TOKEN,
                                  "--request-log", os.path.join(self.dir, "requests.log"))
        self.addCleanup(self.hub.stop)
        self.by_id = {u["id"]: u for u in self.truth["users"]}
        self.owner = {r["id"]: r["owner_id"] for r in self.truth["repos"]}

    def repos_of(self, user_id: int) -> set[int]:
        return {r for r, o in self.owner.items() if o == user_id}

    def requests(self) -> list[str]:
        with open(os.path.join(self.dir, "requests.log"), encoding="utf-8") as f:
            return [line for line in f if line.strip()]

    def requests_about(self, user_id: int, after: float) -> list[str]:
        login = self.by_id[user_id]["login"]
        return [line for line in self.requests()
                if float(line.split(" ", 1)[0]) > after and about(line, login, user_id, self.repos_of(user_id))]


class ForgetTests(PrivacyCrawl):
    def victim(self) -> int:
        """A seed who owns repositories others contributed to and who contributed to others' repositories."""
        for seed in self.truth["seeds"]:
            uid = next(u["id"] for u in self.truth["users"] if u["login"] == seed)
            mine = self.repos_of(uid)
            others_in_mine = [c for c in self.truth["contributors"] if c[0] in mine and c[1] != uid]
            elsewhere = [c for c in self.truth["contributors"] if c[1] == uid and c[0] not in mine]
            if others_in_mine and elsewhere:
                return uid
        raise AssertionError("the fakehub has no seed that is owner and contributor")

    def test_forget_seed_owner_contributor(self) -> None:
        """forget leaves exactly the truth minus the person and their repositories, and a refresh keeps it so."""
        self.crawl_to_end()
        uid = self.victim()
        login = self.by_id[uid]["login"]
        result = ghcrawl("forget", login, "--db", self.db)
        self.assertEqual((result.returncode, result.stderr), (0, ""))
        self.assertRegex(result.stdout, rf"^{login} \(id {uid}\): removed 1 user row, [1-9]\d* repositories, "
                                        r"[1-9]\d* contributor rows of those, [1-9]\d* contributor rows elsewhere, ")
        self.assertEqual(len(result.stdout.splitlines()), 1)
        want = without(self.truth, uid)
        self.assertEqual(stored(self.db), want)
        self.assertEqual(mentions(self.db, uid), [])
        conn = sqlite3.connect(self.db)
        got_depths = dict(conn.execute("SELECT id, depth FROM users").fetchall())
        optouts = conn.execute("SELECT user_id, login_hash, source FROM optouts").fetchall()
        conn.close()
        self.assertEqual(got_depths, depths(self.truth, uid))
        self.assertEqual([(o[0], o[2]) for o in optouts], [(uid, "forget")])
        self.assertNotIn(login.lower(), optouts[0][1])
        self.assertIn("opted out      1 forgotten, 0 from the opt-out file\n", ghcrawl("status", "--db", self.db).stdout)
        # The seed is refused from now on, by the command and by the daemon.
        seeded = ghcrawl("seed", "add", login.upper(), "--db", self.db)
        self.assertEqual(seeded.stdout, f"{login.upper()}: refused, this person opted out (not queued)\n")
        moment = time.time()
        self.crawl_to_end("--refresh-after", "0")
        self.assertIn(f"seed {login} refused: this person opted out", self.log())
        self.assertEqual(self.requests_about(uid, moment), [])
        self.assertGreater(len([r for r in self.requests() if float(r.split()[0]) > moment]), 50)
        self.assertEqual(stored(self.db), want)
        self.assertEqual(mentions(self.db, uid), [])

    def test_forget_unknown_and_bad_input(self) -> None:
        """A person not in the database is still recorded; a bad name is one line, exit 2, nothing done."""
        self.crawl_to_end()
        result = ghcrawl("forget", "nobody-here", "99999999", "--db", self.db)
        self.assertEqual(result.stdout, "nobody-here: nothing stored; recorded as opted out\n"
                                        "99999999: nothing stored; recorded as opted out\n")
        bad = ghcrawl("forget", "not a login", "--db", self.db)
        self.assertEqual((bad.returncode, bad.stdout), (2, ""))
        self.assertEqual(len(bad.stderr.splitlines()), 1)
        missing = ghcrawl("forget", "x", "--db", os.path.join(self.dir, "none.sqlite"))
        self.assertEqual((missing.returncode, len(missing.stderr.splitlines())), (2, 1))
        self.assertEqual(expected(self.truth)["contributors"], snapshot(self.db)["contributors"])


class RunningDaemonTests(PrivacyCrawl):
    graph = SMALL_GRAPH  # a refresh round every few seconds is cheap on it

    def depth_one_contributors(self, count: int) -> list[int]:
        """Users one step from a seed who own repositories with contributors (so they cost requests)."""
        found = []
        for u in self.truth["users"]:
            mine = self.repos_of(u["id"])
            if u["depth"] == 1 and u["type"] == "User" and any(c[0] in mine for c in self.truth["contributors"]):
                found.append(u["id"])
        return found[:count]

    def refreshed_since(self, moment: float) -> bool:
        """Whether every task was done again since ``moment`` and none is due: a whole refresh round went by.

        Empty repositories' contributors aside: they are asked again only after a push.
        """
        conn = sqlite3.connect(self.db, timeout=10)
        try:
            left = conn.execute("SELECT COUNT(*) FROM tasks WHERE NOT (state = 'done' AND updated_at > ?) AND NOT "
                                "(kind = 'contributors' AND state = 'done' AND outcome = 'empty')", (moment,))
            return int(left.fetchone()[0]) == 0
        finally:
            conn.close()

    def effect_seen(self, count: int) -> bool:
        with open(os.path.join(self.dir, "crawl.log"), encoding="utf-8") as f:
            return any(json.loads(line).get("message") == f"opt-outs in effect: {count} recorded"
                       for line in f if line.startswith("{"))

    def test_optout_file_and_forget_on_running_daemon(self) -> None:
        """After an opt-out takes effect (file or forget) the daemon never asks for that person again."""
        first, second = self.depth_one_contributors(2)
        optfile = os.path.join(self.dir, "optout.txt")
        with open(optfile, "w", encoding="utf-8") as f:
            f.write("# people who asked to be left out\n\n")
        config = os.path.join(self.dir, "crawl.toml")
        with open(config, "w", encoding="utf-8") as f:
            f.write(f'optout_file = "{optfile}"\npoll_interval = 0.2\nrefresh_after = 3\n')
        proc = twistd(self.dir, "--config", config, "--api-url", self.hub.url, "--db", self.db,
                      "--log-format", "json", *[a for s in self.truth["seeds"] for a in ("--seed", s)])
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        wait_for(lambda: crawled_all(self.db, self.truth), 90, "the first crawl")
        self.assertTrue(mentions(self.db, first))
        with open(optfile, "a", encoding="utf-8") as f:
            f.write(f"  {self.by_id[first]['login'].upper()}   # asked on the list\nnot a login!\n")
        wait_for(lambda: self.effect_seen(1), 30, "the opt-out file to take effect")
        by_file = time.time()
        result = ghcrawl("forget", str(second), "--db", self.db)
        self.assertEqual(result.returncode, 0, result.stderr)
        wait_for(lambda: self.effect_seen(2), 30, "the forget to take effect")
        by_forget = time.time()
        wait_for(lambda: self.refreshed_since(by_forget), 60, "a refresh round of everyone else")
        self.assertIsNone(proc.poll())
        self.assertGreater(len([r for r in self.requests() if float(r.split()[0]) > by_forget]), 50)
        self.assertEqual(self.requests_about(first, by_file), [])
        self.assertEqual(self.requests_about(second, by_forget), [])
        self.assertEqual((mentions(self.db, first), mentions(self.db, second)), ([], []))
        with open(os.path.join(self.dir, "crawl.log"), encoding="utf-8") as f:
            log = f.read()
        warned = [line for line in log.splitlines() if "line 4: 'not a login!' is neither a login nor" in line]
        self.assertEqual(len(warned), 1)
        self.assertNotIn(self.by_id[second]["login"], log)
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(20), 0)
        moment = time.time()
        self.crawl_to_end("--config", config, "--refresh-after", "0")
        self.assertEqual(self.requests_about(first, moment) + self.requests_about(second, moment), [])
        self.assertEqual((mentions(self.db, first), mentions(self.db, second)), ([], []))


class PersonalDataTests(CrawlTestCase):
    def personal_values(self) -> int:
        conn = sqlite3.connect(self.db)
        try:
            where = " OR ".join(f"{c} IS NOT NULL" for c in PERSONAL)
            return int(conn.execute(f"SELECT COUNT(*) FROM users WHERE {where}").fetchone()[0])
        finally:
            conn.close()

    def test_no_personal_data(self) -> None:
        """personal_data = false: the five columns are NULL everywhere, on fetch and refresh; the rest is the truth."""
        self.crawl_to_end("--personal-data", "false")
        self.assertMatchesTruth()
        self.assertEqual(self.personal_values(), 0)
        urllib.request.urlopen(urllib.request.Request(self.hub.url + "/__fakehub/mutate?share=0.3", method="POST"),
                               timeout=10).close()
        self.crawl_to_end("--personal-data", "false", "--refresh-after", "0")
        self.assertEqual(self.personal_values(), 0)
        status = ghcrawl("status", "--db", self.db)
        self.assertIn("personal data  not stored (personal_data = false)\n", status.stdout)
        report = json.loads(ghcrawl("status", "--db", self.db, "--json").stdout)
        self.assertEqual(report["privacy"], {"personal_data": False, "optouts_forget": 0, "optouts_file": 0})

    def test_switching_modes(self) -> None:
        """Turning personal data off clears what was stored; turning it back on is refused with one line."""
        self.crawl_to_end()
        self.assertGreater(self.personal_values(), 10)
        self.assertIn("personal data  stored (personal_data = true)\n", ghcrawl("status", "--db", self.db).stdout)
        self.crawl_to_end("--personal-data", "false")
        self.assertEqual(self.personal_values(), 0)
        before = os.path.getsize(os.path.join(self.dir, "crawl.log"))
        proc = self.crawl("--once")
        self.assertNotEqual(proc.wait(60), 0)
        with open(os.path.join(self.dir, "crawl.log"), encoding="utf-8") as f:
            f.seek(before)
            errors = [line for line in f if "personal_data" in line]
        self.assertEqual(len(errors), 1, errors)
        self.assertIn("refusing personal_data = true (its rows would be a mix)", errors[0])
        self.assertEqual(self.personal_values(), 0)


class EmailTests(CrawlTestCase):
    hub_args = ("--public-emails",)

    def test_no_email_stored(self) -> None:
        """Users with public e-mails: no byte of the database or its WAL holds any of them."""
        with urllib.request.urlopen(urllib.request.Request(
                f"{self.hub.url}/users/{self.truth['seeds'][0]}", headers={"Authorization": f"Bearer {TOKEN}",
                                                                           "User-Agent": "test"}), timeout=10) as r:
            self.assertIn("@mail.example.net", json.loads(r.read())["email"])
        proc = self.crawl()
        wait_for(lambda: crawled_all(self.db, self.truth), 90, "the crawl")
        proc.send_signal(signal.SIGKILL)  # keep the WAL as the daemon left it
        proc.wait(10)
        emails = [f"{u['login'].lower().removesuffix('[bot]')}.{u['id']}@mail.example.net".encode()
                  for u in self.truth["users"]]
        files = [n for n in os.listdir(self.dir) if n.startswith("crawl.sqlite")]
        self.assertIn("crawl.sqlite-wal", files)
        for name in files:
            with open(os.path.join(self.dir, name), "rb") as f:
                data = f.read()
            self.assertNotIn(b"mail.example.net", data, name)
            self.assertEqual([e for e in emails if e in data], [], name)
