"""Configuration: file, flags over file, tokens from the environment, one-line errors."""

from __future__ import annotations

import os
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
