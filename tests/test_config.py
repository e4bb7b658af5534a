"""Configuration: file, flags over file, tokens from the environment, one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

from twisted.trial.unittest import SynchronousTestCase

from ghcrawl.config import load
from ghcrawl.errors import ConfigError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class ConfigTests(SynchronousTestCase):
    def write(self, text: str, mode: int = 0o600) -> str:
        fd, path = tempfile.mkstemp(suffix=".toml")
        os.write(fd, text.encode())
        os.close(fd)
        os.chmod(path, mode)
        self.addCleanup(os.unlink, path)
        return path

    def test_defaults(self) -> None:
        """With nothing given, the documented defaults apply."""
        c = load({}, {})
        self.assertEqual((c.db, c.api_url, c.max_depth, c.concurrency, c.grace, c.once),
                         ("ghcrawl.sqlite", "https://api.github.com", 1, 10, 10.0, False))
        self.assertEqual(c.credentials, ())

    def test_flag_overrides_file(self) -> None:
        """A flag wins over the same key in the file; seeds from both are kept once each."""
        path = self.write('max_depth = 3\nconcurrency = 5\nseeds = ["a", "b"]\n')
        c = load({"max_depth": "2", "seeds": ["b", "c"]}, {}, path)
        self.assertEqual((c.max_depth, c.concurrency), (2, 5))
        self.assertEqual(c.seeds, ("a", "b", "c"))

    def test_example_config_is_valid(self) -> None:
        """The shipped etc/ghcrawl.toml loads without error."""
        c = load({}, {}, os.path.join(ROOT, "etc", "ghcrawl.toml"))
        self.assertEqual(c.seeds, ("octocat",))

    def test_token_from_environment(self) -> None:
        """GITHUB_TOKEN gives one credential whose repr hides the token."""
        c = load({}, {"GITHUB_TOKEN": "ghp_secret"})
        self.assertEqual(len(c.credentials), 1)
        self.assertNotIn("ghp_secret", repr(c))
        self.assertNotIn("ghp_secret", repr(c.credentials[0]))
        self.assertNotIn("ghp_secret", str(c.credentials[0]))

    def test_token_file_and_pool(self) -> None:
        """A token file holds one token per line; GITHUB_TOKENS gives a pool too."""
        tokens = self.write("# mine\nghp_a\n\nghp_b\n")
        c = load({}, {"GITHUB_TOKEN": "ignored"}, self.write(f'token_file = "{tokens}"\n'))
        self.assertEqual([x.token for x in c.credentials], ["ghp_a", "ghp_b"])
        c = load({}, {"GITHUB_TOKENS": "ghp_x, ghp_y"})
        self.assertEqual([x.token for x in c.credentials], ["ghp_x", "ghp_y"])

    def test_shared_token_file_warns(self) -> None:
        """A token file readable by others gets a warning."""
        tokens = self.write("ghp_a\n", mode=0o644)
        c = load({}, {}, self.write(f'token_file = "{tokens}"\n'))
        self.assertTrue(any("readable by group or others" in w for w in c.warnings))

    def test_errors_name_the_problem(self) -> None:
        """Each bad value raises ConfigError naming its key."""
        cases = [
            ({"max_depth": "-1"}, "max_depth"),
            ({"concurrency": "0"}, "concurrency"),
            ({"grace": "soon"}, "grace"),
            ({"api_url": "api.github.com"}, "api_url"),
            ({"seeds": ["ok", "not ok"]}, "invalid seed login"),
        ]
        for flags, needle in cases:
            with self.assertRaises(ConfigError) as e:
                load(flags, {})
            self.assertIn(needle, str(e.exception))

    def test_max_body_bytes(self) -> None:
        """The body cap defaults to 32 MiB, comes from the file or the flag, and refuses a tiny value."""
        self.assertEqual(load({}, {}).max_body_bytes, 33554432)
        self.assertEqual(load({}, {}, self.write("max_body_bytes = 2048\n")).max_body_bytes, 2048)
        self.assertEqual(load({"max_body_bytes": "4096"}, {}).max_body_bytes, 4096)
        with self.assertRaises(ConfigError) as caught:
            load({"max_body_bytes": "10"}, {})
        self.assertIn("max_body_bytes must be at least 1024", str(caught.exception))


#: Loaded only by runs that need them: an App's keys and JWTs, a TOML file.
_ONLY_WHEN_USED = ("jwt", "ghcrawl.app_auth", "ghcrawl.installations", "tomllib")


def _loaded_by(flags: str, config: str | None) -> set[str]:
    """Which of ``_ONLY_WHEN_USED`` a fresh interpreter holds after importing the daemon and loading a config."""
    script = (
        "import contextlib, sys\n"
        "import ghcrawl.tap\n"
        "from ghcrawl.config import load\n"
        "from ghcrawl.errors import ConfigError\n"
        f"with contextlib.suppress(ConfigError):\n    load({flags}, {{'GITHUB_TOKEN': 't'}}, {config!r})\n"
        f"print(' '.join(m for m in {_ONLY_WHEN_USED!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    return set(out.stdout.split())


class StartUpTests(SynchronousTestCase):
    def test_token_run_loads_no_app_or_toml_code(self) -> None:
        """A token-only run without a config file never imports the App's JWT code or a TOML parser."""
        self.assertEqual(_loaded_by("{'seeds': ['octocat']}", None), set())

    def test_app_key_and_config_file_load_their_code(self) -> None:
        """An App key loads the App code and a config file the TOML parser (the check above can fail)."""
        fd, path = tempfile.mkstemp(suffix=".toml")
        os.close(fd)
        self.addCleanup(os.unlink, path)
        self.assertEqual(_loaded_by("{'app_id': '1'}", path), {"ghcrawl.app_auth", "tomllib"})
