"""Installation tokens: checked at start, renewed before expiry, one renewal for many 401s."""

from __future__ import annotations

import os
import sqlite3
import tempfile
from collections.abc import Coroutine
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa
from treq.testing import RequestTraversalAgent
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.resource import Resource
from twisted.web.server import Request

from ghcrawl.app_auth import AppSettings
from ghcrawl.crawler import Crawler
from ghcrawl.credentials import Credential
from ghcrawl.errors import AppConfigError
from ghcrawl.fakehub import FakeHub, Graph, Knobs
from ghcrawl.fakehub.app import AppHub
from ghcrawl.github import GitHub
from ghcrawl.installations import AppTokens, parse_expiry, renew_at
from ghcrawl.ratelimit import Budget, Pacer
from ghcrawl.store import Store

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
GRAPH = Graph(seed=1, users=50)
BASE = "http://fakehub.test"
START = 1_700_000_000.0


class Flaky(Resource):
    """The hub, except that the next ``failures`` requests with one of ``methods`` answer 503."""

    isLeaf = True

    def __init__(self, hub: FakeHub) -> None:
        super().__init__()
        self.hub, self.failures, self.methods = hub, 0, {b"POST"}

    def render(self, request: Request) -> Any:
        if request.method in self.methods and self.failures > 0:
            self.failures -= 1
            request.setResponseCode(503)
            return b'{"message": "Service unavailable"}'
        return self.hub.render(request)


