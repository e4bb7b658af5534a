"""Runs one contender as a child process against a fakehub and measures it.

CPU seconds come from ``os.wait4`` on the child itself and peak RSS from its
VmHWM, so they count the client alone (the fakehub is another process). Requests and the span
of their traffic (first arrival to last answer) come from the fakehub's own counters.
"""

from __future__ import annotations

import compileall
import functools
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TWISTD = str(Path(sys.executable).with_name("twistd"))
TOKEN = "ghp_benchtoken00000000000000000000000001"
PEERS = {
    "threaded": ROOT / "bench" / "peers" / "threaded.py",
    "scrapy": ROOT / "bench" / "peers" / "scrapy_spider.py",
    "aiohttp": ROOT / "bench" / "peers" / "aiohttp_crawler.py",
    "urllib": ROOT / "bench" / "peers" / "urllib_crawler.py",
}
CONTENDERS = ["ghcrawl", "urllib", "threaded", "scrapy", "aiohttp"]


class FakeHub:
    """``ghcrawl-fakehub serve`` on a free 127.0.0.1 port, stopped with SIGTERM."""

    def __init__(self, workdir: Path, *args: str) -> None:
        port_file = workdir / "fakehub.port"
        tokens = workdir / "tokens"
        tokens.write_text(TOKEN + "\n")
        self.log = open(workdir / "fakehub.log", "wb")
        self.args = list(args)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ghcrawl.fakehub",
                "serve",
                "--port",
                "0",
                "--port-file",
                str(port_file),
                "--tokens-file",
                str(tokens),
                *args,
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().strip()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("fakehub did not start: " + (workdir / "fakehub.log").read_text()[-2000:])
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{int(port_file.read_text())}"

    def _call(self, path: str, method: str = "GET") -> dict[str, Any]:
        req = urllib.request.Request(self.url + path, method=method, data=b"" if method == "POST" else None)
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read() or b"{}")

    def stats(self) -> dict[str, Any]:
        return self._call("/__fakehub/stats")

    def reset(self) -> None:
        self._call("/__fakehub/reset-stats", "POST")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(15)
        self.log.close()


@functools.cache
def _compiled() -> None:
    """ghcrawl's bytecode, as an installed copy has it (pip compiles a wheel's modules at install).

    A checkout run with PYTHONDONTWRITEBYTECODE set compiles every ghcrawl module from source at
    each start (~50 ms of CPU), which no installed package, peers' libraries included, pays.
    """
    compileall.compile_dir(ROOT / "ghcrawl", quiet=1)


def command(
    name: str, hub: FakeHub, db: Path, seeds: list[str], depth: int, concurrency: int, *extra: str
) -> list[str]:
    """The command line that runs contender ``name`` on this crawl."""
    _compiled()
    common = [
        "--api-url",
        hub.url,
        "--db",
        str(db),
        *[a for s in seeds for a in ("--seed", s)],
        "--max-depth",
        str(depth),
        "--concurrency",
        str(concurrency),
        *extra,
    ]
    if name == "ghcrawl":
        return [TWISTD, "--nodaemon", "--pidfile=", "ghcrawl", *common, "--once"]
    return [sys.executable, str(PEERS[name]), *common]


@dataclass
class Sampler:
    """Samples the fakehub's request counter to find when the crawl's traffic began and ended."""

    hub: FakeHub
    period: float = 0.1
    samples: list[tuple[float, int, int]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        for _ in range(100_000):  # bounded: ~3 hours at 0.1 s
            if self._stop.wait(self.period):
                return
            try:
                s = self.hub.stats()
            except OSError:
                continue
            self.samples.append((time.monotonic(), s["requests"], s.get("in_flight", 0)))

    def stop(self) -> float | None:
        """Seconds from the first to the last sample that saw new requests."""
        self._stop.set()
        self._thread.join(timeout=5)
        first = next((t for t, n, _ in self.samples if n > 0), None)
        final = self.samples[-1][1] if self.samples else 0
        last = next((t for t, n, _ in self.samples if n >= final), None)
        if first is None or last is None or last <= first:
            return None
        return last - first + self.period  # the first sample lags the first request by up to a period


def _peak_rss_kb(pid: int) -> int:
    """VmHWM of a live process: its peak RSS since exec.

    ru_maxrss is no use here: a child's figure starts from the forked copy of
    this (larger) benchmark process, before exec replaced it.
    """
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run(cmd: list[str], workdir: Path, hub: FakeHub, timeout: float, on_start: Any = None) -> dict[str, Any]:
    """Runs ``cmd`` to completion; wall, CPU, peak RSS and the fakehub's counters for the run."""
    hub.reset()
    log = open(workdir / "client.log", "ab")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_TOKEN")}
    env["GITHUB_TOKEN"] = TOKEN
    sampler = Sampler(hub)
    started = time.monotonic()
    # A benchmark started in the background (nohup, `&`) hands its children SIGINT ignored, and
    # Python then never installs its handler: the shutdown scenario would measure nothing.
    proc = subprocess.Popen(
        cmd,
        cwd=workdir,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    extra = on_start(proc, hub, started) if on_start else {}
    status, usage, killed, hwm_kb = None, None, False, 0
    deadline = started + timeout
    while usage is None:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid == 0:
            usage = None
            hwm_kb = max(hwm_kb, _peak_rss_kb(proc.pid))
            if time.monotonic() > deadline and not killed:
                proc.kill()
                killed = True
            time.sleep(0.02)
    wall = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    active = sampler.stop()
    log.close()
    stats = hub.stats()
    cpu = usage.ru_utime + usage.ru_stime
    if stats.get("first_at") is not None and stats.get("last_at") is not None:
        # The fakehub's own span, first arrival to last answer: sampling every 0.1 s moved a
        # two-second crawl's figure in steps of 5 %.
        active = stats["last_at"] - stats["first_at"]
    return {
        "wall_s": wall,
        "active_s": active or wall,
        "exit": proc.returncode,
        "timed_out": killed,
        "cpu_s": cpu,
        "user_s": usage.ru_utime,
        "sys_s": usage.ru_stime,
        "peak_rss_mb": hwm_kb / 1024,
        "requests": stats["requests"],
        "stats": stats,
        "cpu_s_per_1k": 1000 * cpu / max(1, stats["requests"]),
        **extra,
    }
