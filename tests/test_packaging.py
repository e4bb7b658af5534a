"""Packaging: the wheel installs into a fresh virtualenv and twistd finds the plugin."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tempfile

from twisted.trial.unittest import SynchronousTestCase

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class WheelTests(SynchronousTestCase):
    def test_twistd_lists_plugin_after_wheel_install(self) -> None:
        """pip install of the built wheel into a new venv makes `twistd --help` list ghcrawl."""
        work = tempfile.mkdtemp(prefix="ghcrawl-wheel-")
        # Build from a copy without build/ and egg-info, whose leftovers would hide a package
        # missing from setup.cfg.
        source = os.path.join(work, "source")
        shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
            "build", "*.egg-info", ".venv", ".git", "*_cache", ".hypothesis", "__pycache__", "dropin.cache"))
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                        "-w", work, source], check=True, timeout=300, capture_output=True)
        wheel = glob.glob(os.path.join(work, "ghcrawl-*.whl"))
        self.assertEqual(len(wheel), 1)
        venv = os.path.join(work, "venv")
        subprocess.run([sys.executable, "-m", "venv", venv], check=True, timeout=120)
        pip = os.path.join(venv, "bin", "pip")
        subprocess.run([pip, "install", "-q", wheel[0]], check=True, timeout=600, capture_output=True)
        out = subprocess.run([os.path.join(venv, "bin", "twistd"), "--help"], cwd=work,
                             capture_output=True, timeout=120, text=True)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("ghcrawl", out.stdout)
        self.assertTrue(os.path.exists(os.path.join(venv, "bin", "ghcrawl-fakehub")))
        # The plugin's own options import every package of the daemon (the store among them).
        out = subprocess.run([os.path.join(venv, "bin", "twistd"), "ghcrawl", "--help"], cwd=work,
                             capture_output=True, timeout=120, text=True)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("--db", out.stdout)
        for backend in ("sqlite", "postgres"):
            schema = glob.glob(os.path.join(venv, "lib", "python*", "site-packages", "ghcrawl", "store", "schema",
                                            backend, "*.sql"))
            self.assertTrue(schema, f"{backend} schema files are not package data")
        stray = glob.glob(os.path.join(venv, "lib", "python*", "site-packages", "twisted", "plugins", "__init__.py"))
        self.assertEqual(len(stray), 1, "the wheel must not ship twisted/plugins/__init__.py of its own")
