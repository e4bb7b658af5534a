"""How many pages of a refresh still answer 304 when every token is new (GitHub App auth).

GitHub's ETags vary with the token, and an installation token lives an hour, so
a refresh after a renewal cannot match any stored ETag; ghcrawl sends the stored
``Last-Modified`` as ``If-Modified-Since`` instead. This measures the 304 share
of such a refresh (a new process: every installation token differs from the
ones that stored the validators), beside a personal token's ETag refresh, on an
unchanged graph and after 10 % of it changed, and checks every database
against the fakehub's ground truth.

python -m bench.app_refresh [--users 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bench import check
from bench.run import TOKEN, TWISTD, FakeHub

API = ("users", "user_repos", "contributors", "repo")


def _keys(work: Path) -> tuple[Path, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private, public = work / "app.pem", work / "app.pub"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    private.chmod(0o600)
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public


def _crawl(hub: FakeHub, db: Path, seeds: list[str], auth: list[str], env: dict[str, str], *extra: str) -> None:
    cmd = [TWISTD, "--nodaemon", "--pidfile=", "ghcrawl", "--api-url", hub.url, "--db", str(db),
           *[a for s in seeds for a in ("--seed", s)], "--max-depth", "1", "--concurrency", "20", "--once",
           *auth, *extra]
    with open(db.with_suffix(".log"), "ab") as log:
        code = subprocess.run(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=900).returncode
    if code != 0:
        raise SystemExit(f"crawl failed ({code}): see {db.with_suffix('.log')}")


def _share(stats: dict[str, Any]) -> tuple[int, int]:
    asked = sum(stats["by_endpoint"].get(e, 0) for e in API)
    return stats["not_modified"], asked


def _mutated_truth(users: int) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "ghcrawl.fakehub", "truth", "--users", str(users), "--max-depth", "1",
           "--mutate", "0.1", "--mutate-seed", "2"]
    return json.loads(subprocess.run(cmd, capture_output=True, check=True, timeout=120).stdout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.app_refresh", description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=1000)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="ghcrawl-app-refresh-"))
    private, public = _keys(work)
    t = check.truth(args.users, 1)
    hub = FakeHub(work, "--users", str(args.users), "--rate-limit", "1000000000", "--app-id", "4242",
                  "--app-public-key", str(public), "--installations", "3", "--installation-rate-limit", "1000000000")
    base = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_TOKEN")}
    runs = {
        "app (If-Modified-Since)": (["--app-id", "4242", "--app-private-key-file", str(private)], base),
        "token (If-None-Match)": ([], {**base, "GITHUB_TOKEN": TOKEN}),
    }
    results: dict[str, Any] = {"users": args.users, "workdir": str(work)}
    try:
        for name, (auth, env) in runs.items():
            _crawl(hub, work / f"{name.split()[0]}.sqlite", t["seeds"], auth, env)
        for phase, want in (("unchanged", check.expected(t)), ("10% changed", None)):
            if want is None:
                hub._call("/__fakehub/mutate?share=0.1&seed=2", "POST")
                want = check.expected(_mutated_truth(args.users))
            for name, (auth, env) in runs.items():
                db = work / f"{name.split()[0]}.sqlite"
                hub.reset()
                _crawl(hub, db, t["seeds"], auth, env, "--refresh-after", "0")
                hits, asked = _share(hub.stats())
                ok = check.compare(str(db), want)
                results[f"{phase}: {name}"] = {"not_modified": hits, "asked": asked, "share": hits / max(1, asked),
                                               "correct": ok["ok"]}
                print(f"{phase:12} {name:24} {hits:6} of {asked:6} answered 304 ({100 * hits / max(1, asked):5.1f} %)"
                      f"  database {'equals the truth' if ok['ok'] else 'WRONG: ' + ok['detail']}", flush=True)
    finally:
        hub.stop()
    (work / "results.json").write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
