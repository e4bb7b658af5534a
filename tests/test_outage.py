"""The outage detector, on a fake clock: which failures count, when an outage starts and ends."""

from __future__ import annotations

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from ghcrawl.metrics import Metrics
from ghcrawl.outage import Outage


class ScriptedProbe:
    """A probe whose answers the test gives, one Deferred per probe sent."""

    def __init__(self) -> None:
        self.sent: list[Deferred[str | None]] = []

    def __call__(self) -> Deferred[str | None]:
        d: Deferred[str | None] = Deferred()
        self.sent.append(d)
        return d


class OutageTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.probe = ScriptedProbe()
        self.metrics = Metrics()
        self.changes = 0
        self.outage = Outage(self.clock, self.probe, probe_max=8.0, metrics=self.metrics,
                             on_change=self.changed)

    def changed(self) -> None:
        self.changes += 1

    def gauge(self, name: str) -> float | None:
        return self.metrics.registry.get_sample_value(name)

    def test_failure_counts_once_a_later_request_is_answered(self) -> None:
        """A failure followed by an answer to a request sent after it counts against its task."""
        judged = self.outage.failed(1, "HTTP 502 Server Error")
        self.assertNoResult(judged)
        self.clock.advance(0.2)
        self.outage.answered(self.clock.seconds())
        self.assertTrue(self.successResultOf(judged))
        self.assertFalse(self.outage.active)
        self.assertEqual(self.probe.sent, [])
        self.assertEqual(self.clock.getDelayedCalls(), [])  # settled: no probe left scheduled

    def test_answer_to_an_older_request_settles_nothing(self) -> None:
        """An answer to a request sent before the failure is no evidence the API is up now."""
        self.clock.advance(5)
        judged = self.outage.failed(1, "connection: ConnectionLost")
        self.outage.answered(4.9)
        self.assertNoResult(judged)

    def test_lone_failure_is_settled_by_a_probe(self) -> None:
        """With no other traffic, a probe after the settle time decides; its answer makes the failure count."""
        judged = self.outage.failed(1, "HTTP 502 Server Error")
        self.clock.advance(0.99)
        self.assertEqual(self.probe.sent, [])
        self.clock.advance(0.02)
        self.assertEqual(len(self.probe.sent), 1)
        self.probe.sent[0].callback(None)
        self.assertTrue(self.successResultOf(judged))
        self.assertFalse(self.outage.active)

    def test_three_distinct_tasks_probe_at_once_and_failed_probe_starts_outage(self) -> None:
        """Three tasks failing in a row probe at once; the failed probe starts an outage and nothing counts."""
        judged = [self.outage.failed(i, "connection: ConnectionRefusedError") for i in (1, 2, 2, 3)]
        self.assertEqual(len(self.probe.sent), 1)
        self.probe.sent[0].callback("connection: ConnectionRefusedError: Connection was refused")
        self.assertTrue(self.outage.active)
        self.assertEqual([self.successResultOf(d) for d in judged], [False] * 4)
        self.assertEqual(self.outage.reason, "connection: ConnectionRefusedError: Connection was refused")
        self.assertEqual(self.gauge("ghcrawl_outage"), 1.0)
        self.assertEqual(self.gauge("ghcrawl_outages_total"), 1.0)
        self.assertFalse(self.successResultOf(self.outage.failed(4, "HTTP 503")))
        self.assertEqual(self.changes, 1)

    def test_probes_back_off_to_the_cap_and_first_answer_ends_it(self) -> None:
        """During an outage probes go out after 1, 2, 4, 8, 8 s; the first answer ends the outage."""
        self.outage.failed(1, "HTTP 503")
        self.clock.advance(1)
        self.probe.sent[-1].callback("HTTP 503")
        gaps = []
        for _ in range(5):
            sent = len(self.probe.sent)
            waited = 0.0
            while len(self.probe.sent) == sent:
                self.clock.advance(0.5)
                waited += 0.5
            gaps.append(waited)
            self.probe.sent[-1].callback("HTTP 503")
        self.assertEqual(gaps, [1.0, 2.0, 4.0, 8.0, 8.0])
        self.clock.advance(8)
        self.probe.sent[-1].callback(None)
        self.assertFalse(self.outage.active)
        self.assertEqual(self.gauge("ghcrawl_outage"), 0.0)
        self.assertEqual(self.changes, 2)
        self.clock.advance(100)
        self.assertEqual(len(self.probe.sent), 7)  # no probing once it is over

    def test_outage_of_any_length_counts_no_attempt(self) -> None:
        """However long the outage, failures before and during it never count."""
        before = self.outage.failed(1, "connection: DNSLookupError")
        self.clock.advance(1)
        self.probe.sent[-1].callback("connection: DNSLookupError")
        for hour in range(24):
            self.assertFalse(self.successResultOf(self.outage.failed(hour, "connection: DNSLookupError")))
            self.clock.advance(3600)
            self.probe.sent[-1].callback("connection: DNSLookupError")
        self.assertFalse(self.successResultOf(before))
        self.assertTrue(self.outage.active)
        self.assertEqual(self.outage.describe(self.clock.seconds())["seconds"], 24 * 3600)  # type: ignore[index]

    def test_answer_to_request_sent_during_outage_ends_it(self) -> None:
        """A request sent after the outage began that is answered ends it too."""
        self.outage.failed(1, "HTTP 503")
        self.clock.advance(1)
        self.probe.sent[-1].callback("HTTP 503")
        self.clock.advance(0.5)
        self.outage.answered(self.clock.seconds() - 0.1)
        self.assertFalse(self.outage.active)
        self.assertIsNone(self.outage.describe(self.clock.seconds()))

    def test_cancelled_judgement_is_forgotten(self) -> None:
        """A task cancelled at shutdown while judged leaves nothing behind to fire later."""
        judged = self.outage.failed(1, "HTTP 502")
        judged.cancel()
        self.failureResultOf(judged)
        self.outage.answered(self.clock.seconds())  # must not fire the cancelled Deferred again
        self.outage.stop()
        self.assertEqual(self.clock.getDelayedCalls(), [])


class ProgressLineTests(SynchronousTestCase):
    def test_progress_line_starts_with_the_outage(self) -> None:
        """During an outage the progress line (and so STATUS=) begins with when it started and why."""
        from ghcrawl.progress import Progress, line
        from ghcrawl.ratelimit import Pacer

        clock = Clock()
        clock.advance(1_800_000_000)
        outage = Outage(clock, ScriptedProbe())
        outage.failed(1, "HTTP 503")
        clock.advance(1)
        probe = outage._probe
        assert isinstance(probe, ScriptedProbe)
        probe.sent[0].callback("HTTP 503 No server is currently available")
        clock.advance(30)
        status = Progress().status(clock.seconds(), {}, [], 0, 0, Pacer([], 4), outage.describe(clock.seconds()))
        self.assertTrue(line(status).startswith(
            "outage since 2027-01-15T08:00:01Z (HTTP 503 No server is currently available); "), line(status))
        self.assertEqual(status["outage"]["seconds"], 30.0)
