"""GitHub App authentication: JWTs and settings, then real ``twistd -n ghcrawl`` crawls over installations."""

from __future__ import annotations

import glob
import json
import os
import socket
import subprocess
import time
import urllib.request
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from twisted.trial.unittest import SynchronousTestCase

from ghcrawl.app_auth import AppSettings, app_settings, sign_jwt
from ghcrawl.errors import AppConfigError
from tests.support import (
    SMALL_GRAPH,
    TOKEN,
    TWISTD,
    FakeHubProcess,
    crawl_env,
    expected,
    seed_args,
    snapshot,
    tempdir,
    truth,
    twistd,
)

USERS = 200
APP_ID = "4242"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem(key: Any) -> bytes:
    return bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                   serialization.NoEncryption()))


def write(path: str, data: bytes, mode: int = 0o600) -> str:
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)
    return path


class SettingsTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.dir = tempdir()
        self.key_file = write(os.path.join(self.dir, "app.pem"), pem(KEY))

    def settings(self, env: dict[str, str] | None = None, **values: Any) -> AppSettings | None:
        return app_settings(values, env or {}, [])

    def test_jwt_claims(self) -> None:
        """The JWT is RS256, issued 60 s back, expires within 10 minutes, and names the App."""
        settings = self.settings(app_id=4242, app_private_key_file=self.key_file)
        assert settings is not None
        token = sign_jwt(settings, 1_700_000_000.5)
        self.assertEqual(jwt.get_unverified_header(token)["alg"], "RS256")
        claims = jwt.decode(token, KEY.public_key(), algorithms=["RS256"], options={"verify_exp": False})
        self.assertEqual(claims["iss"], APP_ID)
        self.assertEqual(claims["iat"], 1_700_000_000 - 60)
        self.assertLessEqual(claims["exp"], 1_700_000_000 + 600)
        self.assertGreater(claims["exp"], 1_700_000_000 + 300)

    def test_settings(self) -> None:
        """Installations come as a list or a comma-separated flag; the key never shows in a repr."""
        a = self.settings(app_id="Iv1.abc", app_private_key_file=self.key_file, app_installations=[5, 6, 5])
        b = self.settings(app_id="Iv1.abc", app_private_key_file=self.key_file, app_installations="5, 6")
        assert a is not None and b is not None
        self.assertEqual((a.app_id, a.installations, b.installations), ("Iv1.abc", (5, 6), (5, 6)))
        self.assertNotIn("PRIVATE", repr(a))
        self.assertIsNone(self.settings())

    def test_systemd_credential(self) -> None:
        """Under systemd the key is $CREDENTIALS_DIRECTORY/github-app-key."""
        os.rename(self.key_file, os.path.join(self.dir, "github-app-key"))
        settings = self.settings({"CREDENTIALS_DIRECTORY": self.dir}, app_id=1)
        assert settings is not None
        self.assertTrue(settings.key_file.endswith("github-app-key"))

    def test_bad_settings_are_one_line(self) -> None:
        """Each unusable App setting is one AppConfigError naming it."""
        ec_key = ec.generate_private_key(ec.SECP256R1())
        ec_file = write(os.path.join(self.dir, "ec.pem"), ec_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        junk = write(os.path.join(self.dir, "junk.pem"), b"not a key\n")
        cases = [
            ({"app_private_key_file": self.key_file}, "need app_id"),
            ({"app_id": 1}, "app_id needs app_private_key_file"),
            ({"app_id": 1, "app_private_key_file": "/nonexistent.pem"}, "cannot read app_private_key_file"),
            ({"app_id": 1, "app_private_key_file": ec_file}, "is not an RSA private key (GitHub Apps sign"),
            ({"app_id": 1, "app_private_key_file": junk}, "is not an RSA private key (not a PEM"),
            ({"app_id": True, "app_private_key_file": self.key_file}, "app_id must be"),
            ({"app_id": 1, "app_private_key_file": self.key_file, "app_installations": "a,b"}, "app_installations"),
            ({"app_id": 1, "app_private_key_file": self.key_file, "app_installations": [0]}, "app_installations"),
        ]
        for values, message in cases:
            with self.assertRaises(AppConfigError) as caught:
                self.settings(**values)
            self.assertIn(message, str(caught.exception))

    def test_shared_key_file_warns(self) -> None:
        """A key file readable by others gets a warning."""
        os.chmod(self.key_file, 0o644)
        warnings: list[str] = []
        app_settings({"app_id": 1, "app_private_key_file": self.key_file}, {}, warnings)
        self.assertEqual(len(warnings), 1)


class AppCrawlCase(SynchronousTestCase):
    """Real processes: the fakehub playing GitHub for one App, and ``twistd -n ghcrawl``."""

    #: Users and seed of the fake graph.
    graph: tuple[int, int] = (USERS, 1)

    def setUp(self) -> None:
        self.dir = tempdir()
        self.db = os.path.join(self.dir, "crawl.sqlite")
        self.key = write(os.path.join(self.dir, "app.pem"), pem(KEY))
        self.public = write(os.path.join(self.dir, "app.pub"), KEY.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo), 0o644)
        users, seed = self.graph
        self.truth = truth(users, seed=seed)

    def start_hub(self, *args: str) -> FakeHubProcess:
        users, seed = self.graph
        hub = FakeHubProcess(self.dir, "--users", str(users), "--seed", str(seed), "--app-id", APP_ID,
                             "--app-public-key", self.public, *args)
        self.addCleanup(hub.stop)
        return hub

    def crawl(self, hub: FakeHubProcess, *extra: str, key: str | None = None,
              token: str | None = None) -> subprocess.Popen[bytes]:
        proc = twistd(self.dir, "--api-url", hub.url, "--db", self.db, "--app-id", APP_ID,
                      "--app-private-key-file", key or self.key, *seed_args(self.truth), *extra, token=token)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        return proc

    def log(self) -> str:
        with open(os.path.join(self.dir, "crawl.log"), encoding="utf-8", errors="replace") as f:
            return f.read()

    def errors(self) -> list[str]:
        return [line for line in self.log().splitlines() if "#error]" in line or "#critical]" in line]

    def post(self, hub: FakeHubProcess, path: str) -> Any:
        request = urllib.request.Request(hub.url + path, method="POST")
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.read()

    def assertMatchesTruth(self) -> None:
        got, want = snapshot(self.db), expected(self.truth)
        for table in ("users", "repos", "contributors"):
            self.assertEqual(sorted(set(want[table]) ^ set(got[table]))[:5], [], f"{table} differs")
            self.assertEqual(len(got[table]), len(want[table]))

    def assertNoSecrets(self) -> None:
        """Neither the key nor any installation token is in the log or the database files."""
        stored = b"".join(open(p, "rb").read() for p in glob.glob(self.db + "*"))
        for blob in (self.log().encode(), stored):
            self.assertNotIn(b"ghs_", blob)
            self.assertNotIn(b"PRIVATE KEY", blob)
            self.assertNotIn(pem(KEY).splitlines()[1], blob)


