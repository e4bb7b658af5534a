"""The HTTP surface: bodies, headers, pagination, ETags and edge cases."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from ghcrawl.fakehub.truth import edge_cases
from tests.test_fakehub_support import BASE, fixture, links, make


def _types(value: dict[str, Any]) -> dict[str, type]:
    return {k: type(v) for k, v in value.items() if v is not None}


class ShapeTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.graph, self.hub, self.client, self.clock = make()
        self.cases = edge_cases(self.graph)

    def _same_shape(self, got: dict[str, Any], example: dict[str, Any]) -> None:
        self.assertEqual(set(got), set(example))
        for key, kind in _types(example).items():
            if got[key] is not None:
                self.assertIsInstance(got[key], kind, key)

    def test_public_user_shape(self) -> None:
        """GET /users/{login} has every field of the OpenAPI example, e-mail null."""
        body = self.client.get(f"/users/{self.cases['hub_seed']}").json()
        self._same_shape(body, fixture("openapi-public-user.json"))
        self.assertIsNone(body["email"])
        self.assertTrue(body["url"].startswith(BASE + "/users/"))

    def test_repo_listing_shape(self) -> None:
        """Listing items have every field of the minimal-repository example."""
        items = self.client.get(f"/users/{self.cases['hub_seed']}/repos").json()
        example = fixture("openapi-minimal-repository-items.json")[0]
        self._same_shape(items[0], example)
        self._same_shape(items[0]["owner"], example["owner"])

    def test_contributor_shape_and_anon(self) -> None:
        """Contributor items match the example; anon=1 adds Anonymous entries."""
        repo = self.cases["multi_page_contributors_repo"]
        items = self.client.get(f"/repositories/{repo}/contributors").json()
        self._same_shape(items[0], fixture("openapi-contributor-items.json")[0])
        anon_repos = [r for r in self.graph.repos_of(self.graph.plan.hub) if self.graph.anonymous(r)
                      and r.status == "ok" and not r.renamed]
        with_anon = self.client.get(f"/repositories/{anon_repos[0].id}/contributors?anon=1").json()
        anonymous = [i for i in with_anon if i["type"] == "Anonymous"]
        example = fixture("error-bodies.json")["contributor_anonymous_item"]["body_item"]
        self.assertTrue(anonymous)
        self.assertEqual(set(anonymous[0]), set(example))

    def test_same_seed_same_bytes(self) -> None:
        """Two hubs over equal graphs serve byte-identical bodies and ETags."""
        other = make()[2]
        path = f"/users/{self.cases['hub_seed']}/repos?per_page=100&page=2"
        a, b = self.client.get(path), other.get(path)
        self.assertEqual((a.body, a.headers["etag"]), (b.body, b.headers["etag"]))
        self.assertNotEqual(make(seed=2)[2].get("/user/1040").body, self.client.get("/user/1040").body)

    def test_common_headers(self) -> None:
        """200s carry content type, a strong body-derived ETag, dates and rate headers."""
        answer = self.client.get(f"/users/{self.cases['org_seed']}")
        self.assertEqual(answer.headers["content-type"], "application/json; charset=utf-8")
        digest = hashlib.sha256(answer.body).hexdigest()
        self.assertEqual(answer.headers["etag"], f'"{digest}"')
        self.assertIn("GMT", answer.headers["last-modified"])
        self.assertEqual(answer.headers["x-ratelimit-resource"], "core")
        self.assertEqual(answer.headers["x-github-api-version-selected"], "2022-11-28")
        self.assertIn("x-github-request-id", answer.headers)
        self.assertEqual(answer.json()["type"], "Organization")

    def test_unknown_path_and_post(self) -> None:
        """Unknown paths and non-GET methods answer 404 Not Found JSON."""
        self.assertEqual(self.client.get("/nothing/here").code, 404)
        posted = self.client.request(f"/users/{self.cases['hub_seed']}", method="POST")
        self.assertEqual((posted.code, posted.json()["message"]), (404, "Not Found"))


class PaginationTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.graph, self.hub, self.client, self.clock = make()
        self.hub_login = self.graph.suggested_seeds[0]
        self.hub_id = self.graph.user_by_login(self.hub_login).id  # type: ignore[union-attr]

    def test_first_page_links_switch_to_id_path(self) -> None:
        """Page 1 links next and last through /user/{id}/repos, keeping arguments."""
        answer = self.client.get(f"/users/{self.hub_login}/repos?per_page=100&sort=full_name")
        got = links(answer.headers["link"])
        self.assertEqual(list(got), ["next", "last"])
        self.assertEqual(got["next"], f"{BASE}/user/{self.hub_id}/repos?per_page=100&sort=full_name&page=2")
        self.assertEqual(len(answer.json()), 100)

    def test_middle_and_last_pages(self) -> None:
        """Middle pages link prev, next, last, first; the last page only prev and first."""
        middle = self.client.get(f"/user/{self.hub_id}/repos?per_page=30&page=2")
        self.assertEqual(list(links(middle.headers["link"])), ["prev", "next", "last", "first"])
        last = self.client.get(f"/user/{self.hub_id}/repos?per_page=30&page=5")
        self.assertEqual(list(links(last.headers["link"])), ["prev", "first"])
        self.assertEqual(len(last.json()), 130 - 120)

    def test_exact_multiple_and_past_end(self) -> None:
        """130 repos at per_page=65 make exactly two pages; page 3 is []."""
        first = self.client.get(f"/users/{self.hub_login}/repos?per_page=65")
        self.assertTrue(links(first.headers["link"])["last"].endswith("page=2"))
        past = self.client.get(f"/users/{self.hub_login}/repos?per_page=65&page=3")
        self.assertEqual((past.code, past.json()), (200, []))

    def test_single_page_has_no_link(self) -> None:
        """A listing that fits one page has no link header at all."""
        small = self.graph.suggested_seeds[3]
        answer = self.client.get(f"/users/{small}/repos")
        self.assertNotIn("link", answer.headers)
        self.assertEqual(len(answer.json()), 3)

    def test_per_page_clamped_and_all_repos_once(self) -> None:
        """per_page above 100 acts as 100, and following next visits every repo once."""
        url: str | None = f"/users/{self.hub_login}/repos?per_page=500"
        ids = []
        while url:
            answer = self.client.get(url)
            ids += [r["id"] for r in answer.json()]
            url = links(answer.headers.get("link")).get("next")
        self.assertEqual(len(ids), 130)
        self.assertEqual(len(set(ids)), 130)

    def test_contributor_pages_use_repository_id(self) -> None:
        """A >100 contributor listing pages through /repositories/{id}/contributors."""
        repo = edge_cases(self.graph)["multi_page_contributors_repo"]
        full = self.graph.repo_by_id(repo)
        path = f"/repos/{self.hub_login}/{full.name}/contributors?per_page=100"  # type: ignore[union-attr]
        got = links(self.client.get(path).headers["link"])
        self.assertEqual(got["next"], f"{BASE}/repositories/{repo}/contributors?per_page=100&page=2")
        second = self.client.get(got["next"]).json()
        self.assertEqual(len(second), 20)
        counts = [c["contributions"] for c in second]
        self.assertEqual(counts, sorted(counts, reverse=True))


class ConditionalTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.graph, self.hub, self.client, self.clock = make()
        self.path = f"/users/{self.graph.suggested_seeds[1]}"

    def test_304_free_when_authenticated(self) -> None:
        """A matching If-None-Match answers 304 with no body, uncharged with a token."""
        first = self.client.get(self.path, token="t")
        again = self.client.get(self.path, token="t", headers={"If-None-Match": first.headers["etag"]})
        self.assertEqual((again.code, again.body), (304, b""))
        self.assertEqual(again.headers["x-ratelimit-remaining"], first.headers["x-ratelimit-remaining"])
        self.assertEqual(self.hub.stats()["not_modified"], 1)

    def test_304_charged_without_token(self) -> None:
        """Without a token the 304 still costs one unit."""
        first = self.client.get(self.path)
        again = self.client.get(self.path, headers={"If-None-Match": first.headers["etag"]})
        self.assertEqual(again.code, 304)
        self.assertEqual(int(again.headers["x-ratelimit-remaining"]), 58)

    def test_mutation_changes_etag(self) -> None:
        """After a mutation touching every user the profile ETag changes."""
        before = self.client.get(self.path).headers["etag"]
        self.hub.mutate(share=1.0, seed=4)
        self.assertNotEqual(self.client.get(self.path).headers["etag"], before)


class EdgeCaseTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.graph, self.hub, self.client, self.clock = make()
        self.cases = edge_cases(self.graph)

    def test_empty_repo_204(self) -> None:
        """An empty repository's contributors answer 204 with no body."""
        answer = self.client.get(f"/repositories/{self.cases['empty_repo']}/contributors")
        self.assertEqual((answer.code, answer.body), (204, b""))

    def test_too_large_403(self) -> None:
        """The too-large repo answers 403 with GitHub's message and budget left."""
        answer = self.client.get(f"/repositories/{self.cases['too_large_repo']}/contributors")
        self.assertEqual(answer.code, 403)
        self.assertIn("too large", answer.json()["message"])
        self.assertGreater(int(answer.headers["x-ratelimit-remaining"]), 0)

    def test_dmca_451(self) -> None:
        """The blocked repo answers 451 with the DMCA body, also for contributors."""
        expected = fixture("error-bodies.json")["blocked_451_dmca"]["body"]
        for suffix in ("", "/contributors"):
            answer = self.client.get(f"/repositories/{self.cases['dmca_repo']}{suffix}")
            self.assertEqual((answer.code, answer.json()), (451, expected))

    def test_deleted_contributor_404(self) -> None:
        """The deleted user appears as a contributor yet its profile is 404."""
        repo = self.cases["deleted_user_in_repo"]
        logins = [c["login"] for c in self.client.get(f"/repositories/{repo}/contributors").json()]
        self.assertIn(self.cases["deleted_user"], logins)
        answer = self.client.get(f"/users/{self.cases['deleted_user']}")
        self.assertEqual((answer.code, answer.json()["message"]), (404, "Not Found"))

    def test_renamed_repo_301(self) -> None:
        """The listing shows the old name, which redirects to /repositories/{id}."""
        renamed = self.cases["renamed_repo"]
        owner = self.cases["hub_seed"]
        names = [r["full_name"] for r in self.client.get(f"/users/{owner}/repos?per_page=100").json()
                 + self.client.get(f"/users/{owner}/repos?per_page=100&page=2").json()]
        self.assertIn(renamed["old_full_name"], names)
        moved = self.client.get(f"/repos/{renamed['old_full_name']}/contributors?per_page=100")
        location = f"{BASE}/repositories/{renamed['id']}/contributors?per_page=100"
        self.assertEqual((moved.code, moved.headers["location"]), (301, location))
        self.assertEqual(moved.json()["url"], location)
        self.assertEqual(moved.headers["x-ratelimit-used"], "3")
        plain = self.client.get(f"/repos/{renamed['old_full_name']}")
        self.assertEqual(plain.headers["location"], f"{BASE}/repositories/{renamed['id']}")
        current = self.client.get(f"/repositories/{renamed['id']}").json()
        self.assertEqual(current["full_name"], renamed["new_full_name"])

    def test_bot_contributor(self) -> None:
        """dependabot[bot] is a Bot contributor and resolves percent-encoded."""
        repo = self.cases["bot_in_repos"][1]
        entries = self.client.get(f"/repositories/{repo}/contributors").json()
        bot = [e for e in entries if e["login"] == "dependabot[bot]"]
        self.assertEqual(bot[0]["type"], "Bot")
        self.assertIn("%5Bbot%5D", bot[0]["url"])
        self.assertEqual(self.client.get("/users/dependabot%5Bbot%5D").json()["type"], "Bot")

    def test_forks_listed(self) -> None:
        """The hub seed lists forks marked fork: true."""
        fork = self.client.get(f"/repositories/{self.cases['fork_repos'][0]}").json()
        self.assertTrue(fork["fork"])

    def test_rate_limit_endpoint_free(self) -> None:
        """/rate_limit reports the core budget and is not charged."""
        self.client.get(f"/users/{self.cases['hub_seed']}")
        body = self.client.get("/rate_limit").json()
        self.client.get("/rate_limit")
        example = fixture("recorded/pygithub-rate-limits-and-304.json")
        recorded = example["rate_limit_endpoint_2023"]["exchanges"][0]["body"]
        self.assertEqual(set(body["resources"]), set(recorded["resources"]))
        self.assertEqual((body["rate"]["used"], body["rate"]["limit"]), (1, 60))
        self.assertEqual(self.hub.stats()["charged"], 1)
        self.assertEqual(json.loads(json.dumps(body))["resources"]["core"], body["rate"])
