"""The store's privacy contract through its public interface: opt-outs, removals, the personal-data mode."""

from __future__ import annotations

import os
import tempfile
from typing import Any

from twisted.trial.unittest import TestCase

from ghcrawl.errors import StoreError
from ghcrawl.models import Contribution, Repo, User
from ghcrawl.store import Page, Store, offline, open_store, privacy
from tests import pg

#: When a person opted out, as ghcrawl writes it: UTC, whole seconds.
OPTED_OUT_AT = "2026-01-01T00:00:00Z"


def repo(repo_id: int, owner_id: int, full_name: str) -> Repo:
    return Repo(repo_id, owner_id, full_name, full_name.split("/")[1], None, False, "Python", 1, 0, 0, 10, "main",
                None, None, None, False)


def page(url: str, now: float) -> Page:
    return Page(url, None, now, f"2026-01-01T00:00:{int(now) % 60:02d}.000Z", "tok-1", '"etag"')


def profile(user_id: int, login: str) -> User:
    return User(user_id, login, "User", name=f"{login} Name", company="ACME", blog="b", location="l", bio="x")


class PrivacyStoreContract:
    """Behaviour every backend shows; subclasses say where the database lives."""

    timeout = 60

    def database(self) -> str:
        raise NotImplementedError

    def setUp(self) -> None:
        self.db = self.database()

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        conn = offline.open_offline(self.db)
        try:
            return list(conn.execute(sql).fetchall())
        finally:
            conn.close()

    async def store(self) -> Store:
        store = open_store(self.db, 1)
        self.addCleanup(store.close)  # type: ignore[attr-defined]
        await store.migrate()
        return store

    async def crawl_alice(self, store: Store) -> None:
        """Alice (seed) owns alice/x, which bob and carol contributed to."""
        await store.add_seeds(["alice"])
        [task] = await store.claim(5, 1.0)
        await store.commit_user(task, profile(1, "alice"), page("/users/alice", 2.0))
        [task] = await store.claim(5, 3.0)
        await store.commit_repos(task, [repo(10, 1, "alice/x")], page(task.url, 4.0))
        [task] = await store.claim(5, 5.0)
        listing = [Contribution(User(2, "bob", "User"), 3), Contribution(User(3, "carol", "User"), 1)]
        await store.commit_contributors(task, listing, page(task.url, 6.0))

    async def test_opted_out_contributor_is_skipped_and_never_fetched(self) -> None:
        """A listing keeps everyone but the opted-out person, whose profile is never claimed."""
        store = await self.store()
        await store.sync_optouts(["CAROL"], OPTED_OUT_AT)
        await self.crawl_alice(store)
        self.assertEqual(self.query("SELECT user_id FROM contributors ORDER BY user_id"), [(2,)])
        claimed = await store.claim(10, 7.0)
        self.assertEqual([t.key for t in claimed if t.kind == "user"], ["bob"])
        self.assertEqual(await store.opted_out(["Carol", "bob"]), ["Carol"])
        self.assertEqual(await store.add_seeds(["carol"]), 0)

    async def test_opt_out_between_page_writes_holds_for_the_next(self) -> None:
        """An opt-out or a mode recorded after a page write was stored applies to the very next page write."""
        store = await self.store()
        await store.add_seeds(["alice", "dan"])
        users = {t.key: t for t in await store.claim(5, 1.0)}
        await store.commit_user(users["alice"], profile(1, "alice"), page("/users/alice", 2.0))
        await store.set_personal_data(False)
        await store.commit_user(users["dan"], profile(4, "dan"), page("/users/dan", 2.0))
        [task] = [t for t in await store.claim(5, 3.0) if t.key == "1"]
        await store.commit_repos(task, [repo(10, 1, "alice/x")], page(task.url, 4.0))
        await store.sync_optouts(["carol"], OPTED_OUT_AT)
        [task] = await store.claim(5, 5.0)
        listing = [Contribution(User(2, "bob", "User"), 3), Contribution(User(3, "carol", "User"), 1)]
        await store.commit_contributors(task, listing, page(task.url, 6.0))
        self.assertEqual(self.query("SELECT user_id FROM contributors ORDER BY user_id"), [(2,)])
        self.assertEqual(self.query("SELECT id, name FROM users WHERE id IN (1, 4) ORDER BY id"),
                         [(1, None), (4, None)])

    async def test_file_removes_what_is_stored(self) -> None:
        """A person added to the file loses their rows, repositories, tasks and validators."""
        store = await self.store()
        await self.crawl_alice(store)
        [removed] = await store.sync_optouts(["1"], OPTED_OUT_AT)
        self.assertEqual((removed.users, removed.repos, removed.repo_contributors), (1, 1, 2))
        self.assertEqual(self.query("SELECT COUNT(*) FROM repos"), [(0,)])
        self.assertEqual(self.query("SELECT COUNT(*) FROM http_cache"), [(0,)])
        self.assertEqual(self.query("SELECT kind, key FROM tasks ORDER BY kind, key"),
                         [("user", "bob"), ("user", "carol")])
        self.assertEqual(await store.optout_count(), 1)

    async def test_held_work_of_a_removed_person(self) -> None:
        """Tasks claimed before a removal are reported gone, and their pages are dropped."""
        store = await self.store()
        await store.add_seeds(["dave", "erin"])
        tasks = await store.claim(5, 1.0)
        await store.sync_optouts(["dave"], OPTED_OUT_AT)
        self.assertEqual(await store.gone([t.id for t in tasks]), [t.id for t in tasks if t.key == "dave"])
        dave = next(t for t in tasks if t.key == "dave")
        self.assertIsNone(await store.commit_user(dave, profile(4, "dave"), page("/users/dave", 2.0)))
        self.assertEqual(self.query("SELECT COUNT(*) FROM users"), [(0,)])

    async def test_personal_data_mode(self) -> None:
        """With personal data off the five columns stay NULL; turning it back on is refused."""
        store = await self.store()
        await store.set_personal_data(False)
        await self.crawl_alice(store)
        self.assertEqual(self.query("SELECT login, name, company, blog, location, bio FROM users WHERE id = 1"),
                         [("alice", None, None, None, None, None)])
        with self.assertRaises(StoreError):  # type: ignore[attr-defined]
            await store.set_personal_data(True)
        await store.set_personal_data(False)

    async def test_forget_by_id_from_the_command(self) -> None:
        """forget by numeric id removes the person and records their id and hashed login."""
        store = await self.store()
        await self.crawl_alice(store)
        conn = offline.open_offline(self.db, write=True)
        try:
            removed = privacy.forget_offline(conn, "2", OPTED_OUT_AT)
        finally:
            conn.close()
        self.assertEqual((removed.login, removed.users, removed.contributions), ("bob", 1, 1))
        rows = self.query("SELECT user_id, login_hash, source FROM optouts")
        self.assertEqual([(r[0], r[2]) for r in rows], [(2, "forget")])
        self.assertEqual(len(rows[0][1]), 64)
        self.assertEqual(await store.opted_out(["BOB"]), ["BOB"])


class SqlitePrivacyTests(PrivacyStoreContract, TestCase):
    def database(self) -> str:
        return os.path.join(tempfile.mkdtemp(), "crawl.sqlite")


class PostgresPrivacyTests(PrivacyStoreContract, TestCase):
    def database(self) -> str:
        return pg.server().database()
