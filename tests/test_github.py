"""The GitHub client against the fakehub resource over treq's RequestTraversalAgent: no sockets, a fake clock."""

from __future__ import annotations

from typing import Any

from treq.testing import RequestTraversalAgent
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET

from ghcrawl.credentials import Credential
from ghcrawl.errors import BadCredentials, FetchError, RateLimited
from ghcrawl.fakehub import FakeHub, Graph, Knobs, truth
from ghcrawl.github import API_VERSION, USER_AGENT, Fetched, Final, GitHub, Moved, parse_link
from ghcrawl.ratelimit import RESET_MARGIN, Budget, Pacer

BASE = "http://fakehub.test"
START = 1_700_000_000.0
TOKEN = "ghp_unit0000000000000000000000000000000"
GRAPH = Graph(seed=1, users=200)
EDGES = truth(GRAPH, None, 1)["edge_cases"]


class GitHubTests(SynchronousTestCase):
    def client(self, resource: Any = None, **knobs: Any) -> GitHub:
        self.clock = Clock()
        self.clock.advance(START)
        self.hub = FakeHub(GRAPH, self.clock, Knobs(**knobs))
        self.stub = RequestTraversalAgent(resource if resource is not None else self.hub.resource)
        self.budget = Budget("b")
        self.pacer = Pacer([self.budget], 10)
        return GitHub(self.stub, self.clock, self.pacer, BASE, timeout=5.0)

    def run_fetch(self, github: GitHub, url: str, token: str | None = TOKEN) -> Any:
        from twisted.internet.defer import Deferred

        self.budget.in_flight += 1
        d = Deferred.fromCoroutine(github.fetch(url, self.budget, Credential(token) if token else None))
        self.stub.flush()
        got: list[Any] = []
        d.addBoth(got.append)
        self.assertEqual(len(got), 1, "no answer")
        return got[0]

    def test_profile(self) -> None:
        """A profile is a Fetched body with its ETag, and the budget learns the headers."""
        result = self.run_fetch(self.client(), "/users/Tor40")
        self.assertIsInstance(result, Fetched)
        self.assertEqual(result.body["login"], "Tor40")
        self.assertTrue(result.etag)
        self.assertEqual(self.budget.remaining, 4999)
        self.assertEqual(self.budget.in_flight, 0)

    def test_next_page_from_link_only(self) -> None:
        """The next page is the Link header's rel=next, on GitHub's id path."""
        result = self.run_fetch(self.client(), "/users/Tor40/repos?per_page=100")
        self.assertEqual(len(result.body), 100)
        self.assertIn("/user/", result.next_url)
        self.assertIn("page=2", result.next_url)
        last = self.run_fetch(self.client(), result.next_url)
        self.assertIsNone(last.next_url)

    def test_outcomes(self) -> None:
        """404, 204, 451 and the too-large 403 are final outcomes, not errors."""
        gh = self.client()
        cases = {
            "/users/" + EDGES["deleted_user"]: "not_found",
            f"/repositories/{EDGES['empty_repo']}/contributors": "empty",
            f"/repositories/{EDGES['dmca_repo']}/contributors": "blocked",
            f"/repositories/{EDGES['too_large_repo']}/contributors": "too_large",
        }
        for url, outcome in cases.items():
            result = self.run_fetch(gh, url)
            self.assertIsInstance(result, Final, url)
            self.assertEqual(result.outcome, outcome, url)

    def test_renamed_repository_moves(self) -> None:
        """A 301 for a renamed repository gives the new location as a path on the API host."""
        old = EDGES["renamed_repo"]["old_full_name"]
        result = self.run_fetch(self.client(), f"/repos/{old}/contributors?per_page=100")
        self.assertIsInstance(result, Moved)
        self.assertTrue(result.location.startswith(f"/repositories/{EDGES['renamed_repo']['id']}/contributors"))

    def test_bad_credentials(self) -> None:
        """A 401 raises BadCredentials naming the token by hash only."""
        result = self.run_fetch(self.client(tokens={TOKEN: "alice"}), "/users/Tor40", token="ghp_wrong")
        self.assertTrue(result.check(BadCredentials))
        self.assertNotIn("ghp_wrong", str(result.value))

    def test_primary_limit(self) -> None:
        """The request after the last unit is a primary limit: wait until reset + 1 s."""
        gh = self.client(rate_limit=2)
        self.run_fetch(gh, "/users/Tor40")
        self.run_fetch(gh, "/users/Tor40")
        self.assertEqual(self.budget.remaining, 0)
        result = self.run_fetch(gh, "/users/Tor40")
        self.assertTrue(result.check(RateLimited))
        self.assertFalse(result.value.secondary)
        self.assertEqual(result.value.until, self.budget.reset_at + RESET_MARGIN)

    def test_secondary_limit_with_retry_after(self) -> None:
        """A secondary limit pauses the whole pacer for retry-after seconds."""
        gh = self.client(secondary_every=1, secondary_retry_after=7)
        result = self.run_fetch(gh, "/users/Tor40")
        self.assertTrue(result.check(RateLimited))
        self.assertTrue(result.value.secondary)
        self.assertEqual(self.pacer.paused_until, START + 7)

    def test_server_error_is_retryable(self) -> None:
        """A 5xx is a retryable FetchError."""
        result = self.run_fetch(self.client(fault_rate=1.0, faults=("502",)), "/users/Tor40")
        self.assertTrue(result.check(FetchError))
        self.assertTrue(result.value.retryable)

    def test_malformed_json(self) -> None:
        """A 200 whose body is not JSON is a FetchError, not a crash."""
        result = self.run_fetch(self.client(fault_rate=1.0, faults=("malformed",)), "/users/Tor40")
        self.assertTrue(result.check(FetchError))
        self.assertIn("not JSON", result.value.reason)

    def test_required_headers(self) -> None:
        """Every request carries User-Agent, Accept, the API version and a Bearer token."""
        seen: dict[str, Any] = {}

        class Recorder(Resource):
            isLeaf = True

            def render_GET(self, request: Any) -> bytes:
                seen.update({k.decode().lower(): v[0].decode() for k, v in request.requestHeaders.getAllRawHeaders()})
                return b"{}"

        self.run_fetch(self.client(Recorder()), "/users/x")
        self.assertEqual(seen["user-agent"], USER_AGENT)
        self.assertEqual(seen["accept"], "application/vnd.github+json")
        self.assertEqual(seen["x-github-api-version"], API_VERSION)
        self.assertEqual(seen["authorization"], f"Bearer {TOKEN}")

    def test_timeout_covers_the_body(self) -> None:
        """Headers then a body that never ends: the timeout still fires."""

        class Stall(Resource):
            isLeaf = True

            def render_GET(self, request: Any) -> int:
                request.write(b'{"partial": ')
                return NOT_DONE_YET

        from twisted.internet.defer import Deferred

        gh = self.client(Stall())
        self.budget.in_flight += 1
        d = Deferred.fromCoroutine(gh.fetch("/users/x", self.budget, None))
        self.stub.flush()
        got: list[Any] = []
        d.addBoth(got.append)
        self.assertEqual(got, [])
        self.clock.advance(5.0)
        self.assertEqual(len(got), 1)
        self.assertTrue(got[0].check(FetchError))
        self.assertEqual(self.budget.in_flight, 0)

    def test_refuses_other_hosts(self) -> None:
        """A link off the API host is never followed (the token would leak)."""
        result = self.run_fetch(self.client(), "http://evil.test/users/x")
        self.assertTrue(result.check(FetchError))
        self.assertFalse(result.value.retryable)


