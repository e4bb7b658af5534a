"""Profiles ghcrawl's hot path with py-spy: flame graph, top-function tables, CPU per request by component.

    python -m bench.profile [--users 1000] [--concurrency 20] [--latency 50 --jitter 25] [--label after]

Writes docs/bench/profile.svg (flame graph), docs/bench/profile.txt (collapsed
stacks), docs/bench/profile.md (top functions by self and cumulative samples) and
adds the run's split by component to docs/bench/components.json under ``--label``,
from which docs/bench/components.png is drawn.
"""

from __future__ import annotations

import argparse
import collections
import json
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from bench import check
from bench.run import ROOT, FakeHub, command, run
from bench.scenarios import _NO_LIMIT, _jittered, _warm

#: Where a sample's CPU goes, decided by the innermost frame that matches (checked in this order).
COMPONENTS: list[tuple[str, tuple[str, ...]]] = [
    ("start-up (imports, set-up)", ("<frozen importlib", "_find_and_load", "twisted/plugin.py")),
    ("JSON", ("json/",)),
    (
        "store (SQLite thread, hand-off)",
        ("ghcrawl/store/", "adbapi.py", "sqlite3", "threading.py", "twisted/_threads", "threadpool.py", "queue.py"),
    ),
    (
        "HTTP client (treq, twisted.web, sockets)",
        (
            "treq/",
            "twisted/web/",
            "hyperlink/",
            "http/cookiejar",
            "twisted/internet/tcp.py",
            "twisted/internet/abstract.py",
            "twisted/internet/epollreactor.py",
            "twisted/internet/endpoints.py",
            "twisted/protocols/",
            "urllib/parse",
            "ghcrawl/github.py",
        ),
    ),
    (
        "crawler loop (Deferreds, pacing, models)",
        ("ghcrawl/crawler.py", "ghcrawl/models.py", "ghcrawl/ratelimit.py", "ghcrawl/outage.py", "ghcrawl/metrics.py"),
    ),
]
#: Samples whose innermost frame only waits (py-spy may count a blocked lock as busy, and
#: the reactor inside ``epoll_wait`` as busy too: ``doPoll``'s own frame is that wait).
_IDLE = (
    "Condition.wait (threading.py)",
    "Thread._wait_for_tstate_lock (threading.py)",
    "EPollReactor.doPoll (twisted/internet/epollreactor.py)",
)


def components(collapsed: Path) -> dict[str, int]:
    """Samples per component, each stack given to the first component its innermost frames match."""
    split: collections.Counter[str] = collections.Counter()
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [_function(f.strip()) for f in stack.split(";") if f.strip()]
        if not frames or not count.isdigit() or frames[-1] in _IDLE:
            continue
        split[_component(frames)] += int(count)
    return dict(split)


def _component(frames: list[str]) -> str:
    if any("_find_and_load" in f or "twisted/plugin.py" in f for f in frames):
        return COMPONENTS[0][0]
    # The innermost frame that names a component decides: the crawler's own work runs in
    # callbacks fired from deep inside the HTTP client, and belongs to the crawler.
    for frame in reversed(frames):
        for name, needles in COMPONENTS[1:]:
            if any(n in frame for n in needles):
                return name
    return COMPONENTS[-1][0]  # the reactor and Deferreds between them: the loop


