"""Pseudonymized exports: keyed hashes, salts, and what a shared dataset still holds after a real crawl."""

from __future__ import annotations

import csv
import hashlib
import hmac
import json
import os
import re
import sqlite3
import xml.etree.ElementTree as ET
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from ghcrawl import export
from ghcrawl.errors import ConfigError
from ghcrawl.pseudonymize import Pseudonymizer, keyed_hash, load_salt
from tests.support import tempdir
from tests.test_e2e import CrawlTestCase
from tests.test_privacy import ghcrawl

#: Columns that are counts or depths: their numbers may equal an id by chance.
COUNTS = {"public_repos", "followers", "following", "stargazers_count", "forks_count", "open_issues_count", "size",
          "contributions", "depth", "weight"}


class KeyedHashTests(SynchronousTestCase):
    def test_hmac_sha256_hex_16(self) -> None:
        """A pseudonym is HMAC-SHA256 of the value in its domain under the salt, hex, cut to 16 characters."""
        salt = b"0123456789abcdef"
        want = hmac.new(salt, b"user:1005", hashlib.sha256).hexdigest()[:16]
        self.assertEqual(keyed_hash(salt, "user", 1005), want)
        self.assertNotEqual(keyed_hash(salt, "user", 1005), keyed_hash(salt, "repo", 1005))
        self.assertNotEqual(keyed_hash(salt, "user", 1005), keyed_hash(salt + b"x", "user", 1005))

    def test_full_name_links_to_owner_login(self) -> None:
        """A repository's owner hash is the owner's login pseudonym, whatever the case."""
        p = Pseudonymizer(b"s" * 16)
        owner, name = (p.full_name("Octo-Cat/Hello.World") or "").split("/")
        self.assertEqual((owner, name), (p.login("octo-cat"), p.repo_name("hello.world")))

    def test_salt_file_refusals(self) -> None:
        """A missing or short salt file is one line naming the problem."""
        folder = tempdir()
        short = os.path.join(folder, "short")
        with open(short, "wb") as f:
            f.write(b"x" * 15)
        for path, words in ((short, "holds 15 bytes; at least 16"), (os.path.join(folder, "none"), "cannot read")):
            with self.assertRaises(ConfigError) as caught:
                load_salt(path)
            self.assertIn(words, str(caught.exception))
            self.assertNotIn("\n", str(caught.exception))


