"""Budgets, secondary limits, credentials, faults and latency."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase
from twisted.web._newclient import ResponseFailed

from tests.test_fakehub_support import START, fixture, make


class PrimaryLimitTests(SynchronousTestCase):
    def test_last_unit_succeeds_next_fails(self) -> None:
        """The request spending the last unit is a 200 with remaining 0; the next is a 403."""
        graph, hub, client, _clock = make(rate_limit=3)
        path = f"/users/{graph.suggested_seeds[0]}"
        answers = [client.get(path, token="a") for _ in range(4)]
        self.assertEqual([a.code for a in answers], [200, 200, 200, 403])
        self.assertEqual([a.headers["x-ratelimit-remaining"] for a in answers], ["2", "1", "0", "0"])
        self.assertEqual(answers[2].headers["x-ratelimit-used"], "3")
        self.assertEqual(answers[0].headers["x-ratelimit-reset"], str(int(START + 3600)))
        user_id = graph.user_by_login("a")
        self.assertIsNone(user_id)
        self.assertTrue(answers[3].json()["message"].startswith("API rate limit exceeded for user ID "))
        self.assertEqual(hub.stats()["violations"], 1)

    def test_window_resets_with_clock(self) -> None:
        """After the window ends the budget is full again and reset moves on."""
        graph, _hub, client, clock = make(rate_limit=1, rate_window=60)
        path = f"/users/{graph.suggested_seeds[0]}"
        client.get(path, token="a")
        self.assertEqual(client.get(path, token="a").code, 403)
        clock.advance(60)
        fresh = client.get(path, token="a")
        self.assertEqual((fresh.code, fresh.headers["x-ratelimit-reset"]), (200, str(int(START + 120))))

    def test_unauthenticated_budget_and_message(self) -> None:
        """Without a token the budget is unauth_rate_limit and the 403 names the IP."""
        graph, _hub, client, _clock = make(unauth_rate_limit=1)
        path = f"/users/{graph.suggested_seeds[0]}"
        self.assertEqual(client.get(path).headers["x-ratelimit-limit"], "1")
        denied = client.get(path)
        expected = fixture("rate-limit-errors.json")["primary_unauthenticated"]["body"]
        self.assertEqual(denied.code, 403)
        self.assertEqual(denied.json()["documentation_url"], expected["documentation_url"])
        self.assertIn("127.0.0.1. (But here's the good news", denied.json()["message"])

    def test_budget_shared_by_owner_tokens(self) -> None:
        """Two tokens of one user share a budget; another user's token does not."""
        graph, _hub, client, _clock = make(rate_limit=2, tokens={"t1": "ann", "t2": "ann", "t3": "bob"})
        path = f"/users/{graph.suggested_seeds[0]}"
        client.get(path, token="t1")
        client.get(path, token="t2")
        self.assertEqual(client.get(path, token="t1").code, 403)
        self.assertEqual(client.get(path, token="t3").code, 200)

    def test_authenticated_user_names_the_owner(self) -> None:
        """GET /user names the account a token belongs to: tokens of one owner share it."""
        _graph, _hub, client, _clock = make(tokens={"t1": "ann", "t2": "ann", "t3": "bob"})
        ann1, ann2, bob = (client.get("/user", token=t).json() for t in ("t1", "t2", "t3"))
        self.assertEqual(ann1, ann2)
        self.assertEqual(ann1["login"], "ann")
        self.assertNotEqual(ann1["id"], bob["id"])
        self.assertEqual(client.get("/user").code, 401)

    def test_bad_credentials(self) -> None:
        """An unknown token gets 401 Bad credentials and is not charged."""
        graph, hub, client, _clock = make(tokens={"good": "ann"})
        answer = client.get(f"/users/{graph.suggested_seeds[0]}", token="wrong")
        self.assertEqual(answer.code, 401)
        self.assertEqual(answer.json(), {"message": "Bad credentials",
                                         "documentation_url": "https://docs.github.com/rest",
                                         "status": "401"})
        self.assertEqual(hub.stats()["charged"], 0)

    def test_no_user_agent(self) -> None:
        """A request without User-Agent is refused with 403 and costs nothing."""
        graph, hub, client, _clock = make()
        answer = client.get(f"/users/{graph.suggested_seeds[0]}", agent=False)
        self.assertEqual(answer.code, 403)
        self.assertIn("User-Agent", answer.json()["message"])
        self.assertEqual(hub.stats()["charged"], 0)


