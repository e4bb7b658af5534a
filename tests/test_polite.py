"""Politeness and resilience end to end: limits, token pools, chaos, refresh, TLS, secrets."""

from __future__ import annotations

import datetime
import os
import random
import signal
import sqlite3
import subprocess
import time
import urllib.request

from twisted.trial.unittest import SynchronousTestCase

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
    wait_for,
)
from tests.test_e2e import stored_rows

USERS = 120
#: Crawls bound by a budget run on the small graph: 365 requests, still several windows' worth.
SMALL_USERS, SMALL_SEED = SMALL_GRAPH


class PoliteCase(SynchronousTestCase):
    def start(self, *hub_args: str, users: int = USERS, seed: int = 1, tokens: str = TOKEN) -> None:
        self.dir = tempdir()
        self.db = os.path.join(self.dir, "crawl.sqlite")
        self.truth = truth(users, seed=seed)
        self.users = users
        tokens_file = self.write("hub-tokens", tokens + "\n")
        self.hub = FakeHubProcess(self.dir, "--users", str(users), "--seed", str(seed), "--tokens-file", tokens_file,
                                  *hub_args)
        self.addCleanup(self.hub.stop)

    def write(self, name: str, text: str) -> str:
        path = os.path.join(self.dir, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(path, 0o600)
        return path

    def crawl(self, *args: str, config: str = "", token: str | None = TOKEN, timeout: float = 120) -> int:
        conf = self.write("ghcrawl.toml", config)
        proc = twistd(self.dir, "--config", conf, "--api-url", self.hub.url, "--db", self.db,
                      *seed_args(self.truth), "--once", *args, token=token)
        try:
            return proc.wait(timeout)
        finally:
            if proc.poll() is None:
                proc.kill()

    def log(self) -> str:
        with open(os.path.join(self.dir, "crawl.log"), encoding="utf-8", errors="replace") as f:
            return f.read()

    def assertMatchesTruth(self) -> None:
        got, want = snapshot(self.db), expected(self.truth)
        for table in ("users", "repos", "contributors"):
            self.assertEqual(sorted(set(want[table]) ^ set(got[table]))[:5], [], table)
            self.assertEqual(len(got[table]), len(want[table]), table)


class LimitTests(PoliteCase):
    def test_chaos_reaches_ground_truth(self) -> None:
        """5xx, resets, bad JSON, stalls, secondary limits and a tight budget: exact truth, no violation."""
        self.start("--fault-rate", "0.1", "--faults", "500,502,503,reset,truncate,malformed,stall", "--stall", "3",
                   "--secondary-every", "50", "--secondary-wait", "1", "--rate-limit", "150", "--rate-window", "2",
                   users=SMALL_USERS, seed=SMALL_SEED)
        config = ("max_attempts = 30\nretry_base = 0.05\nretry_max = 0.5\nsecondary_limit_wait = 1\n"
                  "request_timeout = 1\nconcurrency = 10\n")
        self.assertEqual(self.crawl(config=config, timeout=240), 0, self.log()[-3000:])
        self.assertMatchesTruth()
        stats = self.hub.stats()
        self.assertEqual(stats["violations"], 0)
        self.assertEqual(stats["secondary_violations"], 0)
        self.assertGreater(stats["faults"], 0)
        self.assertGreater(stats["secondary_limited"], 0)

    def test_budget_bound_crawl_uses_the_budget(self) -> None:
        """When the budget is the bottleneck, each finished window is at least 98 % spent, never over.

        The first window is left out: it holds the ramp-up from one seed, when the
        frontier is still too narrow to fill a budget on a loaded machine.
        """
        self.start("--rate-limit", "100", "--rate-window", "1", users=SMALL_USERS, seed=SMALL_SEED)
        self.assertEqual(self.crawl(config="concurrency = 20\n", timeout=240), 0, self.log()[-3000:])
        self.assertMatchesTruth()
        stats = self.hub.stats()
        self.assertEqual(stats["violations"], 0)
        windows = stats["closed_windows"]
        self.assertGreaterEqual(len(windows), 3)
        self.assertGreaterEqual(min(windows[1:]), 98, windows)

    def test_token_pool_shares_account_budgets(self) -> None:
        """Tokens of one account share its budget; a rejected token is retired with one line."""
        ann1, ann2, bob = "ghp_ann1xxxxxxxxxxxxxxxxxx", "ghp_ann2xxxxxxxxxxxxxxxxxx", "ghp_bobxxxxxxxxxxxxxxxxxxx"
        self.start("--rate-limit", "120", "--rate-window", "2", users=SMALL_USERS, seed=SMALL_SEED,
                   tokens=f"{ann1}:ann\n{ann2}:ann\n{bob}:bob")
        tokens = self.write("tokens", f"{ann1}\n{ann2}\n{bob}\nghp_revoked_token_xxxxxx\n")
        self.assertEqual(self.crawl(config=f'token_file = "{tokens}"\n', token=None, timeout=240), 0,
                         self.log()[-3000:])
        self.assertMatchesTruth()
        self.assertEqual(self.hub.stats()["violations"], 0)
        log = self.log()
        self.assertEqual(log.count("401 Bad credentials"), 1, log[-3000:])
        for secret in (ann1, ann2, bob, "ghp_revoked_token_xxxxxx"):
            self.assertNotIn(secret, log)


    def test_tokens_checked_side_by_side(self) -> None:
        """Start-up asks whose each token is all at once: one round trip, however many tokens."""
        names = [f"ghp_side{i}xxxxxxxxxxxxxxxxxx" for i in range(4)]
        requests_log = os.path.join(tempdir(), "requests.log")
        self.start("--latency", "400", "--request-log", requests_log,
                   users=SMALL_USERS, seed=SMALL_SEED, tokens="\n".join(f"{n}:owner{i}" for i, n in enumerate(names)))
        tokens = self.write("tokens", "\n".join(names) + "\n")
        self.assertEqual(self.crawl("--max-depth", "0", config=f'token_file = "{tokens}"\n', token=None), 0,
                         self.log()[-3000:])
        with open(requests_log, encoding="utf-8") as f:
            arrivals = [float(line.split()[0]) for line in f if line.split()[1] == "/user"]
        self.assertEqual(len(arrivals), 4)
        self.assertLess(max(arrivals) - min(arrivals), 0.2, arrivals)  # one after another: >= 0.4 s apart


class RefreshTests(PoliteCase):
    def test_refresh_of_unchanged_graph_is_304s(self) -> None:
        """With refresh_after = 0, --once re-fetches everything conditionally: at least 99 % 304s."""
        self.start()
        self.assertEqual(self.crawl(), 0, self.log()[-3000:])
        urllib.request.urlopen(urllib.request.Request(self.hub.url + "/__fakehub/reset-stats", method="POST"),
                               timeout=10).read()
        self.assertEqual(self.crawl(config="refresh_after = 0\n"), 0, self.log()[-3000:])
        stats = self.hub.stats()
        self.assertGreaterEqual(stats["not_modified"], 0.99 * (stats["requests"] - stats["by_endpoint"].get("rate_limit", 0)))
        self.assertLessEqual(stats["charged"], 0.01 * stats["requests"])  # 404, 204, 451: no ETag
        self.assertMatchesTruth()

    def test_refresh_follows_changes(self) -> None:
        """After the graph changes, a refresh stores the new contributor lists, removing who left."""
        self.start()
        self.assertEqual(self.crawl(), 0, self.log()[-3000:])
        urllib.request.urlopen(urllib.request.Request(self.hub.url + "/__fakehub/mutate?share=0.2&seed=7",
                                                      method="POST"), timeout=10).read()
        self.assertEqual(self.crawl(config="refresh_after = 0\n"), 0, self.log()[-3000:])
        changed = truth_after_mutation(self.users, 0.2, 7)
        got, want = snapshot(self.db), expected(changed)
        self.assertEqual(sorted(set(got["contributors"]) ^ set(want["contributors"]))[:5], [])
        self.assertEqual(sorted(set(want["repos"]) - set(got["repos"]))[:5], [])
        ids = {u[0] for u in got["users"]}
        self.assertEqual(sorted({u[0] for u in want["users"]} - ids)[:5], [])


def truth_after_mutation(users: int, share: float, seed: int) -> dict:  # type: ignore[type-arg]
    import json
    import sys

    out = subprocess.run([sys.executable, "-m", "ghcrawl.fakehub", "truth", "--users", str(users), "--max-depth", "1",
                          "--mutate", str(share), "--mutate-seed", str(seed)], capture_output=True, check=True,
                         timeout=60).stdout
    return json.loads(out)


class KillTests(PoliteCase):
    def test_kill9_at_random_points_refetches_little(self) -> None:
        """kill -9 at five random moments: exact truth, no duplicates, re-fetches within what was in flight."""
        self.start("--latency", "20")
        rng = random.Random(11)
        concurrency = 10
        for _ in range(5):
            proc = twistd(self.dir, "--api-url", self.hub.url, "--db", self.db, *seed_args(self.truth),
                          "--concurrency", str(concurrency))
            wait_for(lambda: os.path.exists(self.db), 30, "database")
            time.sleep(rng.uniform(0.3, 1.5))
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        self.assertEqual(self.crawl(), 0, self.log()[-3000:])
        self.assertMatchesTruth()
        stats = self.hub.stats()
        # In flight at a kill: requests sent, plus answers received but not yet stored
        # (at most as many again); only those are fetched twice.
        self.assertLessEqual(stats["charged"], self.truth["min_requests"] + 5 * 2 * concurrency)


class TlsTests(PoliteCase):
    def make_cert(self) -> tuple[str, str]:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
        now = datetime.datetime.now(datetime.UTC)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=2))
                .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(key, hashes.SHA256()))
        cert_path = os.path.join(self.dir, "cert.pem")
        key_path = os.path.join(self.dir, "key.pem")
        with open(cert_path, "wb") as f:
            f.write(cert.public_bytes(serialization.Encoding.PEM))
        with open(key_path, "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                      serialization.NoEncryption()))
        return cert_path, key_path

    def test_self_signed_refused_then_trusted_with_ca_file(self) -> None:
        """HTTPS to a self-signed server fails with one clear line, and works once ca_file names its CA."""
        self.dir = tempdir()
        cert, key = self.make_cert()
        self.db = os.path.join(self.dir, "crawl.sqlite")
        self.truth = truth(60)
        self.hub = FakeHubProcess(self.dir, "--users", "60", "--tls-cert", cert, "--tls-key", key)
        self.addCleanup(self.hub.stop)
        url = f"https://localhost:{self.hub.port}"
        proc = subprocess.run([TWISTD, "--nodaemon", "--pidfile=", "ghcrawl", "--api-url", url, "--db", self.db,
                               *seed_args(self.truth), "--once"], cwd=self.dir, capture_output=True, timeout=60,
                              env=crawl_env(TOKEN))
        out = proc.stdout.decode()
        self.assertEqual(proc.returncode, 1, out)
        errors = [line for line in out.splitlines() if "#error]" in line]
        self.assertEqual(len(errors), 1, out)
        self.assertIn("TLS verification", errors[0])
        self.assertIn("ca_file", errors[0])
        proc = subprocess.run([TWISTD, "--nodaemon", "--pidfile=", "ghcrawl", "--api-url", url, "--db", self.db,
                               *seed_args(self.truth), "--once", "--ca-file", cert], cwd=self.dir,
                              capture_output=True, timeout=120, env=crawl_env(TOKEN))
        self.assertEqual(proc.returncode, 0, proc.stdout.decode()[-3000:])
        got, want = snapshot(self.db), expected(self.truth)
        self.assertEqual(got, want)


class SecretTests(PoliteCase):
    def test_token_never_in_argv_log_or_database(self) -> None:
        """While crawling, the token is in no process's argv; afterwards in no log line or database byte."""
        self.start("--latency", "30")
        proc = twistd(self.dir, "--api-url", self.hub.url, "--db", self.db, *seed_args(self.truth))
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        wait_for(lambda: stored_rows(self.db) > 10, 60, "rows")
        for pid in (proc.pid, self.hub.proc.pid):
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                self.assertNotIn(TOKEN.encode(), f.read())
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(20), 0)
        self.assertNotIn(TOKEN, self.log())
        for name in os.listdir(self.dir):
            if name.startswith("crawl.sqlite"):
                with open(os.path.join(self.dir, name), "rb") as f:
                    self.assertNotIn(TOKEN.encode(), f.read())
        conn = sqlite3.connect(self.db)
        token_ids = [r[0] for r in conn.execute("SELECT token_id FROM http_cache LIMIT 5")]
        conn.close()
        self.assertTrue(token_ids and all(t.startswith("tok-") for t in token_ids))

    def test_shared_config_file_warns(self) -> None:
        """A config file readable by others gets a warning line at start."""
        self.start()
        conf = self.write("open.toml", "concurrency = 5\n")
        os.chmod(conf, 0o644)
        proc = twistd(self.dir, "--config", conf, "--api-url", self.hub.url, "--db", self.db,
                      *seed_args(self.truth), "--once")
        self.assertEqual(proc.wait(120), 0)
        self.assertIn("readable by group or others", self.log())
