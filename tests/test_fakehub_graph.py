"""The synthetic graph: determinism, shape and the planted edge cases."""

from __future__ import annotations

import time

from twisted.trial.unittest import SynchronousTestCase

from ghcrawl.fakehub import Graph
from ghcrawl.fakehub.truth import truth


class GraphTests(SynchronousTestCase):
    def test_same_seed_same_graph(self) -> None:
        """Two graphs from the same inputs agree on seeds, logins and contributors."""
        a, b = Graph(seed=5, users=300), Graph(seed=5, users=300)
        self.assertEqual(a.suggested_seeds, b.suggested_seeds)
        hub = a.user_by_login(a.suggested_seeds[0])
        assert hub is not None
        self.assertEqual([a.contributors(r) for r in a.repos_of(hub.index)],
                         [b.contributors(r) for r in b.repos_of(hub.index)])

    def test_different_seed_different_graph(self) -> None:
        """Another seed gives other seeds and logins."""
        self.assertNotEqual(Graph(seed=1).suggested_seeds, Graph(seed=2).suggested_seeds)

    def test_big_graph_is_lazy(self) -> None:
        """A 100,000-user graph constructs and answers lookups quickly."""
        started = time.monotonic()
        graph = Graph(seed=3, users=100_000)
        user = graph.user_by_login(graph.suggested_seeds[1])
        self.assertLess(time.monotonic() - started, 2.0)
        self.assertIsNotNone(user)

    def test_logins_case_insensitive_and_unique_ids(self) -> None:
        """Logins resolve in any case and ids differ per user."""
        graph = Graph(seed=1, users=200)
        ids = {graph.user(i).id for i in range(200)}
        self.assertEqual(len(ids), 200)
        login = graph.user(17).login
        self.assertEqual(graph.user_by_login(login.upper()), graph.user(17))
        self.assertIsNone(graph.user_by_login(login + "x"))

    def test_contributors_sorted_and_never_orgs(self) -> None:
        """Contributor lists are sorted by contributions desc and hold no organisations."""
        graph = Graph(seed=2, users=400)
        for index in range(0, 400, 7):
            for repo in graph.repos_of(index):
                found = graph.contributors(repo)
                self.assertEqual(list(found), sorted(found, key=lambda p: (-p[1], p[0])))
                for who, _n in found:
                    self.assertNotEqual(graph.user(who).kind, "Organization")

    def test_heavy_tail_and_kinds(self) -> None:
        """Most users own few repos, some own many; orgs and bots exist."""
        graph = Graph(seed=1, users=1000)
        counts = sorted(graph.user(i).repo_count for i in range(1000))
        self.assertLessEqual(counts[500], 6)
        self.assertGreater(counts[-1], 100)
        kinds = {graph.user(i).kind for i in range(1000)}
        self.assertEqual(kinds, {"User", "Organization", "Bot"})

    def test_mutate_grows_and_shrinks_contributors(self) -> None:
        """A mutation adds and removes contributors deterministically."""
        a, b = Graph(seed=1, users=300), Graph(seed=1, users=300)
        before = truth(a, None, 1)
        changed = a.mutate(share=0.3, seed=9)
        self.assertEqual(changed, b.mutate(share=0.3, seed=9))
        self.assertGreater(changed["contributors_added"], 0)
        self.assertGreater(changed["contributors_removed"], 0)
        self.assertEqual(truth(a, None, 1), truth(b, None, 1))
        fresh = Graph(seed=1, users=300)
        differ = [r.id for i in range(300) for r in a.repos_of(i)
                  if a.contributors(r) != fresh.contributors(fresh.repos_of(i)[r.slot])]
        self.assertGreater(len(differ), 0)
        self.assertEqual(before, truth(fresh, None, 1))

    def test_default_crawl_is_modest(self) -> None:
        """The suggested-seed depth-1 crawl stays in the 1,000-4,000 request range."""
        for users in (1000, 200):
            needed = truth(Graph(seed=1, users=users), None, 1)["min_requests"]
            self.assertTrue(900 <= needed <= 4000, needed)