class AppBudgetTests(AppCrawlCase):
    """Crawls bound by the installations' budgets, on a small graph: their length is the budget's doing."""

    graph = SMALL_GRAPH

    def test_crawl_over_three_installations(self) -> None:
        """Tokens living 4 s, 60 requests per installation per 5 s: truth, no violation, no expired token."""
        hub = self.start_hub("--installations", "3", "--installation-token-ttl", "4",
                             "--installation-rate-limit", "60", "--rate-window", "5")
        self.assertEqual(self.crawl(hub, "--once").wait(150), 0, self.log()[-3000:])
        self.assertMatchesTruth()
        stats = hub.stats()
        app = stats["app"]
        self.assertEqual((stats["violations"], app["expired_token_requests"]), (0, 0), app)
        self.assertEqual(sorted(app["tokens_issued"]), ["7000001", "7000002", "7000003"])
        self.assertTrue(all(n >= 3 for n in app["tokens_issued"].values()), app)  # at least two renewals each
        self.assertTrue(all(app["requests"][i] >= 60 for i in app["tokens_issued"]), app)  # every budget used
        self.assertEqual(self.errors(), [])
        self.assertNoSecrets()
        # A refresh by a new process (so with new tokens) still gets 304s, from Last-Modified.
        self.post(hub, "/__fakehub/reset-stats")
        self.assertEqual(self.crawl(hub, "--once", "--refresh-after", "0").wait(150), 0, self.log()[-3000:])
        refreshed = hub.stats()
        fetched = sum(n for status, n in refreshed["by_status"].items() if status != "201")
        self.assertGreater(refreshed["not_modified"], 0.8 * fetched, refreshed)
        self.assertMatchesTruth()

    def test_app_and_token_combined(self) -> None:
        """A personal token and an installation are two budgets, and the crawl spends both."""
        hub = self.start_hub("--installations", "1", "--installation-rate-limit", "120", "--token", TOKEN,
                             "--rate-limit", "120", "--rate-window", "5")
        self.assertEqual(self.crawl(hub, "--once", token=TOKEN).wait(150), 0, self.log()[-3000:])
        self.assertMatchesTruth()
        stats = hub.stats()
        by_installation = stats["app"]["requests"]["7000001"]
        self.assertEqual(stats["violations"], 0)
        self.assertGreaterEqual(by_installation, 120)
        self.assertGreaterEqual(stats["charged"] - by_installation, 120)  # what the personal token paid