class PseudonymizedExportTests(CrawlTestCase):
    def salt(self, name: str, data: bytes) -> str:
        path = os.path.join(self.dir, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def export(self, fmt: str, out: str, salt: str | None) -> None:
        args = ["export", "--db", self.db, "--format", fmt, "--out", os.path.join(self.dir, out)]
        result = ghcrawl(*args, *(["--pseudonymize", "--salt-file", salt] if salt else []))
        self.assertEqual((result.returncode, result.stderr), (0, ""))

    def secrets(self) -> tuple[set[str], set[str]]:
        """Every id of the database as text, and every login, name and free text (lower-case)."""
        conn = sqlite3.connect(self.db)
        try:
            ids = {str(i) for (i,) in conn.execute("SELECT id FROM users UNION SELECT id FROM repos")}
            words = {str(v).lower() for row in conn.execute(
                "SELECT login, name, company, blog, location, bio FROM users UNION ALL "
                "SELECT full_name, name, description, NULL, NULL, NULL FROM repos") for v in row if v}
        finally:
            conn.close()
        return ids, words

    def values(self, folder: str) -> list[tuple[str, Any]]:
        """(column, value) of every field of every pseudonymized file in ``folder``."""
        found: list[tuple[str, Any]] = []
        for name in sorted(os.listdir(os.path.join(self.dir, folder))):
            path = os.path.join(self.dir, folder, name)
            with open(path, encoding="utf-8") as f:
                if name.endswith(".csv"):
                    found += [(k, v) for row in csv.DictReader(f) for k, v in row.items()]
                elif name.endswith(".jsonl"):
                    found += [(k, v) for line in f for k, v in json.loads(line).items()]
                else:
                    tree = ET.parse(f)
                    ns = {"g": export.GRAPHML_NS}
                    for el in tree.iterfind(".//g:node", ns):
                        found.append(("node", el.get("id")))
                    for el in tree.iterfind(".//g:edge", ns):
                        found += [("node", el.get("source")), ("node", el.get("target"))]
                    found += [(el.get("key"), el.text) for el in tree.iterfind(".//g:data", ns)]
        return found

    def test_pseudonymized_exports(self) -> None:
        """No login, name or id survives; one salt gives identical files; the graph keeps its shape."""
        self.crawl_to_end()
        salt = self.salt("salt", os.urandom(32))
        for fmt in ("csv", "jsonl", "graphml"):
            self.export(fmt, "a", salt)
            self.export(fmt, "b", salt)
        self.export("graphml", "c", self.salt("other", os.urandom(16)))
        self.export("graphml", "plain", None)
        names = sorted(os.listdir(os.path.join(self.dir, "a")))
        self.assertEqual(names, ["contributors.csv", "contributors.jsonl", "graph.graphml", "repos.csv", "repos.jsonl",
                                 "users.csv", "users.jsonl"])
        for name in names:
            with open(os.path.join(self.dir, "a", name), "rb") as a, open(os.path.join(self.dir, "b", name), "rb") as b:
                self.assertEqual(a.read(), b.read(), name)
        ids, words = self.secrets()
        values = self.values("a")
        self.assertGreater(len(values), 10_000)
        leaked = [(k, v) for k, v in values if k not in COUNTS and re.sub("^[ur]", "", str(v)) in ids]
        self.assertEqual(leaked, [])
        for name in names:
            with open(os.path.join(self.dir, "a", name), encoding="utf-8") as f:
                text = f.read().lower()
            # Logins and texts made only of hex digits could be part of a hash by chance.
            self.assertEqual([w for w in words if len(w) > 3 and not re.fullmatch("[0-9a-f]+", w) and w in text],
                             [], name)
        self.check_graph()

    def check_graph(self) -> None:
        import networkx as nx

        plain = nx.read_graphml(os.path.join(self.dir, "plain", "graph.graphml"))
        hashed = nx.read_graphml(os.path.join(self.dir, "a", "graph.graphml"))
        other = nx.read_graphml(os.path.join(self.dir, "c", "graph.graphml"))
        self.assertEqual((hashed.number_of_nodes(), hashed.number_of_edges()),
                         (plain.number_of_nodes(), plain.number_of_edges()))
        self.assertEqual(sorted(d for _, d in hashed.degree()), sorted(d for _, d in plain.degree()))
        self.assertEqual(set(hashed.nodes) & set(other.nodes), set())  # another salt: nothing links

    def test_joins_still_work(self) -> None:
        """Pseudonymized ids join: every contributor row names an exported user and repository."""
        self.crawl_to_end()
        self.export("csv", "a", self.salt("salt", b"k" * 16))

        def rows(name: str) -> list[dict[str, str]]:
            with open(os.path.join(self.dir, "a", f"{name}.csv"), encoding="utf-8") as f:
                return list(csv.DictReader(f))

        users, repos, contributors = rows("users"), rows("repos"), rows("contributors")
        self.assertNotIn("name", users[0])
        self.assertNotIn("description", repos[0])
        self.assertNotIn("seen_on_page", contributors[0])
        login_of = {u["id"]: u["login"] for u in users}
        self.assertTrue(all(r["full_name"].split("/")[0] == login_of[r["owner_id"]] for r in repos))
        repo_ids = {r["id"] for r in repos}
        self.assertTrue(all(c["user_id"] in login_of and c["repo_id"] in repo_ids for c in contributors))
        self.assertEqual(len(contributors), len(self.truth["contributors"]))

    def test_refusals(self) -> None:
        """A short or missing salt file, or --pseudonymize alone, is one line, exit 2, and nothing written."""
        self.crawl_to_end("--max-depth", "0")
        short = self.salt("short", b"too short")
        for extra in (["--pseudonymize", "--salt-file", short], ["--pseudonymize", "--salt-file", "/nonexistent"],
                      ["--pseudonymize"], ["--salt-file", short]):
            out = os.path.join(self.dir, "refused")
            result = ghcrawl("export", "--db", self.db, "--format", "csv", "--out", out, *extra)
            self.assertEqual((result.returncode, result.stdout, len(result.stderr.splitlines())), (2, "", 1), extra)
            self.assertFalse(os.path.exists(out))
