"""API bodies to records: GitHub's times kept as sent, other ISO 8601 forms brought to GitHub's."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from ghcrawl.errors import FetchError
from ghcrawl.models import User


def user(created_at: object) -> User:
    return User.from_api({"id": 1, "login": "octocat", "type": "User", "created_at": created_at})


class TimeTests(SynchronousTestCase):
    def test_githubs_form_is_kept(self) -> None:
        """GitHub's own form passes unchanged, leap day included; null is no time."""
        self.assertEqual(user("2011-01-26T19:01:12Z").created_at, "2011-01-26T19:01:12Z")
        self.assertEqual(user("2020-02-29T23:59:59Z").created_at, "2020-02-29T23:59:59Z")
        self.assertIsNone(user(None).created_at)

    def test_other_iso_forms_become_utc_seconds(self) -> None:
        """An offset or fractions (an Enterprise server, a proxy) become UTC, whole seconds."""
        self.assertEqual(user("2011-01-26T20:01:12+01:00").created_at, "2011-01-26T19:01:12Z")
        self.assertEqual(user("2011-01-26T19:01:12.734Z").created_at, "2011-01-26T19:01:12Z")
        self.assertEqual(user("2011-01-26T19:01:12").created_at, "2011-01-26T19:01:12Z")

    def test_no_time_is_a_bad_body(self) -> None:
        """An impossible day or not a time at all: the body is bad, with the field named."""
        for value in ("2020-02-30T00:00:00Z", "2021-13-01T00:00:00Z", "0000-01-01T00:00:00Z", "yesterday", ""):
            with self.assertRaises(FetchError) as caught:
                user(value)
            self.assertIn("created_at is", str(caught.exception))