class AppCrawlTests(AppCrawlCase):
    def test_installation_lost_mid_crawl(self) -> None:
        """An installation removed mid-crawl costs one error line; the other finishes the crawl."""
        hub = self.start_hub("--installations", "2", "--latency", "15")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        proc = self.crawl(hub, "--once", "--status-endpoint", f"tcp:{port}:interface=127.0.0.1")
        deadline = time.monotonic() + 60
        while not hub.stats()["app"]["requests"] and time.monotonic() < deadline:
            time.sleep(0.1)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=10) as r:
            status = r.read()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
            metrics = r.read()
        budgets = [b["budget"] for b in json.loads(status)["rate_limit"]]
        self.assertTrue(budgets and all(b.startswith("installation-") for b in budgets), budgets)
        self.assertNotIn(b"ghs_", status + metrics)
        first = sorted(hub.stats()["app"]["requests"])[0]
        self.post(hub, f"/__fakehub/app/uninstall?id={first}")
        self.assertEqual(proc.wait(150), 0, self.log()[-3000:])
        self.assertMatchesTruth()
        errors = self.errors()
        self.assertEqual(len(errors), 1, errors)
        self.assertIn(f"installation {first}: renewing its token was refused (404 Not Found)", errors[0])

    def test_installation_added_mid_crawl(self) -> None:
        """The App installed on one more account mid-crawl: the running daemon spends that budget too."""
        hub = self.start_hub("--installations", "1", "--installation-rate-limit", "150", "--rate-window", "3")
        config = os.path.join(self.dir, "ghcrawl.toml")
        write(config, b"app_rescan_interval = 1\n")
        proc = self.crawl(hub, "--once", "--config", config)
        deadline = time.monotonic() + 60
        while not hub.stats()["app"]["requests"] and time.monotonic() < deadline:
            time.sleep(0.1)
        added = json.loads(self.post(hub, "/__fakehub/app/install"))["installed"]
        self.assertEqual(proc.wait(150), 0, self.log()[-3000:])
        self.assertMatchesTruth()
        self.assertGreater(hub.stats()["app"]["requests"].get(str(added), 0), 0, hub.stats()["app"])
        self.assertIn(f"new installation {added}: crawling with it too", self.log())
        self.assertEqual((self.errors(), hub.stats()["violations"]), ([], 0))

    def test_last_installation_lost_exits_1(self) -> None:
        """When no installation is left the crawl stops with exit status 1, as with rejected tokens."""
        hub = self.start_hub("--installations", "1", "--latency", "15")
        proc = self.crawl(hub, "--once")
        deadline = time.monotonic() + 60
        while not hub.stats()["app"]["requests"] and time.monotonic() < deadline:
            time.sleep(0.1)
        self.post(hub, "/__fakehub/app/uninstall?id=7000001")
        self.assertEqual(proc.wait(60), 1, self.log()[-3000:])
        self.assertIn("no usable token is left", self.errors()[-1])

    def one_line(self, *args: str, hub: FakeHubProcess | None = None) -> str:
        """Run ``twistd ghcrawl`` expecting exit 2 with one output line, and no database."""
        api = ["--api-url", hub.url] if hub is not None else []
        proc = subprocess.run([TWISTD, "--nodaemon", "--pidfile=", "ghcrawl", "--db", self.db, *api, *args],
                              cwd=self.dir, capture_output=True, timeout=60, env=crawl_env(None))
        out = (proc.stdout + proc.stderr).decode("utf-8", "replace")
        self.assertEqual(proc.returncode, 2, out)
        if hub is None:
            lines = [line for line in out.splitlines() if line.strip()]
        else:
            lines = [line for line in out.splitlines() if "#error]" in line or "#critical]" in line]
        self.assertEqual(len(lines), 1, out)
        self.assertNotIn("Traceback", out)
        self.assertFalse(os.path.exists(self.db), "a database was created")
        return lines[0]

    def test_bad_keys_at_option_time(self) -> None:
        """An unreadable key, a key that is not RSA, a key without an id: one line, exit 2."""
        junk = write(os.path.join(self.dir, "junk.pem"), b"-----BEGIN PRIVATE KEY-----\nxx\n")
        self.assertIn("cannot read app_private_key_file",
                      self.one_line("--app-id", "1", "--app-private-key-file", "/nonexistent.pem"))
        self.assertIn("is not an RSA private key", self.one_line("--app-id", "1", "--app-private-key-file", junk))
        self.assertIn("app_id needs app_private_key_file", self.one_line("--app-id", "1"))

    def test_bad_app_at_start(self) -> None:
        """Unknown app id, a key not the App's, a stranger's installation: one line each, exit 2."""
        hub = self.start_hub("--installations", "2")
        other = write(os.path.join(self.dir, "other.pem"),
                      pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)))
        self.assertIn("app id 999 unknown", self.one_line("--app-id", "999", "--app-private-key-file", self.key,
                                                          hub=hub))
        self.assertIn("A JSON web token could not be decoded",
                      self.one_line("--app-id", APP_ID, "--app-private-key-file", other, hub=hub))
        self.assertIn("installation 123 is not one of",
                      self.one_line("--app-id", APP_ID, "--app-private-key-file", self.key,
                                    "--app-installations", "7000001,123", hub=hub))

    def test_clocks_apart_or_no_installation(self) -> None:
        """A JWT refused for its iat or exp says to check the clock; an App installed nowhere is named."""
        for offset, claim in (("700", "'Expiration time' claim"), ("-120", "'Issued at' claim")):
            skewed = FakeHubProcess(tempdir(), "--users", "50", "--app-id", APP_ID, "--app-public-key", self.public,
                                    "--app-clock-offset", offset)
            self.addCleanup(skewed.stop)
            line = self.one_line("--app-id", APP_ID, "--app-private-key-file", self.key, hub=skewed)
            self.assertIn(claim, line)
            self.assertIn("check this machine's clock", line)
        lonely = FakeHubProcess(tempdir(), "--users", "50", "--app-id", APP_ID, "--app-public-key", self.public,
                                "--installations", "0")
        self.addCleanup(lonely.stop)
        self.assertIn("has no installations",
                      self.one_line("--app-id", APP_ID, "--app-private-key-file", self.key, hub=lonely))
