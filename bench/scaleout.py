"""``python -m bench.scaleout``: throughput of N daemons on one PostgreSQL, and one on SQLite.

Each run starts its own fakehub (one token, so the budget is shared) and, for
PostgreSQL, a fresh database on a throwaway server (tests/pg.py), then starts N
``twistd ghcrawl --once`` daemons with the same seeds and waits for all of them.
req/s is what the fakehub saw between its first and last request (sampled every
0.1 s), so interpreter start-up is left out. Results go to docs/bench/scaleout.json,
the plot to docs/bench/scaleout.png.

python -m bench.scaleout                       # 100 ms latency: SQLite x1, PostgreSQL x1..4; no latency: x1, x2
python -m bench.scaleout --users 300 --quick   # a smaller graph, PostgreSQL x1 and x3 only
python -m bench.scaleout --plot-only           # redraw the plot from docs/bench/scaleout.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.run import ROOT, TOKEN, TWISTD, FakeHub


def truth(users: int) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-m", "ghcrawl.fakehub", "truth", "--users", str(users), "--max-depth",
                          "1"], capture_output=True, check=True, timeout=120).stdout
    return json.loads(out)  # type: ignore[no-any-return]


def crawl(work: Path, db: str, daemons: int, users: int, concurrency: int, latency: int,
          graph: dict[str, Any]) -> dict[str, Any]:
    """Run ``daemons`` daemons to the end on ``db``; the fakehub's view of the run."""
    work.mkdir(parents=True, exist_ok=True)
    hub = FakeHub(work, "--users", str(users), *(["--latency", str(latency)] if latency else []))
    env = {**os.environ, "GITHUB_TOKEN": TOKEN}
    seeds = [a for s in graph["seeds"] for a in ("--seed", s)]
    log = open(work / "crawl.log", "ab")
    try:
        started = time.monotonic()
        procs = [subprocess.Popen([TWISTD, "--nodaemon", "--pidfile=", "ghcrawl", "--api-url", hub.url, "--db", db,
                                   *seeds, "--max-depth", "1", "--concurrency", str(concurrency), "--once",
                                   "--worker-name", f"bench-{i}", "--progress-interval", "60"],
                                  cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
                 for i in range(daemons)]
        first = last = None
        seen = 0
        while any(p.poll() is None for p in procs):
            count = hub.stats()["requests"]
            now = time.monotonic()
            if count > seen:
                first = now if first is None else first
                last, seen = now, count
            time.sleep(0.1)
        wall = time.monotonic() - started
        codes = [p.wait() for p in procs]
        stats = hub.stats()
    finally:
        log.close()
        hub.stop()
    span = (last - first) if first is not None and last is not None and last > first else wall
    return {"daemons": daemons, "db": "postgres" if db.startswith("postgresql://") else "sqlite",
            "latency_ms": latency, "concurrency": concurrency, "exit_codes": codes, "wall_s": round(wall, 2),
            "requests": stats["requests"], "charged": stats["charged"], "violations": stats["violations"],
            "min_requests": graph["min_requests"], "rps": round(stats["requests"] / span, 1)}


def plot(results: list[dict[str, Any]], out: Path) -> None:
    """req/s against daemons on PostgreSQL at 100 ms, beside perfect scaling from one daemon."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = sorted((r for r in results if r["db"] == "postgres" and r["latency_ms"] == 100), key=lambda r: r["daemons"])
    if not runs:
        return
    n = [r["daemons"] for r in runs]
    rps = [r["rps"] for r in runs]
    one = next((r["rps"] for r in runs if r["daemons"] == 1), rps[0] / n[0])
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(n, [one * d for d in n], linestyle="--", color="grey", label="perfect: N x one daemon")
    ax.plot(n, rps, marker="o", label="ghcrawl on one PostgreSQL")
    for d, r in zip(n, rps):
        ax.annotate(f"{r / one:.2f}x", (d, r), textcoords="offset points", xytext=(6, -12))
    ax.set_xticks(n)
    ax.set_xlabel("daemons (concurrency 5 each, fakehub 100 ms latency)")
    ax.set_ylabel("requests / s")
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper left")
    ax.set_title("Scaling out: daemons sharing one database and one token")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="PostgreSQL x1 and x3 at 100 ms only")
    parser.add_argument("--out", default=str(ROOT / "docs" / "bench" / "scaleout.json"))
    parser.add_argument("--plot-only", action="store_true", help="redraw the plot from --out, run nothing")
    args = parser.parse_args()
    png = Path(args.out).with_suffix(".png")
    if args.plot_only:
        plot(json.loads(Path(args.out).read_text())["runs"], png)
        return
    sys.path.insert(0, str(ROOT))
    from tests import pg

    server = pg.server()
    graph = truth(args.users)
    work = Path(tempfile.mkdtemp(prefix="ghcrawl-scaleout-"))
    plan = [("sqlite", 1, 100), ("postgres", 1, 100), ("postgres", 2, 100), ("postgres", 3, 100),
            ("postgres", 4, 100), ("postgres", 1, 0), ("postgres", 2, 0), ("sqlite", 1, 0)]
    if args.quick:
        plan = [("postgres", 1, 100), ("postgres", 3, 100)]
    results = []
    for n, (backend, daemons, latency) in enumerate(plan):
        db = server.database() if backend == "postgres" else str(work / f"run{n}.sqlite")
        result = crawl(work / f"run{n}", db, daemons, args.users, args.concurrency, latency, graph)
        print(json.dumps(result), flush=True)
        results.append(result)
    Path(args.out).write_text(json.dumps({"users": args.users, "runs": results}, indent=2) + "\n")
    plot(results, png)
    base = {r["latency_ms"]: r["rps"] for r in results if r["db"] == "postgres" and r["daemons"] == 1}
    print("\n| database | daemons | latency | req/s | x one PostgreSQL daemon | requests / minimum | exit |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['db']} | {r['daemons']} | {r['latency_ms']} ms | {r['rps']} | "
              f"{r['rps'] / base[r['latency_ms']]:.2f}x | {r['charged'] / r['min_requests']:.3f} | "
              f"{','.join(map(str, r['exit_codes']))} |")


if __name__ == "__main__":
    main()