class LinkTests(SynchronousTestCase):
    def test_parse_link(self) -> None:
        """Each rel of a Link header maps to its URL."""
        header = ('<https://api.github.com/user/1/repos?page=2>; rel="next", '
                  '<https://api.github.com/user/1/repos?page=5>; rel="last"')
        self.assertEqual(parse_link(header), {
            "next": "https://api.github.com/user/1/repos?page=2",
            "last": "https://api.github.com/user/1/repos?page=5",
        })
        self.assertEqual(parse_link(None), {})


class WireTests(SynchronousTestCase):
    def test_wire_form_is_what_treq_would_send(self) -> None:
        """A URL handed to treq ready-made goes out exactly as treq's own hyperlink pass would send it."""
        from hyperlink import EncodedURL

        from ghcrawl.github import OnTheWire, _url_bytes

        ready_paths = ["/users/Tor40", "/repositories/7/contributors?per_page=100&anon=0&page=2",
                       "/users/dependabot%5Bbot%5D", "/x?q=a+b&r=!$'()*,;:@", "/x/%zz"]
        odd_paths = ["/x?a=[1]", "/a b", "/x?", "/x#f", "/caf\u00e9", "/x?a=\"<>{}|\\^`"]
        for base, ready_origin in (("http://fakehub.test", True), ("https://GHE.Example.test:8443/api/v3", False)):
            gh = GitHub(RequestTraversalAgent(Resource()), Clock(), Pacer([Budget("b")], 1), base)
            for path in ready_paths + odd_paths:
                url = gh.absolute(path)
                wire = gh._wire(url)
                self.assertEqual(isinstance(wire, OnTheWire), ready_origin and path in ready_paths, url)
                if isinstance(wire, OnTheWire):
                    self.assertEqual(wire.to_uri().to_text(), EncodedURL.from_text(url).to_uri().to_text(), url)
                    self.assertEqual(wire.host, "fakehub.test")  # any other part is parsed on demand
                else:
                    self.assertEqual(wire, _url_bytes(url), url)  # left to treq's own pass, as before


class ConditionalTests(SynchronousTestCase):
    def test_installation_tokens_send_if_modified_since(self) -> None:
        """An App's short-lived token sends Last-Modified back, since its ETags die with the token."""
        from ghcrawl.app_auth import InstallationCredential
        from ghcrawl.github import Validators, _conditional

        both = Validators('"abc"', "Tue, 19 Sep 2017 15:57:54 GMT")
        installation = InstallationCredential("ghs_x", installation_id=7)
        self.assertEqual(_conditional(both, Credential(TOKEN)), {"If-None-Match": ['"abc"']})
        self.assertEqual(_conditional(both, installation), {"If-Modified-Since": ["Tue, 19 Sep 2017 15:57:54 GMT"]})
        self.assertEqual(_conditional(Validators('"abc"', None), installation), {"If-None-Match": ['"abc"']})
        self.assertEqual(_conditional(Validators(None, None), installation), {})