def _function(frame: str) -> str:
    """``name (file:line)`` without the line, so a function's lines add up."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rsplit(':', 1)[0]})" if where else name


def top(collapsed: Path, n: int = 20) -> str:
    """Markdown tables of the functions holding the most samples: self, cumulative, ghcrawl's own."""
    own: collections.Counter[str] = collections.Counter()
    cumulative: collections.Counter[str] = collections.Counter()
    threads: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [_function(f.strip()) for f in stack.split(";") if f.strip()]
        if not frames or not count.isdigit():
            continue
        samples = int(count)
        total += samples
        threads["reactor thread" if frames[0].startswith("<module>") else "other threads (adbapi pool)"] += samples
        own[frames[-1]] += samples
        for frame in set(frames):
            cumulative[frame] += samples

    def rows(counter: collections.Counter[str], keep: Callable[[str], bool] = lambda f: True) -> list[str]:
        out = ["| share | samples | function (file) |", "|---|---|---|"]
        found = [(f, c) for f, c in counter.most_common() if keep(f)][:n]
        out += [f"| {c / total:.1%} | {c} | `{f.replace('|', '/')}` |" for f, c in found]
        return out

    split = ", ".join(f"{k} {v / total:.0%}" for k, v in threads.most_common())
    return "\n".join(
        [
            f"{total} samples (py-spy counts each busy thread; idle threads are left out): {split}.",
            "",
            "### By self time",
            "",
            *rows(own),
            "",
            "### ghcrawl's own functions by cumulative time",
            "",
            *rows(cumulative, lambda f: "(ghcrawl/" in f),
            "",
            "### By cumulative time (all)",
            "",
            *rows(cumulative),
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--latency", type=int, default=50, help="mean answer latency in ms (0: CPU-bound)")
    parser.add_argument("--jitter", type=int, default=25, help="answers take latency ± jitter ms")
    parser.add_argument("--label", default="after", help="name of this run in components.json")
    parser.add_argument("--summarise", action="store_true", help="only rebuild profile.md from profile.txt")
    parser.add_argument(
        "--components-of", metavar="FILE", help="only add FILE's split (collapsed stacks) to components.json"
    )
    parser.add_argument("--rate", type=int, default=200, help="py-spy samples per second")
    args = parser.parse_args()
    spy = shutil.which("py-spy")
    if spy is None:
        sys.exit("py-spy is not installed: pip install -r bench/requirements.txt")
    out = ROOT / "docs" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    if args.components_of:
        _save_components(out, args, 0, Path(args.components_of))
        return
    if not args.summarise:
        _save_components(out, args, _record(args, spy, out))
    where = f"{args.latency} ms ± {args.jitter} ms latency" if args.latency else "no latency"
    (out / "profile.md").write_text(
        f"## ghcrawl profile (py-spy, concurrency {args.concurrency}, {where})\n\n"
        f"`python -m bench.profile --users {args.users} --concurrency {args.concurrency} --latency {args.latency} "
        f"--jitter {args.jitter}`: py-spy at {args.rate} Hz over a {args.users}-user depth-1 crawl. Flame graph: "
        "[profile.svg](bench/profile.svg); collapsed stacks: bench/profile.txt.\n\n" + top(out / "profile.txt")
    )
    print(f"wrote {out / 'profile.md'}", file=sys.stderr)


def _save_components(out: Path, args: argparse.Namespace, requests: int, stacks: Path | None = None) -> None:
    """Samples by component; the report scales their shares to the CPU per request it measured.

    py-spy's own CPU lands on the profiled process's bill too, so the profiled run's CPU
    is not the figure: the shares are.
    """
    path = out / "components.json"
    saved = json.loads(path.read_text()) if path.exists() else {}
    saved[args.label] = {
        "requests": requests,
        "samples": components(stacks or out / "profile.txt"),
        "command": f"python -m bench.profile --users {args.users} --concurrency {args.concurrency} "
        f"--latency {args.latency} --jitter {args.jitter} --label {args.label}",
    }
    path.write_text(json.dumps(saved, indent=1) + "\n")


def _record(args: argparse.Namespace, spy: str, out: Path) -> int:
    """Two profiled crawls (raw stacks, flame graph); the requests of the first."""
    work = Path(tempfile.mkdtemp(prefix="ghcrawl-profile-"))
    t = check.truth(args.users, 1)
    latency = _jittered(args.latency, args.jitter) if args.latency else ()
    hub = FakeHub(work, "--users", str(args.users), "--seed", "1", *latency, *_NO_LIMIT)
    measured: list[int] = []
    try:
        _warm(hub, work, t)
        for fmt, name in (("raw", "profile.txt"), ("flamegraph", "profile.svg")):
            cdir = work / fmt
            cdir.mkdir()
            crawl = command("ghcrawl", hub, cdir / "crawl.sqlite", t["seeds"], 1, args.concurrency)
            spy_cmd = [
                spy,
                "record",
                "--rate",
                str(args.rate),
                "--format",
                fmt,
                "--output",
                str(out / name),
                "--nonblocking",
                "--",
                *crawl,
            ]
            r = run(spy_cmd, cdir, hub, 300)
            measured.append(int(r["requests"]))
            print(f"{fmt}: exit {r['exit']}, {r['requests']} requests in {r['wall_s']:.1f} s", file=sys.stderr)
    finally:
        hub.stop()
    return measured[0]


if __name__ == "__main__":
    main()
