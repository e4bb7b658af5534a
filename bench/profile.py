"""Profiles ghcrawl's hot path with py-spy on a CPU-bound crawl: flame graph plus top-function tables.

    python -m bench.profile [--users 1000] [--concurrency 50]

Writes docs/bench/profile.svg (flame graph), docs/bench/profile.txt (collapsed
stacks) and docs/bench/profile.md (top functions by self and cumulative samples).
"""

from __future__ import annotations

import argparse
import collections
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from bench import check
from bench.run import ROOT, FakeHub, command, run
from bench.scenarios import _NO_LIMIT, _warm


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
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--summarise", action="store_true", help="only rebuild profile.md from profile.txt")
    parser.add_argument("--rate", type=int, default=200, help="py-spy samples per second")
    args = parser.parse_args()
    spy = shutil.which("py-spy")
    if spy is None:
        sys.exit("py-spy is not installed: pip install -r bench/requirements.txt")
    out = ROOT / "docs" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    if not args.summarise:
        _record(args, spy, out)
    (out / "profile.md").write_text(
        "## ghcrawl profile (py-spy, CPU-bound crawl)\n\n"
        f"`python -m bench.profile --users {args.users} --concurrency {args.concurrency}`: py-spy at "
        f"{args.rate} Hz over a {args.users}-user depth-1 crawl with no latency. Flame graph: "
        "[profile.svg](bench/profile.svg); collapsed stacks: bench/profile.txt.\n\n" + top(out / "profile.txt")
    )
    print(f"wrote {out / 'profile.md'}", file=sys.stderr)


def _record(args: argparse.Namespace, spy: str, out: Path) -> None:
    work = Path(tempfile.mkdtemp(prefix="ghcrawl-profile-"))
    t = check.truth(args.users, 1)
    hub = FakeHub(work, "--users", str(args.users), "--seed", "1", *_NO_LIMIT)
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
            print(f"{fmt}: exit {r['exit']}, {r['requests']} requests in {r['wall_s']:.1f} s", file=sys.stderr)
    finally:
        hub.stop()


if __name__ == "__main__":
    main()
