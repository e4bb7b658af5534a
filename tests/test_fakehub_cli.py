"""The ghcrawl-fakehub process: serve over a real socket, stop on SIGTERM; truth JSON."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

ROOT = Path(__file__).parent.parent


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


class CliTests(SynchronousTestCase):
    def test_serve_answers_and_stops_on_sigterm(self) -> None:
        """serve writes its port, answers a user over TCP and exits 0 on SIGTERM."""
        with tempfile.TemporaryDirectory() as tmp:
            port_file = Path(tmp) / "port"
            tokens = Path(tmp) / "tokens"
            tokens.write_text("secret:alice\n")
            proc = subprocess.Popen(
                [sys.executable, "-m", "ghcrawl.fakehub", "serve", "--port", "0", "--port-file",
                 str(port_file), "--users", "100", "--tokens-file", str(tokens)],
                stdout=subprocess.PIPE, env=_env(), cwd=tmp)
            try:
                deadline = time.monotonic() + 15
                while not port_file.exists() or not port_file.read_text().strip():
                    self.assertLess(time.monotonic(), deadline, "no port file")
                    time.sleep(0.05)
                port = int(port_file.read_text())
                assert proc.stdout is not None
                self.assertEqual(proc.stdout.readline().decode().strip(), f"http://127.0.0.1:{port}")
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}/user/1001",
                    headers={"User-Agent": "test", "Authorization": "token secret"})
                with urllib.request.urlopen(request, timeout=10) as response:
                    body = json.loads(response.read())
                    self.assertEqual(response.headers["x-ratelimit-limit"], "5000")
                self.assertEqual(body["id"], 1001)
            finally:
                proc.send_signal(signal.SIGTERM)
                code = proc.wait(timeout=15)
        self.assertEqual(code, 0)

    def test_truth_prints_json(self) -> None:
        """truth prints one JSON document with the promised keys."""
        done = subprocess.run(
            [sys.executable, "-m", "ghcrawl.fakehub", "truth", "--seed", "3", "--users", "100",
             "--max-depth", "1"], capture_output=True, env=_env(), timeout=60, check=True)
        result = json.loads(done.stdout)
        self.assertEqual(set(result) - {"edge_cases"},
                         {"seeds", "max_depth", "users", "repos", "contributors", "min_requests"})
        self.assertGreater(result["min_requests"], 0)

    def test_serve_help_documents_every_option(self) -> None:
        """Every option of ``serve`` carries a help text, and ``serve --help`` shows it."""
        import argparse

        from ghcrawl.fakehub.cli import _parser

        sub = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
        serve = sub.choices["serve"]
        undocumented = [a.option_strings[0] for a in serve._actions if a.option_strings and not a.help]
        self.assertEqual(undocumented, [])
        out = subprocess.run([sys.executable, "-m", "ghcrawl.fakehub", "serve", "--help"], capture_output=True,
                             text=True, env=_env(), timeout=30, check=True).stdout
        self.assertIn("share of ordinary repositories that are empty", " ".join(out.split()))

    def test_empty_repos_share_reaches_the_truth(self) -> None:
        """``truth --empty-repos`` makes that share of ordinary repositories empty (fewer contributor rows)."""
        def truth(*extra: str) -> dict:  # type: ignore[type-arg]
            out = subprocess.run([sys.executable, "-m", "ghcrawl.fakehub", "truth", "--users", "200", *extra],
                                 capture_output=True, text=True, env=_env(), timeout=60, check=True).stdout
            return json.loads(out)  # type: ignore[no-any-return]

        plain, empty = truth(), truth("--empty-repos", "0.5")
        self.assertLess(len(empty["contributors"]), len(plain["contributors"]) * 0.8)
        bad = subprocess.run([sys.executable, "-m", "ghcrawl.fakehub", "truth", "--empty-repos", "2"],
                             capture_output=True, text=True, env=_env(), timeout=30)
        self.assertNotEqual(bad.returncode, 0)
        self.assertIn("--empty-repos must be between 0 and 1", bad.stderr)
