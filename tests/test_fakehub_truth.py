"""Ground truth agrees with itself and with a real crawl over HTTP."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from ghcrawl.fakehub import truth
from tests.test_fakehub_support import crawl, make


class TruthTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.graph, self.hub, self.client, self.clock = make(users=120, seed=4)
        self.truth = truth(self.graph, None, 1)

    def test_self_consistent(self) -> None:
        """Repo owners were crawled with profiles and contributor depths follow owners."""
        users = {u["id"]: u for u in self.truth["users"]}
        self.assertEqual([u["depth"] for u in users.values() if u["login"] in self.truth["seeds"]],
                         [0] * len(self.truth["seeds"]))
        owner_of = {r["id"]: r["owner_id"] for r in self.truth["repos"]}
        for repo in self.truth["repos"]:
            self.assertTrue(users[repo["owner_id"]]["profile"])
        for repo_id, user_id, _n in self.truth["contributors"]:
            self.assertLessEqual(users[user_id]["depth"], users[owner_of[repo_id]]["depth"] + 1)
        deleted = self.truth["edge_cases"]["deleted_user"]
        self.assertEqual([u["profile"] for u in users.values() if u["login"] == deleted], [False])

    def test_matches_http_crawl(self) -> None:
        """A straightforward crawl over the hub needs exactly min_requests and finds the same rows."""
        found = crawl(self.client, self.truth["seeds"], 1)
        self.assertEqual(found["requests"], self.truth["min_requests"])
        self.assertEqual(found["requests"], self.hub.stats()["requests"])
        self.assertEqual(sorted(map(tuple, found["contributors"])),
                         sorted(map(tuple, self.truth["contributors"])))
        self.assertEqual(sorted(r["full_name"] for r in found["repos"]),
                         sorted(r["full_name"] for r in self.truth["repos"]))
        crawled = {u["id"] for u in self.truth["users"] if u["profile"]}
        self.assertEqual(set(found["users"]), crawled)

    def test_edge_cases_met_by_crawl(self) -> None:
        """The depth-1 crawl meets 204, 403, 451, 404 and 301 answers."""
        crawl(self.client, self.truth["seeds"], 1)
        seen = set(self.hub.stats()["by_status"])
        self.assertTrue({"200", "204", "301", "403", "404", "451"} <= seen, seen)

    def test_depth_zero_and_unknown_seed(self) -> None:
        """At depth 0 only seeds have profiles; an unknown seed is absent but costs a request."""
        zero = truth(self.graph, ["nobody-here1", self.truth["seeds"][3]], 0)
        self.assertEqual([u["login"] for u in zero["users"] if u["profile"]], [self.truth["seeds"][3]])
        self.assertNotIn("nobody-here1", [u["login"] for u in zero["users"]])
        self.assertEqual(crawl(make(users=120, seed=4)[2], zero["seeds"], 0)["requests"],
                         zero["min_requests"])

    def test_truth_follows_mutation(self) -> None:
        """After a mutation truth still matches a crawl of the mutated hub."""
        self.hub.mutate(share=0.5, seed=3)
        after = truth(self.graph, None, 1)
        found = crawl(self.client, after["seeds"], 1)
        self.assertEqual(found["requests"], after["min_requests"])
        self.assertEqual(sorted(map(tuple, found["contributors"])),
                         sorted(map(tuple, after["contributors"])))
