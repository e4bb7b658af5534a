"""``python -m bench.soak``: a daemon against a graph that keeps changing; does its memory stay flat?

One ``twistd ghcrawl`` in daemon mode (``refresh_after`` of a few seconds, so it
re-fetches everything over and over), a fakehub whose graph drifts by a share
of its users every few seconds, and the daemon's RSS sampled throughout. Writes
docs/bench/soak.{json,png,md}; ``python -m bench`` puts soak.md into
docs/benchmarks.md. Target: the last third of the run grows less than 2 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench.run import ROOT, TOKEN, TWISTD, FakeHub
from ghcrawl.fakehub import Graph

#: The last third of the run may grow this much at most.
TARGET_MB = 2.0


def memory(pid: int) -> dict[str, float]:
    """VmRSS and its parts, in MB."""
    values: dict[str, float] = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem", "VmHWM"):
                values[key] = int(rest.split()[0]) / 1024
    return values


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _scrape(status: str) -> None:
    for path in ("/metrics", "/status"):
        try:
            with urllib.request.urlopen(status + path, timeout=10) as r:
                r.read()
        except OSError:
            pass  # not listening yet


def soak(work: Path, minutes: float, users: int, share: float, every: float, sample: float,
         refresh_after: float, warmup: float = 60.0) -> dict[str, Any]:
    """Run the daemon for ``minutes``, mutating every ``every`` seconds; return the samples."""
    work.mkdir(parents=True, exist_ok=True)
    hub = FakeHub(work, "--users", str(users), "--rate-limit", "1000000000")
    seeds = Graph(seed=1, users=users).suggested_seeds
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("GITHUB_TOKEN")}, "GITHUB_TOKEN": TOKEN}
    status = f"http://127.0.0.1:{_free_port()}"
    command = [TWISTD, "--nodaemon", "--pidfile=", "ghcrawl", "--api-url", hub.url, "--db", str(work / "soak.sqlite"),
               "--max-depth", "1", "--refresh-after", str(refresh_after),
               "--status-endpoint", f"tcp:{status.rsplit(':', 1)[1]}:interface=127.0.0.1",
               *[a for s in seeds for a in ("--seed", s)]]
    log = open(work / "crawl.log", "wb")
    crawl = subprocess.Popen(command, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    samples: list[dict[str, float]] = []
    mutations = 0
    started = time.monotonic()
    next_mutation = started + every
    try:
        while (now := time.monotonic()) - started < minutes * 60:
            if crawl.poll() is not None:
                raise RuntimeError("the daemon exited: " + (work / "crawl.log").read_text()[-2000:])
            if now >= next_mutation:
                hub._call(f"/__fakehub/mutate?share={share}&seed={mutations}", "POST")
                mutations += 1
                next_mutation += every
            _scrape(status)  # as Prometheus and an open status page would
            if now - started >= warmup:  # the first crawl and imports are not creep
                stats = hub.stats()
                samples.append({"t": round(now - started, 2), "mutations": mutations, **memory(crawl.pid),
                                "requests": stats["requests"], "changed": stats["by_status"].get("200", 0)})
            time.sleep(sample)
    finally:
        if crawl.poll() is None:
            crawl.send_signal(signal.SIGTERM)
            crawl.wait(60)
        log.close()
        hub.stop()
    return {"minutes": minutes, "users": users, "share": share, "every": every, "refresh_after": refresh_after,
            "warmup": warmup,
            "command": " ".join(["python -m bench.soak", f"--minutes {minutes:g}", f"--users {users}",
                                 f"--share {share:g}", f"--every {every:g}"]),
            "samples": samples, **summary(samples)}


def summary(samples: list[dict[str, float]]) -> dict[str, float]:
    """RSS at start and end, and the least-squares slope over the whole run and its last third."""
    begin, end = samples[0]["t"], samples[-1]["t"]
    last = [s for s in samples if s["t"] >= begin + (end - begin) * 2 / 3]
    slope = _slope(last)
    return {"rss_start_mb": samples[0]["VmRSS"], "rss_end_mb": samples[-1]["VmRSS"],
            "rss_peak_mb": max(s["VmHWM"] for s in samples),
            "slope_mb_per_min": _slope(samples), "last_third_slope_mb_per_min": slope,
            "last_third_growth_mb": slope * (end - last[0]["t"]) / 60,
            "requests": samples[-1]["requests"] - samples[0]["requests"],
            "changed_answers": samples[-1]["changed"] - samples[0]["changed"],
            "mutations": samples[-1]["mutations"]}


def _slope(samples: list[dict[str, float]]) -> float:
    xs = [s["t"] / 60 for s in samples]
    ys = [s["VmRSS"] for s in samples]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / var if var else 0.0


def write(result: dict[str, Any], out: Path) -> None:
    """soak.json, soak.png and soak.md (the section docs/benchmarks.md includes) under ``out/bench``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = out / "bench"
    data.mkdir(parents=True, exist_ok=True)
    (data / "soak.json").write_text(json.dumps(result, indent=1))
    ts = [s["t"] / 60 for s in result["samples"]]
    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.plot(ts, [s["VmRSS"] for s in result["samples"]], label="RSS")
    ax.plot(ts, [s["RssAnon"] for s in result["samples"]], label="anonymous", linewidth=0.8)
    ax.set_xlabel("minutes")
    ax.set_ylabel("MB")
    ax.set_ylim(bottom=0)
    ax.set_title(f"ghcrawl daemon, {result['users']} users, {result['share']:.0%} mutated every {result['every']:g} s")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(data / "soak.png", dpi=100)
    plt.close(fig)
    r = result
    ok = r["last_third_growth_mb"] < TARGET_MB
    lines = [
        f"## Soak: daemon mode against a changing graph ({r['minutes']:g} minutes)", "",
        f"`refresh_after = {r['refresh_after']:g}` s, a fakehub of {r['users']} users with {r['share']:.0%} of "
        f"them mutated every {r['every']:g} s ({r['mutations']} mutations, {r['requests']} requests of which {r['changed_answers']} "
        f"were answered 200 with a changed body, the rest 304). "
        f"Target: the last third grows less than {TARGET_MB:g} MB — **{'met' if ok else 'missed'}**.", "",
        "    " + r["command"], "",
        f"| RSS after {r['warmup']:g} s warm-up | RSS at end | peak | slope, whole run | slope, last third | growth, last third |",
        "| --- | --- | --- | --- | --- | --- |",
        f"| {r['rss_start_mb']:.1f} MB | {r['rss_end_mb']:.1f} MB | {r['rss_peak_mb']:.1f} MB "
        f"| {r['slope_mb_per_min']:+.3f} MB/min | {r['last_third_slope_mb_per_min']:+.3f} MB/min "
        f"| {r['last_third_growth_mb']:+.2f} MB |", "",
        "![RSS over the soak run](bench/soak.png)", "",
    ]
    (data / "soak.md").write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--users", type=int, default=140)
    parser.add_argument("--share", type=float, default=0.1, help="share of users changed per mutation")
    parser.add_argument("--every", type=float, default=5.0, help="seconds between mutations")
    parser.add_argument("--sample", type=float, default=5.0, help="seconds between RSS samples")
    parser.add_argument("--refresh-after", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=60.0, help="seconds before sampling starts")
    parser.add_argument("--out", default=str(ROOT / "docs"), help="where soak.{json,png,md} go (under bench/)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ghcrawl-soak-") as tmp:
        result = soak(Path(tmp), args.minutes, args.users, args.share, args.every, args.sample, args.refresh_after,
                      args.warmup)
    write(result, Path(args.out))
    print(json.dumps({k: v for k, v in result.items() if k != "samples"}, indent=1))


if __name__ == "__main__":
    main()
