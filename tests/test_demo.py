"""The README's first command: ``ghcrawl demo`` crawls an offline fakehub and shows the status."""

from __future__ import annotations

import os
import subprocess
import sys

from twisted.trial.unittest import SynchronousTestCase

from tests.support import tempdir

#: The console script installed next to the Python running the tests, as a user runs it.
GHCRAWL = os.path.join(os.path.dirname(sys.executable), "ghcrawl")


class DemoTests(SynchronousTestCase):
    def test_demo_with_default_dir_from_a_fresh_folder(self) -> None:
        """Run as the README says (default --dir, relative to a fresh folder), the demo exits 0 and matches the truth."""
        cwd = tempdir()
        proc = subprocess.run([GHCRAWL, "demo", "--users", "100"], cwd=cwd, capture_output=True, text=True,
                              timeout=120)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertIn("equals the fakehub's ground truth", proc.stdout)
        self.assertIn("frontier", proc.stdout)
        self.assertIn("failures       none", proc.stdout)
        self.assertTrue(os.path.exists(os.path.join(cwd, "ghcrawl-demo", "demo.sqlite")))

    def test_bad_user_count_is_one_line(self) -> None:
        """A --users that is not an integer in range is refused with one error line and exit 2."""
        for bad in ("lots", "10", "1000000000"):
            proc = subprocess.run([GHCRAWL, "demo", "--users", bad], cwd=tempdir(), capture_output=True,
                                  text=True, timeout=60)
            self.assertEqual(proc.returncode, 2, proc.stderr)
            self.assertEqual(proc.stderr.count("\n"), 1, proc.stderr)
            self.assertIn("--users must be an integer from 50 to 100000", proc.stderr)
