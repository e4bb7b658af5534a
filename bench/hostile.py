"""``python -m bench.hostile``: what a hostile API server costs the daemon in memory and time.

The server of tests/hostile_api.py answers one good user, a 400 MB body, a
400 MB ``Content-Length``, a gzip bomb (1 MB on the wire, 1 GiB decoded), a
101-item page and a 10 KiB ``Link`` header. The daemon's VmHWM is read from
/proc until every task has ended; the target is under 150 MB.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.run import ROOT, TOKEN, TWISTD

SEEDS = ["good", "huge", "declared", "bomb", "many", "linky"]


def _vm_hwm_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmHWM:"))


def _states(db: Path) -> list[tuple[str, str | None]]:
    try:
        with sqlite3.connect(db) as conn:
            return list(conn.execute("SELECT state, outcome FROM tasks"))
    except sqlite3.Error:
        return []


def measure(work: Path) -> dict[str, object]:
    """One crawl of the six seeds with ``--max-attempts 2``; peak RSS and seconds until every task ended."""
    port_file = work / "hostile.port"
    server = subprocess.Popen([sys.executable, "-m", "tests.hostile_api", str(port_file)], cwd=ROOT)
    try:
        while not (port_file.exists() and port_file.read_text().strip()):
            time.sleep(0.05)
        db = work / "crawl.sqlite"
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("GITHUB_TOKEN")}, "GITHUB_TOKEN": TOKEN}
        started = time.monotonic()
        crawl = subprocess.Popen(
            [TWISTD, "--nodaemon", "--pidfile=", "ghcrawl", "--db", str(db), "--api-url",
             f"http://127.0.0.1:{port_file.read_text().strip()}", "--max-depth", "0", "--max-attempts", "2",
             *[a for s in SEEDS for a in ("--seed", s)]],
            cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        peak = 0.0
        while time.monotonic() - started < 120 and crawl.poll() is None:
            peak = max(peak, _vm_hwm_mb(crawl.pid))
            states = _states(db)
            if len(states) == 2 * len(SEEDS) - 3 and all(s in ("done", "failed") for s, _ in states):
                break
            time.sleep(0.05)
        seconds = time.monotonic() - started
        peak = max(peak, _vm_hwm_mb(crawl.pid))
        crawl.send_signal(signal.SIGTERM)
        crawl.wait(30)
        return {"peak_rss_mb": round(peak, 1), "seconds_until_all_ended": round(seconds, 1),
                "failures": sorted(o for s, o in _states(db) if s == "failed" and o)}
    finally:
        server.kill()
        server.wait(10)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="ghcrawl-hostile-") as tmp:
        print(json.dumps(measure(Path(tmp)), indent=1))


if __name__ == "__main__":
    main()
