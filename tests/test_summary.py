"""The whole-crawl lines: what a starting daemon crawls, and how a --once run ended."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from ghcrawl.summary import failed_line, ready_line, waiting_line


class SummaryTests(SynchronousTestCase):
    def test_failed_line_is_exact(self) -> None:
        """The closing line names the count, the commonest reason and the two commands."""
        self.assertEqual(
            failed_line(7, "HTTP 502 Server Error"),
            "7 tasks failed (top reason: HTTP 502 Server Error); see 'ghcrawl status', "
            "re-queue with 'ghcrawl retry-failed'",
        )

    def test_no_failed_line_without_failures(self) -> None:
        """A run with no failed task has no closing failure line."""
        self.assertIsNone(failed_line(0, None))

    def test_reason_is_one_short_line(self) -> None:
        """A long or multi-line reason is folded and cut, so the closing line stays one line."""
        line = failed_line(1, "connection:\n" + "x" * 500)
        assert line is not None
        self.assertNotIn("\n", line)
        self.assertLess(len(line), 300)

    def test_ready_line_names_seeds_and_pending(self) -> None:
        """READY's status names the first seeds and the open work."""
        counts = {"pending": 4, "leased": 1, "done": 2, "failed": 0, "users": 9}
        self.assertEqual(ready_line(counts, ["a", "b", "c", "d"], "x.sqlite"),
                         "crawling from a, b, c and 1 more: 5 tasks pending, 2 done, 0 failed; 9 users stored")

    def test_empty_frontier_waits_for_seeds(self) -> None:
        """With nothing in the frontier READY's status says how to give it work."""
        self.assertEqual(ready_line({}, [], "/var/lib/ghcrawl/ghcrawl.sqlite"),
                         waiting_line("/var/lib/ghcrawl/ghcrawl.sqlite"))
        self.assertEqual(waiting_line("c.sqlite"),
                         "nothing to crawl yet: waiting for 'ghcrawl seed add LOGIN... --db c.sqlite'")
