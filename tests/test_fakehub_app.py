"""The fakehub's GitHub App endpoints: real RS256 checks, expiring tokens, one budget per installation."""

from __future__ import annotations

from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from ghcrawl.fakehub import FakeHub, Graph, Knobs
from ghcrawl.fakehub.app import EXPIRED, FUTURE, NO_APP, NOT_DECODED, TOO_FAR, AppHub
from tests.test_fakehub_support import START, Answer, Client

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
GRAPH = Graph(seed=1, users=200)
APP_ID = 4242


def signed(key: Any = KEY, **claims: Any) -> str:
    """A JWT like ghcrawl's, with any claim overridden."""
    now = int(START)
    body = {"iat": now - 60, "exp": now + 480, "iss": str(APP_ID), **claims}
    return jwt.encode(body, key, algorithm="RS256")


class AppEndpointTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(START)
        self.app = AppHub.with_installations(APP_ID, KEY.public_key(), 3, token_ttl=60, rate_limit=5)
        self.hub = FakeHub(GRAPH, self.clock, Knobs(), app=self.app)
        self.client = Client(self.hub)

    def call(self, path: str, token: str | None = None, method: str = "GET",
             headers: dict[str, str] | None = None) -> Answer:
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        return self.client.request(path, method=method, headers=sent)

    def token(self, installation: int = 7_000_001) -> str:
        answer = self.call(f"/app/installations/{installation}/access_tokens", signed(), "POST")
        self.assertEqual(answer.code, 201)
        return str(answer.json()["token"])

    def test_app_and_installations(self) -> None:
        """A good JWT reads the App and its installations."""
        app = self.call("/app", signed())
        self.assertEqual((app.code, app.json()["id"]), (200, APP_ID))
        listed = self.call("/app/installations", signed())
        self.assertEqual([i["id"] for i in listed.json()], [7_000_001, 7_000_002, 7_000_003])

    def test_installations_are_paged(self) -> None:
        """The installation list is paged like any GitHub list, with a Link header."""
        first = self.call("/app/installations?per_page=2", signed())
        self.assertEqual(len(first.json()), 2)
        self.assertIn('rel="next"', first.headers["link"])
        second = self.call("/app/installations?per_page=2&page=2", signed())
        self.assertEqual([i["id"] for i in second.json()], [7_000_003])

    def test_bad_jwts_get_githubs_401s(self) -> None:
        """Expired, future, too long, badly signed or foreign JWTs get GitHub's own messages."""
        now = int(START)
        cases = {
            EXPIRED: signed(iat=now - 700, exp=now - 100),
            FUTURE: signed(iat=now + 120, exp=now + 500),
            TOO_FAR: signed(exp=now + 3600),
            NOT_DECODED: signed(OTHER_KEY),
            NO_APP: signed(iss="999"),
        }
        for message, token in cases.items():
            answer = self.call("/app", token)
            self.assertEqual((answer.code, answer.json()["message"]), (401, message))
        self.assertEqual(self.call("/app", "not-a-jwt").json()["message"], NOT_DECODED)
        self.assertEqual(self.call("/app").code, 401)
        self.assertEqual(sum(self.app.stats()["jwt_rejected"].values()), 7)

    def test_installation_tokens_have_their_own_budgets(self) -> None:
        """Each installation's token spends that installation's budget, with its x-ratelimit headers."""
        first, second = self.token(7_000_001), self.token(7_000_002)
        a = self.call("/users/Tor40", first)
        b = self.call("/users/Tor40", second)
        self.assertEqual((a.code, a.headers["x-ratelimit-limit"], a.headers["x-ratelimit-remaining"]), (200, "5", "4"))
        self.assertEqual(b.headers["x-ratelimit-remaining"], "4")
        self.assertEqual(self.call("/users/Tor40", first).headers["x-ratelimit-remaining"], "3")
        self.assertEqual(self.app.stats()["requests"], {"7000001": 2, "7000002": 1})

    def test_expired_token_is_refused_and_counted(self) -> None:
        """After its ttl a token answers 401 Bad credentials, and the hub counts the request."""
        token = self.token()
        answer = self.call("/app/installations/7000001/access_tokens", signed(), "POST").json()
        self.assertEqual(answer["expires_at"], "2023-11-14T22:14:20Z")  # START + 60 s
        self.clock.advance(60)
        refused = self.call("/users/Tor40", token)
        self.assertEqual((refused.code, refused.json()["message"]), (401, "Bad credentials"))
        self.assertEqual(self.app.stats()["expired_token_requests"], 1)

    def test_etag_varies_with_the_token_last_modified_does_not(self) -> None:
        """As on GitHub the ETag changes with the token; If-Modified-Since still answers 304, free."""
        old, new = self.token(), self.token()
        first = self.call("/users/Tor40", old)
        again = self.call("/users/Tor40", new, headers={"If-None-Match": first.headers["etag"]})
        self.assertEqual(again.code, 200)
        self.assertNotEqual(again.headers["etag"], first.headers["etag"])
        since = self.call("/users/Tor40", new, headers={"If-Modified-Since": first.headers["last-modified"]})
        self.assertEqual(since.code, 304)
        self.assertEqual(since.headers["x-ratelimit-remaining"], again.headers["x-ratelimit-remaining"])

    def test_if_modified_since_sees_a_changed_listing(self) -> None:
        """A repository listing is modified when one of its repositories is: no stale 304."""
        token = self.token()
        path = "/users/Tor40/repos?per_page=100"
        first = self.call(path, token)
        self.hub.mutate(share=1.0, seed=3)
        again = self.call(path, token, headers={"If-Modified-Since": first.headers["last-modified"]})
        self.assertEqual(again.code, 200)
        self.assertNotEqual(again.body, first.body)

    def test_uninstalled_installation(self) -> None:
        """Removing an installation kills its tokens and its token exchange."""
        token = self.token(7_000_002)
        self.assertTrue(self.app.uninstall(7_000_002))
        self.assertEqual(self.call("/users/Tor40", token).code, 401)
        self.assertEqual(self.call("/app/installations/7000002/access_tokens", signed(), "POST").code, 404)
        self.assertEqual(self.call("/app/installations/7000001/access_tokens", signed(), "POST").code, 201)
