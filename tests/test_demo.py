"""The README's first command: ``ghcrawl demo`` crawls an offline fakehub and shows the status."""

from __future__ import annotations

import os
import subprocess
import sys

from twisted.trial.unittest import SynchronousTestCase

from tests.support import tempdir


class DemoTests(SynchronousTestCase):
    def test_demo_crawls_and_prints_status(self) -> None:
        """The demo exits 0, reports a database equal to the ground truth, then prints the status."""
        folder = os.path.join(tempdir(), "demo")
        proc = subprocess.run([sys.executable, "-m", "ghcrawl.cli", "demo", "--dir", folder, "--users", "100"],
                              capture_output=True, text=True, timeout=120)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertIn("equals the fakehub's ground truth", proc.stdout)
        self.assertIn("frontier", proc.stdout)
        self.assertIn("failures       none", proc.stdout)
        self.assertTrue(os.path.exists(os.path.join(folder, "demo.sqlite")))
