"""Each bad input ends ``twistd ghcrawl`` with one clear line and a non-zero status, creating nothing."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess

from twisted.trial.unittest import SynchronousTestCase

from tests.support import TOKEN, TWISTD, FakeHubProcess, crawl_env, tempdir


class BadInputTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.dir = tempdir()
        self.db = os.path.join(self.dir, "crawl.sqlite")

    def run_twistd(self, *args: str, token: str | None = TOKEN) -> tuple[int, list[str]]:
        proc = subprocess.run(
            [TWISTD, "--nodaemon", "--pidfile=", "ghcrawl", *args],
            cwd=self.dir, capture_output=True, timeout=60, env=crawl_env(token),
        )
        out = (proc.stdout + proc.stderr).decode("utf-8", "replace")
        return proc.returncode, [line for line in out.splitlines() if line.strip()]

    def assertOneLineError(self, args: list[str], needle: str, *, db_exists: bool = False) -> None:
        code, lines = self.run_twistd(*args)
        self.assertNotEqual(code, 0)
        self.assertEqual(len(lines), 1, "\n".join(lines))
        self.assertIn(needle, lines[0])
        self.assertNotIn("Traceback", lines[0])
        self.assertEqual(os.path.exists(self.db), db_exists, "the database was created or removed")

    def write(self, name: str, text: str) -> str:
        path = os.path.join(self.dir, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def test_unknown_flag(self) -> None:
        """An unknown flag is named."""
        self.assertOneLineError(["--db", self.db, "--bogus"], "--bogus")

    def test_missing_config_file(self) -> None:
        """A config file that cannot be read is named."""
        self.assertOneLineError(["--db", self.db, "--config", "/nonexistent.toml"], "cannot read config file")

    def test_invalid_toml(self) -> None:
        """A config file that is not TOML says so."""
        path = self.write("bad.toml", "max_depth = = 2\n")
        self.assertOneLineError(["--db", self.db, "--config", path], "not valid TOML")

    def test_unknown_config_key(self) -> None:
        """A config key that does not exist is named."""
        path = self.write("c.toml", 'colour = "blue"\n')
        self.assertOneLineError(["--db", self.db, "--config", path], "unknown key 'colour'")

    def test_wrong_type_in_config(self) -> None:
        """A value of the wrong type is named with its key."""
        path = self.write("c.toml", 'concurrency = "many"\n')
        self.assertOneLineError(["--db", self.db, "--config", path], "concurrency")

    def test_concurrency_out_of_range(self) -> None:
        """Concurrency above GitHub's cap of 100 is refused."""
        self.assertOneLineError(["--db", self.db, "--concurrency", "500"], "concurrency must be between 1 and 100")

    def test_unwritable_db_path(self) -> None:
        """A database path in a folder that does not exist is refused."""
        self.assertOneLineError(["--db", "/etc/hostname/crawl.sqlite"], "does not exist")

    def test_foreign_sqlite_database(self) -> None:
        """A SQLite file of another program is left alone."""
        conn = sqlite3.connect(self.db)
        conn.execute("CREATE TABLE notes (x)")
        conn.commit()
        conn.close()
        self.assertOneLineError(["--db", self.db], "not a ghcrawl database", db_exists=True)

    def test_not_sqlite_at_all(self) -> None:
        """A file that is not SQLite is refused, not overwritten."""
        self.write("crawl.sqlite", "hello, this is text\n" * 100)
        self.assertOneLineError(["--db", self.db], "not a SQLite database", db_exists=True)

    def test_newer_schema(self) -> None:
        """A database from a newer ghcrawl is refused."""
        conn = sqlite3.connect(self.db)
        conn.execute("CREATE TABLE schema_version (version INTEGER, applied_at TEXT)")
        conn.execute("INSERT INTO schema_version VALUES (99, 'later')")
        conn.commit()
        conn.close()
        self.assertOneLineError(["--db", self.db], "newer", db_exists=True)

    def test_malformed_api_url(self) -> None:
        """An api-url that is not http(s) is refused."""
        self.assertOneLineError(["--db", self.db, "--api-url", "ftp://example"], "api_url")

    def test_api_url_bad_port(self) -> None:
        """An api-url with a bad port is refused."""
        self.assertOneLineError(["--db", self.db, "--api-url", "http://127.0.0.1:99999"], "port")

    def test_invalid_seed(self) -> None:
        """A seed that cannot be a GitHub login is named."""
        self.assertOneLineError(["--db", self.db, "--seed", "no spaces/allowed"], "invalid seed login")

    def test_invalid_seed_in_file(self) -> None:
        """A bad login in the seeds file is named too."""
        path = self.write("seeds.txt", "octocat\n-bad-\n")
        self.assertOneLineError(["--db", self.db, "--seeds-file", path], "'-bad-'")

    def test_bad_credentials_at_start(self) -> None:
        """A token GitHub rejects (401) stops the crawl at start with one error line."""
        hub = FakeHubProcess(self.dir, "--users", "60", "--token", TOKEN)
        self.addCleanup(hub.stop)
        proc = subprocess.run(
            [TWISTD, "--nodaemon", "--pidfile=", "ghcrawl", "--db", self.db, "--api-url", hub.url,
             "--seed", "someone", "--once"],
            cwd=self.dir, capture_output=True, timeout=60, env=crawl_env("ghp_wrong"),
        )
        out = (proc.stdout + proc.stderr).decode()
        self.assertEqual(proc.returncode, 1, out)
        errors = [line for line in out.splitlines() if "#error]" in line or "#critical]" in line]
        self.assertEqual(len(errors), 1, out)
        self.assertIn("401 Bad credentials", errors[0])
        self.assertNotIn("Traceback", out)
        self.assertNotIn("ghp_wrong", out)
        self.assertFalse(os.path.exists(self.db), "a database was created for a rejected token")

    def test_unknown_status_endpoint_type(self) -> None:
        """A status endpoint Twisted cannot parse is refused while the options are read."""
        self.assertOneLineExit2(["--db", self.db, "--status-endpoint", "nonsense:1"],
                                "status_endpoint 'nonsense:1' is not a valid endpoint")

    def test_status_endpoint_bad_port(self) -> None:
        """A TCP port out of range is refused before anything is bound."""
        self.assertOneLineExit2(["--db", self.db, "--status-endpoint", "tcp:99999"], "port 99999 is not 0-65535")

    def test_status_endpoint_port_taken(self) -> None:
        """A status port another program holds is one line, before the database is made."""
        taken = socket.socket()
        self.addCleanup(taken.close)
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        self.assertOneLineExit2(["--db", self.db, "--seed", "octocat", "--status-endpoint",
                                 f"tcp:{port}:interface=127.0.0.1"], "cannot listen on status_endpoint")

    def test_ca_file_without_certificate(self) -> None:
        """A CA file with no PEM certificate in it is refused at start, not at the first handshake."""
        path = self.write("ca.pem", "this is not a certificate\n")
        self.assertOneLineExit2(["--db", self.db, "--ca-file", path], "holds no PEM certificate")

    def test_ca_file_broken_certificate(self) -> None:
        """A CA file whose certificate does not decode is refused at start."""
        path = self.write("ca.pem", "-----BEGIN CERTIFICATE-----\nAAAAbm9wZQ==\n-----END CERTIFICATE-----\n")
        self.assertOneLineExit2(["--db", self.db, "--ca-file", path], "is not a valid PEM bundle")

    def test_ca_file_is_a_folder(self) -> None:
        """A CA path that is a folder is refused at start."""
        self.assertOneLineExit2(["--db", self.db, "--ca-file", self.dir], "is not a readable file")

    def assertOneLineExit2(self, args: list[str], needle: str) -> None:
        code, lines = self.run_twistd(*args)
        self.assertEqual(code, 2, "\n".join(lines))
        self.assertEqual(len(lines), 1, "\n".join(lines))
        self.assertIn(needle, lines[0])
        self.assertFalse(os.path.exists(self.db), "a database was created")