class SecondaryLimitTests(SynchronousTestCase):
    def test_every_nth_with_retry_after(self) -> None:
        """Every Nth request is limited with retry-after; calls inside the wait are violations."""
        graph, hub, client, clock = make(secondary_every=3, secondary_retry_after=30, secondary_status=429)
        path = f"/users/{graph.suggested_seeds[0]}"
        codes = [client.get(path, token="a") for _ in range(4)]
        self.assertEqual([a.code for a in codes], [200, 200, 429, 429])
        self.assertEqual(hub.stats()["secondary_violations"], 0, "in flight when limited: not a violation")
        clock.advance(1)
        self.assertEqual(client.get(path, token="a").code, 429)
        limited = codes[2]
        self.assertEqual(limited.headers["retry-after"], "30")
        self.assertNotEqual(limited.headers["x-ratelimit-remaining"], "0")
        self.assertTrue(limited.json()["message"].startswith("You have exceeded a secondary rate limit"))
        self.assertEqual(hub.stats()["secondary_limited"], 1)
        self.assertEqual(hub.stats()["secondary_violations"], 1)
        clock.advance(29)
        self.assertEqual(client.get(path, token="a").code, 429)  # the 6th request: a new limit, not a violation
        self.assertEqual(hub.stats()["secondary_limited"], 2)
        self.assertEqual(hub.stats()["secondary_violations"], 1)

    def test_without_retry_after_waits_default(self) -> None:
        """Without retry-after the header is absent and the wait is secondary_wait."""
        graph, hub, client, clock = make(secondary_every=1, secondary_wait=60)
        path = f"/users/{graph.suggested_seeds[0]}"
        first = client.get(path)
        self.assertEqual(first.code, 403)
        self.assertNotIn("retry-after", first.headers)
        clock.advance(59)
        client.get(path)
        self.assertEqual(hub.stats()["secondary_violations"], 1)

    def test_concurrency_limit(self) -> None:
        """More requests in flight than allowed get the secondary limit."""
        graph, hub, client, clock = make(secondary_concurrency=1, latency=1.0)
        got: list[object] = []
        for _ in range(2):
            client.stub.get(f"http://fakehub.test/users/{graph.suggested_seeds[0]}",
                            headers={b"User-Agent": [b"t"]}).addBoth(got.append)
        client.stub.flush()
        clock.advance(1.0)
        client.stub.flush()
        self.assertEqual(sorted(r.code for r in got), [200, 403])  # type: ignore[attr-defined]
        self.assertEqual(hub.stats()["peak_concurrency"], 2)
        self.assertEqual(hub.stats()["in_flight"], 0)

    def test_traffic_span(self) -> None:
        """The stats say when the first request since a reset arrived and the last one was answered."""
        graph, hub, client, clock = make(latency=0.5)
        self.assertIsNone(hub.stats()["first_at"])
        clock.advance(10)
        started = clock.seconds()
        for step in range(6):  # requests at +0 and +0.25 s, each answered 0.5 s later
            if step < 2:
                client.stub.get(f"http://fakehub.test/users/{graph.suggested_seeds[0]}",
                                headers={b"User-Agent": [b"t"]})
            client.stub.flush()
            clock.advance(0.25)
            client.stub.flush()
        stats = hub.stats()
        self.assertEqual((stats["first_at"], stats["last_at"]), (started, started + 0.75))


class FaultTests(SynchronousTestCase):
    def _codes(self, fault: str, count: int = 3) -> list[object]:
        graph, hub, client, _clock = make(fault_rate=1.0, faults=(fault,), stall=5)
        self.hub = hub
        out: list[object] = []
        for _ in range(count):
            try:
                out.append(client.get(f"/users/{graph.suggested_seeds[0]}"))
            except ResponseFailed as e:
                out.append(e)
        return out

    def test_server_errors_uncharged(self) -> None:
        """Injected 502s carry a JSON body and are not charged."""
        answers = self._codes("502")
        self.assertEqual({a.code for a in answers}, {502})  # type: ignore[attr-defined]
        self.assertEqual(self.hub.stats()["charged"], 0)
        self.assertEqual(self.hub.stats()["faults"], 3)

    def test_malformed_and_truncated(self) -> None:
        """Malformed and truncated answers are 200s whose bodies do not parse."""
        for fault in ("malformed", "truncate"):
            answer = self._codes(fault, 1)[0]
            self.assertEqual(answer.code, 200)  # type: ignore[attr-defined]
            self.assertRaises(ValueError, answer.json)  # type: ignore[attr-defined]

    def test_reset_fails_request(self) -> None:
        """A reset cuts the body and the client sees a failed response."""
        answer = self._codes("reset", 1)[0]
        self.assertIsInstance(answer, ResponseFailed)
        self.assertEqual(self.hub.stats()["in_flight"], 0)

    def test_faults_deterministic(self) -> None:
        """The same fault seed injects faults on the same requests."""
        def pattern() -> list[int]:
            graph, _hub, client, _clock = make(fault_rate=0.5, faults=("500", "503"), fault_seed=7)
            return [client.get(f"/users/{graph.suggested_seeds[0]}").code for _ in range(12)]
        first = pattern()
        self.assertEqual(first, pattern())
        self.assertIn(200, first)
        self.assertTrue({500, 503} & set(first))


class LatencyTests(SynchronousTestCase):
    def test_latency_uses_clock_and_survives_disconnect(self) -> None:
        """With latency the answer waits for the clock; a dropped client cancels it."""
        graph, hub, client, clock = make(latency=0.5)
        got: list[object] = []
        d = client.stub.get(f"http://fakehub.test/users/{graph.suggested_seeds[0]}",
                            headers={b"User-Agent": [b"t"]})
        d.addBoth(got.append)
        client.stub.flush()
        self.assertEqual(got, [])
        self.assertEqual(len(clock.getDelayedCalls()), 1)
        clock.advance(0.5)
        client.stub.flush()
        self.assertEqual(got[0].code, 200)  # type: ignore[attr-defined]
        d2 = client.stub.get(f"http://fakehub.test/users/{graph.suggested_seeds[0]}",
                             headers={b"User-Agent": [b"t"]})
        d2.addErrback(lambda f: None)
        client.stub.flush()
        d2.cancel()
        client.stub.flush()
        self.assertEqual(hub.stats()["in_flight"], 0)
        self.assertEqual(clock.getDelayedCalls(), [])
