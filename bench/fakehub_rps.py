"""Measures how many requests per second one fakehub process serves.

Starts ``ghcrawl-fakehub serve`` on 127.0.0.1 in a subprocess, then hammers
it from a few client processes, each holding one HTTP/1.1 keep-alive
connection, over the paths a depth-1 crawl of the suggested seeds visits.
Bounded in time and count; prints requests/s. The server is one Twisted
process, so the figure is its single-core throughput.

    python bench/fakehub_rps.py [--seconds 5] [--clients 4] [--users 1000]
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ghcrawl.fakehub import Graph, truth  # noqa: E402

_HEADERS = {"User-Agent": "fakehub-bench", "Authorization": "token bench"}


def _paths(users: int) -> list[str]:
    """Profiles, listings and contributor pages a crawl would fetch."""
    graph = Graph(seed=1, users=users)
    found = truth(graph, None, 1)
    paths = [f"/users/{u['login']}" for u in found["users"]]
    paths += [f"/users/{u['login']}/repos?per_page=100" for u in found["users"] if u["profile"]]
    paths += [f"/repositories/{r['id']}/contributors?per_page=100" for r in found["repos"]
              if not r["fork"]]
    return paths


def _client(port: int, paths: list[str], seconds: float, limit: int, out: multiprocessing.Queue) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    done, deadline = 0, time.monotonic() + seconds
    while done < limit and time.monotonic() < deadline:
        conn.request("GET", paths[done % len(paths)], headers=_HEADERS)
        conn.getresponse().read()
        done += 1
    conn.close()
    out.put(done)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--max-requests", type=int, default=200_000)
    args = parser.parse_args()
    server = subprocess.Popen(
        [sys.executable, "-m", "ghcrawl.fakehub", "serve", "--port", "0", "--users", str(args.users),
         "--rate-limit", "1000000000"], stdout=subprocess.PIPE, cwd=ROOT)
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline().decode().rsplit(":", 1)[1])
        paths = _paths(args.users)
        results: multiprocessing.Queue = multiprocessing.Queue()
        workers = [multiprocessing.Process(
            target=_client, args=(port, paths, args.seconds, args.max_requests // args.clients, results))
            for _ in range(args.clients)]
        started = time.monotonic()
        for worker in workers:
            worker.start()
        total = sum(results.get(timeout=args.seconds + 60) for _ in workers)
        elapsed = time.monotonic() - started
        for worker in workers:
            worker.join(timeout=10)
        print(f"{total} requests in {elapsed:.1f} s over {args.clients} keep-alive connections: "
              f"{total / elapsed:.0f} requests/s ({len(paths)} distinct paths)")
    finally:
        server.terminate()
        server.wait(timeout=15)


if __name__ == "__main__":
    main()
