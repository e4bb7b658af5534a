"""``python -m bench``: run the scenarios, then write docs/benchmarks.md, plots and raw JSON.

python -m bench                 # everything (~15 minutes on 2 cores)
python -m bench --smoke         # seconds; writes to a temporary directory (CI)
python -m bench --only ratios   # CPU per request side by side (medians of 3), for the ratios
python -m bench --only latency  # one scenario
python -m bench --only ratios --contenders ghcrawl,urllib --out /tmp/x   # a quick A/B of one change
python -m bench --report-only   # rewrite the report from docs/bench/results.json
python -m bench.profile         # py-spy profile of ghcrawl (docs/bench/profile.*)
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import report, scenarios
from bench.run import CONTENDERS, ROOT

SCENARIOS = ["ratios", "latency", "cpu", "quota", "refresh", "scale", "shutdown"]


def plan(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Which scenario functions to call, with what arguments, for a full or smoke run."""
    if args.smoke:
        # The smallest graph the fakehub draws, seeds only (depth 0): every code path, few requests.
        return {
            "cpu": lambda: scenarios.cpu(work / "cpu", args.users or 60, concurrency=10, depth=0, warm=False),
            "refresh": lambda: scenarios.refresh(work / "refresh", args.users or 60, concurrency=10, depth=0),
        }
    users = args.users or 1000
    who = args.contenders.split(",") if args.contenders else CONTENDERS
    return {
        "ratios": lambda: scenarios.ratios(work / "ratios", users, contenders=who),
        # Two hops (3,869 requests on 1,000 users): at one hop a c=50 crawl lasts under two seconds and
        # its start (four seeds, then their first pages) and its tail weigh ~10 % for every contender.
        "latency": lambda: scenarios.latency(work / "latency", users, contenders=who, depth=2),
        "cpu": lambda: scenarios.cpu(work / "cpu", users),
        "quota": lambda: scenarios.quota(work / "quota", users),
        "refresh": lambda: scenarios.refresh(work / "refresh", users),
        "scale": lambda: scenarios.scale(work / "scale"),
        "shutdown": lambda: scenarios.shutdown(work / "shutdown", users),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a seconds-long run into a temp dir")
    parser.add_argument("--only", choices=SCENARIOS, action="append", help="run only this scenario")
    parser.add_argument("--contenders", default=None,
                        help="comma-separated contenders for ratios and latency [all]; with --out, for a quick A/B")
    parser.add_argument("--users", type=int, default=None, help="graph size for the 1-hop scenarios")
    parser.add_argument("--out", default=None, help="where to write the report [docs/, or a temp dir]")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="rewrite benchmarks.md and plots from the saved results.json, running nothing",
    )
    args = parser.parse_args()
    if args.report_only:
        out = Path(args.out) if args.out else ROOT / "docs"
        report.write(json.loads((out / "bench" / "results.json").read_text()), out)
        return
    work = Path(tempfile.mkdtemp(prefix="ghcrawl-bench-"))
    out = Path(args.out) if args.out else (work / "docs" if args.smoke else ROOT / "docs")
    todo = plan(args, work)
    results: dict[str, Any] = {
        "machine": report.machine(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "smoke": args.smoke,
        "scenarios": {},
    }
    began = time.monotonic()
    for name, fn in todo.items():
        if args.only and name not in args.only:
            continue
        print(f"{name}:", file=sys.stderr, flush=True)
        t0 = time.monotonic()
        results["scenarios"][name] = fn()
        results["scenarios"][name]["seconds"] = time.monotonic() - t0
        results["scenarios"][name]["commit"] = results["machine"]["commit"]
    results["seconds"] = time.monotonic() - began
    report.write(results, out)
    print(f"wrote {out / 'benchmarks.md'} in {results['seconds']:.0f} s (work files in {work})", file=sys.stderr)


if __name__ == "__main__":
    main()
