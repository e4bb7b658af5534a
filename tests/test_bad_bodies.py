"""Bad API bodies: the task retries, then fails with its reason; the rest of the crawl is untouched."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from twisted.trial.unittest import TestCase
from twisted.web.resource import Resource

from ghcrawl.fakehub import Graph, truth
from tests.inprocess import crawl
from tests.support import expected, snapshot

GRAPH = Graph(seed=6, users=60)
PROFILE = {"login": "", "id": 0, "type": "User", "name": None, "company": None, "blog": "", "location": None,
           "bio": None, "public_repos": 0, "followers": 0, "following": 0,
           "created_at": "2020-01-01T00:00:00Z", "updated_at": "2020-01-01T00:00:00Z"}


def profile(login: str, number: int, **changes: Any) -> bytes:
    return json.dumps({**PROFILE, "login": login, "id": number, **changes}).encode()


BAD: dict[str, bytes] = {
    "/users/not-json": b'{"login": "not-json", "id": 9000001, "bio": "cut',
    "/users/wrong-types": json.dumps({**PROFILE, "login": "wrong-types", "id": "9000002"}).encode(),
    "/users/no-id": json.dumps({k: v for k, v in PROFILE.items() if k != "id"} | {"login": "no-id"}).encode(),
    "/users/nul-bytes": profile("nul-bytes", 9000004, bio="before\u0000after", name="a\u0000b"),
    "/users/huge-bio": profile("huge-bio", 9000005, bio="x" * 2_000_000),
    "/users/bad-time": profile("bad-time", 9000006, created_at="2020-02-30T00:00:00Z"),
    "/users/nul-bytes/repos?per_page=100": b"[]",
    "/users/huge-bio/repos?per_page=100": b'{"message": "an object where an array belongs"}',
}


class Corrupting(Resource):
    """Serves the bad bodies above and passes every other request to the fakehub."""

    isLeaf = True

    def __init__(self, inner: Any) -> None:
        super().__init__()
        self.inner = inner

    def render(self, request: Any) -> Any:
        body = BAD.get(request.uri.decode())
        if body is None:
            return self.inner.render(request)
        request.setHeader(b"content-type", b"application/json; charset=utf-8")
        return body


class BadBodyTests(TestCase):
    timeout = 60

    async def test_bad_bodies_fail_alone(self) -> None:
        """Not JSON, wrong types, missing ids and impossible times fail with reasons; NULs and huge text are cleaned; truth intact."""
        seeds = GRAPH.suggested_seeds
        path, _hub = await crawl(GRAPH, seeds + ["not-json", "wrong-types", "no-id", "nul-bytes", "huge-bio", "bad-time"], 1,
                                 wrap=Corrupting, max_attempts=3, retry_base=0.01, retry_max=0.02)
        conn = sqlite3.connect(path)
        failed = dict(conn.execute("SELECT key, outcome FROM tasks WHERE state = 'failed'"))
        bios = dict(conn.execute("SELECT login, bio FROM users WHERE login IN ('nul-bytes', 'huge-bio')"))
        attempts = dict(conn.execute("SELECT key, attempts FROM tasks WHERE state = 'failed'"))
        conn.close()
        self.assertIn("not JSON", failed["not-json"])
        self.assertIn("id is str", failed["wrong-types"])
        self.assertIn("id is NoneType", failed["no-id"])
        self.assertIn("not an array", failed["9000005"])
        self.assertIn("created_at is '2020-02-30T00:00:00Z', not a UTC time", failed["bad-time"])
        self.assertEqual(set(failed), {"not-json", "wrong-types", "no-id", "9000005", "bad-time"})
        self.assertEqual(set(attempts.values()), {3})
        self.assertEqual(bios["nul-bytes"], "beforeafter")
        self.assertEqual(len(bios["huge-bio"]), 10_000)
        want = expected(truth(GRAPH, seeds, 1))
        got = snapshot(path)
        extra = {9000004, 9000005}
        self.assertEqual([u for u in got["users"] if u[0] not in extra], want["users"])
        self.assertEqual(got["repos"], want["repos"])
        self.assertEqual(got["contributors"], want["contributors"])
