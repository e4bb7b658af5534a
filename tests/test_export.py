"""Exports: CSV and JSON Lines columns and quoting, GraphML structure, flat memory on a big database."""

from __future__ import annotations

import csv
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

from twisted.trial.unittest import SkipTest, SynchronousTestCase

from ghcrawl import export
from ghcrawl.store import migrations
from ghcrawl.store import offline as store

ROOT = Path(__file__).parent.parent
NS = {"g": export.GRAPHML_NS}
ODD = 'comma, "quote"\nnew line <tag> & ünï \x01\x0b\x1f\ud7ff end'


def create_db(path: str) -> sqlite3.Connection:
    """A ghcrawl database at the current schema version, built from the schema files as the daemon would."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    for number, name in enumerate(migrations.SCHEMA_FILES, start=1):
        conn.executescript(migrations.ddl("sqlite", name))
        conn.execute("INSERT INTO schema_version (version, applied_at) VALUES (?, '2024-01-01T00:00:00Z')", (number,))
    return conn


def fill_small(conn: sqlite3.Connection) -> None:
    """Three users, two repos (one a fork), three contribution rows, with awkward text."""
    conn.executemany(
        "INSERT INTO users (id, login, type, name, bio, followers, depth, fetched_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [(1, "alice", "User", "Alice", ODD, 10, 0, "2024-01-02T00:00:00Z"),
         (2, "bob", "User", None, None, None, 1, None),
         (3, "dependabot[bot]", "Bot", None, None, None, 1, None)],
    )
    conn.executemany(
        "INSERT INTO repos (id, owner_id, full_name, name, description, fork, language, stargazers_count, "
        "contributors_status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(10, 1, "alice/tool", "tool", ODD, 0, "Python", 42, "ok"),
         (11, 1, "alice/fork", "fork", None, 1, None, None, None)],
    )
    conn.executemany(
        "INSERT INTO contributors (repo_id, user_id, contributions, seen_at) VALUES (?, ?, ?, ?)",
        [(10, 1, 30, "t"), (10, 2, 5, "t"), (10, 3, 1, "t")],
    )


def fill_generated(conn: sqlite3.Connection, rows: int) -> None:
    """``rows`` contributor rows over rows/2 users and rows/8 repositories."""
    users, repos = max(1, rows // 2), max(1, rows // 8)
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO users (id, login, type, bio, depth, fetched_at) VALUES (?, ?, 'User', ?, 1, ?)",
        ((i, f"user{i}", "bio " * 10, "2024-01-01T00:00:00Z") for i in range(users)),
    )
    conn.executemany(
        "INSERT INTO repos (id, owner_id, full_name, name, fork, description) VALUES (?, ?, ?, ?, 0, ?)",
        ((i, i % users, f"user{i % users}/repo{i}", f"repo{i}", "words " * 10) for i in range(repos)),
    )
    conn.executemany(
        "INSERT INTO contributors (repo_id, user_id, contributions, seen_at, seen_on_page) VALUES (?, ?, ?, 't', 'p')",
        ((i % repos, (i * 7 + i // repos) % users, i % 100 + 1) for i in range(rows)),
    )
    conn.execute("COMMIT")


class ExportTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.tmp)
        self.db = os.path.join(self.tmp, "crawl.sqlite")
        conn = create_db(self.db)
        fill_small(conn)
        conn.close()
        self.conn = store.open_offline(self.db)
        self.addCleanup(self.conn.close)
        self.out = os.path.join(self.tmp, "out", "nested")

    def test_columns_are_the_schema_columns_in_order(self) -> None:
        """Each export's columns are exactly its table's schema-version-1 columns, in schema order."""
        for table, columns in (("users", store.USER_EXPORT_COLUMNS), ("repos", store.REPO_EXPORT_COLUMNS),
                               ("contributors", store.CONTRIBUTOR_EXPORT_COLUMNS)):
            schema = tuple(r[1] for r in self.conn.execute(f"PRAGMA table_info({table})"))
            self.assertEqual(columns, schema)

    def test_csv(self) -> None:
        """CSV files have a header of column names and round-trip awkward text; NULL is empty."""
        written = export.export(self.conn, "csv", self.out)
        self.assertEqual([(os.path.basename(p), n) for p, n in written],
                         [("users.csv", 3), ("repos.csv", 2), ("contributors.csv", 3)])
        with open(os.path.join(self.out, "users.csv"), newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
        self.assertEqual(tuple(rows[0]), store.USER_EXPORT_COLUMNS)
        alice = dict(zip(rows[0], rows[1]))
        self.assertEqual((alice["login"], alice["bio"], alice["followers"], alice["company"]),
                         ("alice", ODD, "10", ""))
        self.assertEqual(rows[3][1], "dependabot[bot]")
        self.assertEqual(sorted(os.listdir(self.out)), ["contributors.csv", "repos.csv", "users.csv"])

    def test_jsonl(self) -> None:
        """JSON Lines files hold one object per row, keys in column order, NULL as null."""
        export.export(self.conn, "jsonl", self.out)
        with open(os.path.join(self.out, "repos.jsonl"), encoding="utf-8") as f:
            rows = [json.loads(line) for line in f]
        self.assertEqual(len(rows), 2)
        self.assertEqual(tuple(rows[0]), store.REPO_EXPORT_COLUMNS)
        self.assertEqual((rows[0]["full_name"], rows[0]["description"], rows[1]["language"]),
                         ("alice/tool", ODD, None))

    def graph(self) -> ET.Element:
        export.export(self.conn, "graphml", self.out)
        return ET.parse(os.path.join(self.out, "graph.graphml")).getroot()

    def test_graphml_structure(self) -> None:
        """The graph has the GraphML namespace, declared keys, u/r node ids and weighted user-to-repo edges."""
        root = self.graph()
        self.assertEqual(root.tag, f"{{{export.GRAPHML_NS}}}graphml")
        keys = {k.get("id"): (k.get("for"), k.get("attr.type")) for k in root.findall("g:key", NS)}
        self.assertEqual(keys["weight"], ("edge", "double"))
        graph = root.find("g:graph", NS)
        assert graph is not None
        self.assertEqual(graph.get("edgedefault"), "directed")
        nodes = {n.get("id"): {d.get("key"): d.text for d in n} for n in graph.findall("g:node", NS)}
        self.assertEqual(sorted(nodes), ["r10", "r11", "u1", "u2", "u3"])
        self.assertEqual(nodes["u3"], {"kind": "user", "label": "dependabot[bot]", "login": "dependabot[bot]",
                                       "type": "Bot", "depth": "1"})
        self.assertEqual((nodes["r10"]["fork"], nodes["r11"]["fork"]), ("false", "true"))
        edges = [(e.get("source"), e.get("target"), e.find("g:data", NS).text)  # type: ignore[union-attr]
                 for e in graph.findall("g:edge", NS)]
        self.assertEqual(edges, [("u1", "r10", "30.0"), ("u2", "r10", "5.0"), ("u3", "r10", "1.0")])
        used = {d.get("key") for d in root.iter(f"{{{export.GRAPHML_NS}}}data")}
        self.assertLessEqual(used, set(keys))

    def test_graphml_text_is_escaped_and_cleaned(self) -> None:
        """Markup in text is escaped and characters XML 1.0 forbids are dropped, so any parser reads it."""
        conn = sqlite3.connect(self.db)
        conn.execute("UPDATE repos SET language = ? WHERE id = 10", (ODD,))
        conn.commit()
        conn.close()
        root = self.graph()
        language = root.find("g:graph/g:node[@id='r10']/g:data[@key='language']", NS)
        assert language is not None
        self.assertEqual(language.text, 'comma, "quote"\nnew line <tag> & ünï \ud7ff end')

    def test_xml_text(self) -> None:
        """xml_text escapes markup and carriage returns and drops forbidden code points."""
        self.assertEqual(export.xml_text('a<b>&"c"\r\x00\x08\ufffe'), "a&lt;b&gt;&amp;&quot;c&quot;&#13;")
        self.assertEqual(export.xml_text(True), "true")

    def test_networkx_reads_the_graph(self) -> None:
        """networkx.read_graphml loads the export with typed attributes (skipped without networkx)."""
        try:
            import networkx  # type: ignore[import-untyped]
        except ImportError:
            raise SkipTest("networkx is not installed") from None
        export.export(self.conn, "graphml", self.out)
        g = networkx.read_graphml(os.path.join(self.out, "graph.graphml"))
        self.assertTrue(g.is_directed())
        self.assertEqual(g.number_of_nodes(), 5)
        self.assertEqual(g.edges["u2", "r10"]["weight"], 5.0)
        self.assertEqual(g.nodes["r10"]["stargazers_count"], 42)
        self.assertIs(g.nodes["r11"]["fork"], True)
        self.assertEqual(g.nodes["r10"]["label"], "alice/tool")

    def test_unknown_format(self) -> None:
        """An unknown format is refused before any file is written."""
        self.assertRaises(ValueError, export.export, self.conn, "xlsx", self.out)
        self.assertFalse(os.path.exists(self.out))


# VmHWM is this process's own peak RSS (ru_maxrss would include the forking parent's);
# writing 5 to clear_refs resets it to the current RSS before each export.
_MEASURE = """
import json, sys
from ghcrawl import export
from ghcrawl.store import offline as store
def kib(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))
conn = store.open_offline(sys.argv[1])
growth = {}
for fmt in export.FORMATS:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    base = kib("VmRSS")
    export.export(conn, fmt, sys.argv[2])
    growth[fmt] = kib("VmHWM") - base
print(json.dumps(growth))
"""


def measure(db: str, out: str) -> dict[str, int]:
    """Peak resident memory growth (KiB) during each export, measured in a fresh process."""
    result = subprocess.run([sys.executable, "-c", _MEASURE, db, out], capture_output=True, text=True,
                            timeout=120, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    return json.loads(result.stdout)  # type: ignore[no-any-return]


class MemoryTests(SynchronousTestCase):
    def test_memory_stays_flat(self) -> None:
        """Exporting 200k contributor rows (plus 100k users, 25k repos) grows peak RSS by under 8 MiB."""
        if not os.path.exists("/proc/self/clear_refs"):
            raise SkipTest("needs Linux /proc to read peak RSS")
        tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, tmp)
        db = os.path.join(tmp, "big.sqlite")
        fill_generated(create_db(db), 200_000)
        growth = measure(db, os.path.join(tmp, "out"))
        # Holding the rows instead of streaming them would take well over 50 MiB here.
        self.assertLess(max(growth.values()), 8 * 1024, growth)
        with open(os.path.join(tmp, "out", "contributors.csv"), encoding="utf-8") as f:
            self.assertEqual(sum(1 for _ in f), 200_001)