class AppCase(SynchronousTestCase):
    def tokens(self, installations: int = 3, ttl: float = 3600.0, wanted: tuple[int, ...] = (),
               app_id: str = "4242") -> AppTokens:
        self.clock = Clock()
        self.clock.advance(START)
        self.app = AppHub.with_installations(4242, KEY.public_key(), installations, ttl, 100)
        self.flaky = Flaky(FakeHub(GRAPH, self.clock, Knobs(), app=self.app))
        self.stub = RequestTraversalAgent(self.flaky)
        github = GitHub(self.stub, self.clock, Pacer([], 10), BASE, timeout=5)
        return AppTokens(AppSettings(app_id, KEY, wanted, "app.pem"), github, self.clock)

    def settle(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        got: list[Any] = []
        Deferred.fromCoroutine(coroutine).addBoth(got.append)
        for _ in range(400):
            if got:
                break
            self.stub.flush()
        self.assertEqual(len(got), 1, "no answer")
        if isinstance(got[0], Failure):
            got[0].raiseException()
        return got[0]


class AppTokensTests(AppCase):
    def test_a_token_per_installation(self) -> None:
        """Start gives each installation a token, named by the installation and not by the token."""
        creds = self.settle(self.tokens().start())
        self.assertEqual([c.token_id for c in creds], [f"installation-{7_000_001 + n}" for n in range(3)])
        self.assertTrue(all(c.token.startswith("ghs_") and c.expires_at == START + 3600 for c in creds))
        self.assertNotIn(creds[0].token, repr(creds[0]))

    def test_every_page_of_installations(self) -> None:
        """Installations are listed by following Link: 150 take two pages of 100."""
        creds = self.settle(self.tokens(installations=150).start())
        self.assertEqual(len(creds), 150)

    def test_chosen_installations_only(self) -> None:
        """app_installations limits the crawl to the installations named."""
        creds = self.settle(self.tokens(wanted=(7_000_002,)).start())
        self.assertEqual([c.installation_id for c in creds], [7_000_002])
        self.assertEqual(dict(self.app.issued), {7_000_002: 1})

    def test_outage_at_start_is_waited_out(self) -> None:
        """While the API answers 503 the start-up calls are tried again, 1 s then 2 s later."""
        tokens = self.tokens(installations=1)
        self.flaky.failures, self.flaky.methods = 2, {b"GET", b"POST"}
        got: list[Any] = []
        Deferred.fromCoroutine(tokens.start()).addBoth(got.append)
        waited = 0
        while not got and waited < 10:
            self.stub.flush()
            self.clock.advance(1)
            waited += 1
        self.assertEqual(len(got[0]), 1)
        self.assertEqual(waited, 3)

    def test_start_problems_are_one_line(self) -> None:
        """An unknown app id, no installations, a stranger's installation: one AppConfigError each."""
        cases = [
            (self.tokens(app_id="999"), "app id 999 unknown, or app.pem is not its key: GitHub answered 401 "
                                        "Integration not found"),
            (self.tokens(installations=0), "GitHub App ghcrawl-fake has no installations"),
            (self.tokens(wanted=(12,)), "installation 12 is not one of GitHub App ghcrawl-fake's installations"),
        ]
        for tokens, message in cases:
            with self.assertRaises(AppConfigError) as caught:
                self.settle(tokens.start())
            self.assertIn(message, str(caught.exception))
            self.assertNotIn("\n", str(caught.exception))

    def test_suspended_installations(self) -> None:
        """A suspended installation is left out by default, and is one line when named."""
        tokens = self.tokens()
        self.app.suspended.add(7_000_002)
        creds = self.settle(tokens.start())
        self.assertEqual([c.installation_id for c in creds], [7_000_001, 7_000_003])
        named = self.tokens(wanted=(7_000_002,))
        self.app.suspended.add(7_000_002)
        with self.assertRaises(AppConfigError) as caught:
            self.settle(named.start())
        self.assertIn("installation 7000002 of GitHub App ghcrawl-fake is suspended", str(caught.exception))

    def test_renewed_a_few_minutes_before_expiry(self) -> None:
        """An hour's token is replaced five minutes before it expires, and again an hour later."""
        tokens = self.tokens(installations=1)
        cred = self.settle(tokens.start())[0]
        first = cred.token
        self.clock.advance(3600 - 300 - 1)
        self.stub.flush()
        self.assertEqual(cred.token, first)
        self.clock.advance(1)
        self.stub.flush()
        self.assertNotEqual(cred.token, first)
        self.assertEqual(cred.expires_at, START + 3300 + 3600)
        self.clock.advance(3300)
        self.stub.flush()
        self.assertEqual((self.app.issued[7_000_001], tokens.renewals), (3, 2))

    def test_short_tokens_renewed_a_fifth_early(self) -> None:
        """A token living 10 s is renewed 2 s before it expires."""
        self.assertEqual(renew_at(100.0, 110.0), 108.0)
        self.assertEqual(renew_at(0.0, 3600.0), 3300.0)
        self.assertEqual(parse_expiry("2016-07-11T22:14:10Z"), 1468275250.0)

    def test_many_401s_share_one_renewal(self) -> None:
        """Requests that all saw the same token fail wait on one renewal; a stale report costs nothing."""
        tokens = self.tokens(installations=1)
        cred = self.settle(tokens.start())[0]
        old = cred.token
        answers: list[Any] = []
        for _ in range(5):
            Deferred.fromCoroutine(tokens.renew(cred, old)).addBoth(answers.append)
        for _ in range(20):
            self.stub.flush()
        self.assertEqual(answers, [True] * 5)
        self.assertEqual(self.app.issued[7_000_001], 2)
        self.assertTrue(self.settle(tokens.renew(cred, old)))
        self.assertEqual(self.app.issued[7_000_001], 2)
        self.assertFalse(self.settle(tokens.renew(Credential("ghp_personal"), "ghp_personal")))

    def test_failed_renewal_is_retried_after_30s(self) -> None:
        """A 503 from the token exchange keeps the old token and tries again 30 s later."""
        tokens = self.tokens(installations=1)
        cred = self.settle(tokens.start())[0]
        old = cred.token
        self.flaky.failures = 1
        self.assertFalse(self.settle(tokens.renew(cred, old)))
        self.assertEqual(cred.token, old)
        self.clock.advance(29)
        self.stub.flush()
        self.assertEqual(cred.token, old)
        self.clock.advance(1)
        for _ in range(10):
            self.stub.flush()
        self.assertNotEqual(cred.token, old)

    def test_refused_renewal_drops_the_installation(self) -> None:
        """An installation whose renewal GitHub refuses is reported once and not renewed again."""
        tokens = self.tokens(installations=2)
        creds = self.settle(tokens.start())
        refused: list[tuple[Credential, str]] = []
        tokens.on_refused = lambda cred, reason: refused.append((cred, reason))
        self.app.uninstall(7_000_001)
        self.assertFalse(self.settle(tokens.renew(creds[0], creds[0].token)))
        self.assertEqual([c for c, _ in refused], [creds[0]])
        self.assertIn("installation 7000001: renewing its token was refused (404 Not Found)", refused[0][1])
        self.assertFalse(self.settle(tokens.renew(creds[0], creds[0].token)))
        self.assertEqual(len(refused), 1)
        self.assertEqual(list(tokens.credentials), [7_000_002])


class RescanTests(AppCase):
    def test_new_installation_joins_at_the_next_look(self) -> None:
        """An installation added while running gets a token at the next look, once; a suspended one none."""
        tokens = self.tokens(installations=2)
        self.settle(tokens.start())
        added: list[Credential] = []
        tokens.on_added = added.append
        new = self.app.install()
        suspended = self.app.install()
        self.app.suspended.add(suspended)
        self.clock.advance(599)
        self.stub.flush()
        self.assertEqual(added, [])
        self.clock.advance(1)
        for _ in range(20):
            self.stub.flush()
        self.assertEqual([c.installation_id for c in added], [new])  # type: ignore[attr-defined]
        self.assertEqual(sorted(tokens.credentials), [7_000_001, 7_000_002, new])
        self.assertTrue(added[0].token)
        self.clock.advance(600)
        for _ in range(20):
            self.stub.flush()
        self.assertEqual(len(added), 1)
        tokens.stop()
        self.assertEqual([c for c in self.clock.getDelayedCalls() if c.active()], [])

    def test_listed_installations_are_not_looked_for(self) -> None:
        """With app_installations set, the daemon crawls with those alone."""
        tokens = self.tokens(installations=2, wanted=(7_000_001,))
        self.settle(tokens.start())
        added: list[Credential] = []
        tokens.on_added = added.append
        self.app.install()
        self.clock.advance(1200)
        for _ in range(20):
            self.stub.flush()
        self.assertEqual((added, sorted(tokens.credentials)), ([], [7_000_001]))
        tokens.stop()


class ExpiryRaceTests(TestCase):
    async def crawl(self, installations: int, *, uninstall: int | None = None) -> tuple[AppHub, Pacer, Crawler, str]:
        """Crawl after GitHub ended every token's life early, unknown to the client."""
        app = AppHub.with_installations(4242, KEY.public_key(), installations, 3600, 5000)
        stub = RequestTraversalAgent(FakeHub(GRAPH, reactor, Knobs(), app=app).resource)
        pacer = Pacer([], 10)
        github = GitHub(stub, reactor, pacer, BASE, timeout=5)
        tokens = AppTokens(AppSettings("4242", KEY, (), "app.pem"), github, reactor)
        self.addCleanup(tokens.stop)
        creds = await tokens.start()
        pacer.budgets.extend(Budget(c.token_id) for c in creds)
        app.expire_tokens(reactor.seconds())
        if uninstall is not None:
            app.uninstall(uninstall)
        path = os.path.join(tempfile.mkdtemp(prefix="ghcrawl-unit-"), "crawl.sqlite")
        store = Store(path, 1)
        self.addCleanup(store.close)
        await store.migrate()
        await store.add_seeds(GRAPH.suggested_seeds[:1])
        finished: Deferred[None] = Deferred()
        crawler = Crawler(store, github, pacer, reactor, {c.token_id: [c] for c in creds}, once=True,
                          on_finished=lambda: finished.callback(None), poll_interval=0.05, renew=tokens.renew)
        tokens.on_refused = crawler.retire
        crawler.start()
        await finished
        return app, pacer, crawler, path

    def states(self, path: str) -> list[tuple[str, int]]:
        conn = sqlite3.connect(path)
        try:
            return list(conn.execute("SELECT state, MAX(attempts) FROM tasks GROUP BY state"))
        finally:
            conn.close()

    async def test_401_on_an_expired_token_is_renewed_and_retried(self) -> None:
        """A request that races an expiry gets a new token and goes again: no failure, no attempt spent."""
        app, pacer, crawler, path = await self.crawl(1)
        self.assertGreater(app.expired_token_requests, 0)
        self.assertEqual(dict(app.issued), {7_000_001: 2})
        self.assertEqual((crawler.failed, len(pacer.budgets)), (0, 1))
        self.assertEqual(self.states(path), [("done", 0)])

    async def test_refused_installation_is_dropped_the_other_carries_on(self) -> None:
        """When the renewal itself is refused, that budget goes and the crawl ends on the other."""
        app, pacer, crawler, path = await self.crawl(2, uninstall=7_000_001)
        self.assertEqual([b.budget_id for b in pacer.budgets], ["installation-7000002"])
        self.assertEqual(crawler.failed, 0)
        self.assertEqual(self.states(path), [("done", 0)])
        self.assertGreater(app.requests[7_000_002], 10)
