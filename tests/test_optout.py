"""The opt-out file's format and change detection, the privacy config keys, and the store's privacy rules."""

from __future__ import annotations

import os
import tempfile

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from ghcrawl.config import load
from ghcrawl.errors import ConfigError, StoreError
from ghcrawl.models import Contribution, User
from ghcrawl.optout import OptOutFile, parse
from ghcrawl.store import privacy
from tests.test_export import create_db

LOGINS = st.from_regex(r"\A[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,20}\Z")


class ParseTests(SynchronousTestCase):
    def test_format(self) -> None:
        """Logins and ids, one a line; comments, blanks and case do not matter; a bad line is one warning."""
        listed = parse("f", "# removal requests\n\nAlice\n  1005  # by id\nalice\nbad login\n-x\n")
        self.assertEqual(listed.entries, ("alice", "1005"))
        self.assertEqual(listed.warnings, (
            "optout_file f line 6: 'bad login' is neither a login nor a numeric id",
            "optout_file f line 7: '-x' is neither a login nor a numeric id"))

    @given(st.lists(LOGINS, max_size=20), st.lists(st.text(st.characters(blacklist_characters="\n"), max_size=30), max_size=5))
    def test_never_crashes(self, logins: list[str], noise: list[str]) -> None:
        """Any text parses: every login comes back lower-cased, every other line is at most one warning."""
        lines = logins + noise
        listed = parse("f", "\n".join(lines))
        self.assertTrue({s.lower() for s in logins} <= set(listed.entries))
        self.assertLessEqual(len(listed.warnings), len(noise))

    def test_changes_are_noticed(self) -> None:
        """changed() gives a new reading only after the file changed, and keeps quiet while it is missing."""
        folder = tempfile.mkdtemp()
        path = os.path.join(folder, "optout.txt")
        with open(path, "w") as f:
            f.write("alice\n")
        watched = OptOutFile(path)
        self.assertEqual(watched.read().entries, ("alice",))
        self.assertIsNone(watched.changed())
        with open(path, "a") as f:
            f.write("bob\n")
        self.assertEqual(watched.changed().entries, ("alice", "bob"))  # type: ignore[union-attr]
        self.assertIsNone(watched.changed())
        os.remove(path)
        self.assertIsNone(watched.changed())


class ConfigTests(SynchronousTestCase):
    def test_keys(self) -> None:
        """personal_data defaults to true and takes the flag's true/false; optout_file must be readable."""
        self.assertEqual((load({}, {}).personal_data, load({}, {}).optout_file), (True, None))
        self.assertFalse(load({"personal_data": "false"}, {}).personal_data)
        for flags, words in (({"personal_data": "no"}, "personal_data must be true or false"),
                             ({"optout_file": "/nonexistent/optout"}, "optout_file /nonexistent/optout is not")):
            with self.assertRaises(ConfigError) as caught:
                load(flags, {})
            self.assertIn(words, str(caught.exception))


class StoreRuleTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.conn = create_db(os.path.join(tempfile.mkdtemp(), "crawl.sqlite"))
        self.addCleanup(self.conn.close)
        self.cur = self.conn.cursor()
        self.cur.executemany("INSERT INTO users (id, login, type, name, bio, depth) VALUES (?, ?, 'User', ?, ?, ?)",
                             [(1, "Alice", "Alice A.", "hi", 0), (2, "bob", "Bob B.", None, 1)])

    def test_mode_switches(self) -> None:
        """Turning personal data off clears it; back on is refused with one line and changes nothing."""
        self.assertIsNone(privacy.personal_data(self.cur))
        privacy.set_personal_data(self.cur, True)
        privacy.set_personal_data(self.cur, False)
        self.assertEqual(self.cur.execute("SELECT COUNT(*) FROM users WHERE name IS NOT NULL").fetchone()[0], 0)
        with self.assertRaises(StoreError) as caught:
            privacy.set_personal_data(self.cur, True)
        self.assertNotIn("\n", str(caught.exception))
        self.assertFalse(privacy.personal_data(self.cur))

    def test_login_is_never_stored(self) -> None:
        """An opt-out keeps the id and a salted hash of the lower-case login; the hash matches any case."""
        privacy.forget(self.cur, "ALICE", "2026-01-01T00:00:00Z")
        rows = self.cur.execute("SELECT user_id, login_hash FROM optouts").fetchall()
        self.assertEqual([r[0] for r in rows], [1])
        self.assertNotIn("alice", "\n".join(self.conn.iterdump()).lower())
        self.assertEqual(privacy.opted_out_logins(self.cur, ["alice", "Bob", "aLiCe"]), ["alice", "aLiCe"])

    def test_file_entries_follow_the_file(self) -> None:
        """File opt-outs are replaced by each reading; forget's stay."""
        privacy.forget(self.cur, "carol", "t")
        privacy.sync_file(self.cur, ["bob"], "t")
        self.assertEqual(privacy.opted_out_logins(self.cur, ["bob", "carol"]), ["bob", "carol"])
        privacy.sync_file(self.cur, [], "t")
        self.assertEqual(privacy.opted_out_logins(self.cur, ["bob", "carol"]), ["carol"])

    def test_file_entry_keeps_its_id(self) -> None:
        """A file entry keeps the id it was matched to across edits of the file, so a rename cannot bring them back."""
        privacy.sync_file(self.cur, ["alice"], "t")
        privacy.sync_file(self.cur, ["bob", "alice"], "t")
        renamed = [Contribution(User(1, "alice-renamed", "User"), 1), Contribution(User(5, "eve", "User"), 1)]
        self.assertEqual([c.user.id for c in privacy.without_opted_out(self.cur, renamed)], [5])
        privacy.sync_file(self.cur, ["bob"], "t")
        self.assertEqual(len(privacy.without_opted_out(self.cur, renamed)), 2)

    def test_salt_is_per_database(self) -> None:
        """Two databases hash the same login differently."""
        other = create_db(os.path.join(tempfile.mkdtemp(), "other.sqlite"))
        self.addCleanup(other.close)
        privacy.forget(self.cur, "zed", "t")
        privacy.forget(other.cursor(), "zed", "t")
        hashes = {c.execute("SELECT login_hash FROM optouts").fetchone()[0] for c in (self.conn, other)}
        self.assertEqual(len(hashes), 2)
