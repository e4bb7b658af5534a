"""The pacer's decisions, with plain numbers for time."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from ghcrawl.ratelimit import RESET_MARGIN, Budget, Pacer, RateInfo, parse_rate_headers, parse_retry_after


class ParseTests(SynchronousTestCase):
    def test_rate_headers(self) -> None:
        """The three budget headers become one RateInfo."""
        self.assertEqual(parse_rate_headers("5000", "4999", "1700000000"), RateInfo(5000, 4999, 1700000000.0))

    def test_rate_headers_missing_or_garbage(self) -> None:
        """Missing or non-numeric headers give None, never an exception."""
        self.assertIsNone(parse_rate_headers(None, "1", "2"))
        self.assertIsNone(parse_rate_headers("a", "1", "2"))

    @given(st.text(max_size=20), st.text(max_size=20), st.text(max_size=20))
    def test_rate_headers_never_raise(self, a: str, b: str, c: str) -> None:
        """Any header text parses to a RateInfo or None."""
        result = parse_rate_headers(a, b, c)
        self.assertTrue(result is None or result.remaining >= 0)

    def test_retry_after_seconds_and_date(self) -> None:
        """Retry-After is read as seconds or as an HTTP date."""
        self.assertEqual(parse_retry_after("60", 0.0), 60.0)
        self.assertAlmostEqual(parse_retry_after("Thu, 01 Jan 1970 00:01:40 GMT", 40.0) or 0, 60.0)
        self.assertIsNone(parse_retry_after("soon", 0.0))
        self.assertIsNone(parse_retry_after(None, 0.0))


class BudgetTests(SynchronousTestCase):
    def test_unknown_budget_allows_one_probe(self) -> None:
        """With no headers seen yet, one request goes out to learn the budget."""
        b = Budget("x")
        self.assertEqual(b.available(0.0, 0), 1)
        b.in_flight = 1
        self.assertEqual(b.available(0.0, 0), 0)

    def test_in_flight_counts_against_remaining(self) -> None:
        """Requests already sent are subtracted, so a burst never overruns the budget."""
        b = Budget("x", remaining=5, reset_at=100.0, in_flight=3)
        self.assertEqual(b.available(0.0, 0), 2)
        self.assertEqual(b.available(0.0, 2), 0)

    def test_spent_budget_waits_for_reset_plus_margin(self) -> None:
        """An exhausted budget is ready again one second after reset."""
        b = Budget("x", remaining=0, reset_at=100.0)
        self.assertEqual(b.available(50.0, 0), 0)
        self.assertEqual(b.ready_at(50.0), 100.0 + RESET_MARGIN)

    def test_lowest_remaining_wins_within_window(self) -> None:
        """Out-of-order answers never raise remaining within one window; a new window resets it."""
        b = Budget("x")
        b.observe(RateInfo(10, 5, 100.0))
        b.observe(RateInfo(10, 7, 100.0))
        self.assertEqual(b.remaining, 5)
        b.observe(RateInfo(10, 9, 200.0))
        self.assertEqual((b.remaining, b.reset_at), (9, 200.0))


class PacerTests(SynchronousTestCase):
    def test_concurrency_capped_at_100(self) -> None:
        """Whatever is configured, never more than GitHub's 100 in flight."""
        self.assertEqual(Pacer([Budget("x")], 500).max_concurrency, 100)

    def test_secondary_without_retry_after_waits_then_backs_off(self) -> None:
        """No retry-after: wait the configured minimum, doubling on each strike, and halve concurrency."""
        p = Pacer([Budget("x", remaining=100, reset_at=1000.0)], 40, secondary_wait=60.0)
        self.assertEqual(p.secondary_limited(0.0, None, p.budgets[0]), 60.0)
        self.assertEqual(p.concurrency, 20)
        self.assertEqual(p.secondary_limited(61.0, None, p.budgets[0]), 61.0 + 120.0)
        self.assertEqual(p.allowance(100.0), (0, 181.0))

    def test_answers_already_in_flight_do_not_escalate(self) -> None:
        """Limits answering requests sent before the pause began count as one strike."""
        p = Pacer([Budget("x", remaining=100, reset_at=1000.0)], 40, secondary_wait=60.0)
        p.secondary_limited(0.0, None, p.budgets[0])
        for _ in range(5):
            self.assertEqual(p.secondary_limited(0.1, None, p.budgets[0]), 60.0)
        self.assertEqual((p.strikes, p.concurrency), (1, 20))

    def test_secondary_honours_retry_after(self) -> None:
        """A retry-after header decides the wait."""
        p = Pacer([Budget("x", remaining=100, reset_at=1000.0)], 10)
        self.assertEqual(p.secondary_limited(5.0, 7.0, p.budgets[0]), 12.0)

    def test_secondary_with_spent_budget_waits_for_reset(self) -> None:
        """No retry-after and remaining 0: wait until the reset."""
        p = Pacer([Budget("x", remaining=0, reset_at=500.0)], 10)
        self.assertEqual(p.secondary_limited(0.0, None, p.budgets[0]), 500.0 + RESET_MARGIN)

    def test_grows_back_after_clean_answers(self) -> None:
        """Concurrency grows by one per run of clean answers, up to the maximum."""
        b = Budget("x", remaining=1000, reset_at=1000.0)
        p = Pacer([b], 4, grow_every=2, concurrency=1)
        for _ in range(4):
            b.in_flight += 1
            p.answered(b, None, clean=True)
        self.assertEqual(p.concurrency, 3)

    def test_take_picks_budget_with_most_headroom(self) -> None:
        """The pool spends the account with the most budget left."""
        a, b = Budget("a", remaining=3, reset_at=100.0), Budget("b", remaining=9, reset_at=100.0)
        p = Pacer([a, b], 10)
        self.assertIs(p.take(0.0), b)

    def test_take_probes_an_unknown_budget_first(self) -> None:
        """A budget whose window is unknown sends its one probe before others spend their headroom."""
        known, new = Budget("a", remaining=4000, reset_at=100.0), Budget("b")
        p = Pacer([known, new], 10)
        self.assertIs(p.take(0.0), new)
        self.assertIs(p.take(0.0), known)  # one probe at a time
        shared = Budget("c", granted=1, granted_until=50.0)
        p = Pacer([Budget("d", granted=30, granted_until=50.0, remaining=900, reset_at=100.0), shared], 10)
        self.assertIs(p.take(0.0), shared)

    @given(st.integers(0, 50), st.integers(1, 100), st.integers(0, 5))
    def test_never_overspends(self, remaining: int, concurrency: int, reserve: int) -> None:
        """However many requests are started, in-flight never exceeds remaining minus reserve."""
        b = Budget("x", remaining=remaining, reset_at=100.0)
        p = Pacer([b], concurrency, reserve=reserve)
        while p.take(0.0) is not None:
            pass
        self.assertLessEqual(b.in_flight, max(0, remaining - reserve))
        self.assertLessEqual(b.in_flight, p.max_concurrency)
