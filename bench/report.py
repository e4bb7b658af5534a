"""Turns the raw results into docs/benchmarks.md, PNG plots and results.json."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

Check = tuple[str, Callable[[dict[str, Any]], tuple[bool, str] | None]]


def machine() -> dict[str, Any]:
    """nproc, CPU model, memory and versions, so figures can be read against the hardware."""
    import twisted

    model = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        platform.processor(),
    )
    mem_kb = next(
        int(ln.split()[1]) for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal")
    )
    versions = {"python": platform.python_version(), "twisted": twisted.__version__}
    for name in ("scrapy", "aiohttp", "requests"):
        try:
            versions[name] = __import__(name).__version__
        except ImportError:
            versions[name] = "not installed"
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent
    ).stdout.strip()
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "memory_gib": round(mem_kb / 2**20, 1),
        "os": platform.platform(),
        "versions": versions,
        "commit": commit,
    }


def _runs(results: dict[str, Any], scenario: str) -> list[dict[str, Any]]:
    return results["scenarios"].get(scenario, {}).get("runs", [])


def _find(runs: list[dict[str, Any]], contender: str, concurrency: int | None = None) -> dict[str, Any] | None:
    return next(
        (r for r in runs if r["contender"] == contender and (concurrency is None or r["concurrency"] == concurrency)),
        None,
    )


def _little(res: dict[str, Any]) -> tuple[bool, str] | None:
    r = _find(_runs(res, "latency"), "ghcrawl", 50)
    return None if r is None else (r["little_ratio"] >= 0.95, f"{r['little_ratio']:.0%} of Little's bound")


def _cpu(res: dict[str, Any]) -> tuple[bool, str] | None:
    runs = _runs(res, "cpu")
    g, t, s = _find(runs, "ghcrawl"), _find(runs, "threaded"), _find(runs, "scrapy")
    if not (g and t and s):
        return None
    a, b = g["cpu_s_per_1k"] / t["cpu_s_per_1k"], g["cpu_s_per_1k"] / s["cpu_s_per_1k"]
    return a <= 0.5 and b <= 1.0, f"{a:.2f}× threaded, {b:.2f}× Scrapy"


def _requests(res: dict[str, Any]) -> tuple[bool, str] | None:
    runs = [r for name in ("latency", "cpu", "scale") for r in _runs(res, name) if r["contender"] == "ghcrawl"]
    if not runs:
        return None
    worst = max(r["requests_ratio"] for r in runs)
    return worst <= 1.01, f"worst {worst:.4f}× the minimum over {len(runs)} runs"


def _quota(res: dict[str, Any]) -> tuple[bool, str] | None:
    r = next(iter(_runs(res, "quota")), None)
    if r is None:
        return None
    use = r["budget_use"] if r["budget_use"] is not None else r["budget_use_wall"]
    return use >= 0.98 and r["violations"] == 0, (
        f"{use:.1%} of each full window, {r['violations']} violations "
        f"(per unit of time: {r['budget_use_wall']:.1%}, see notes)"
    )


def _refresh(res: dict[str, Any]) -> tuple[bool, str] | None:
    runs = _runs(res, "refresh")
    if len(runs) < 2:
        return None
    share = runs[1]["not_modified_share"]
    return share >= 0.99, f"{share:.1%} answered 304"


def _rss(res: dict[str, Any]) -> tuple[bool, str] | None:
    s = res["scenarios"].get("scale")
    if not s:
        return None
    return s[
        "rss_ratio"
    ] <= 1.2, f"{s['rss_ratio']:.2f}× ({s['runs'][0]['peak_rss_mb']:.0f} → {s['runs'][-1]['peak_rss_mb']:.0f} MB)"


def _shutdown(res: dict[str, Any]) -> tuple[bool, str] | None:
    s = res["scenarios"].get("shutdown")
    if not s:
        return None
    r = s["runs"][0]
    return r["stop_s"] <= s["grace_s"] + 1 and r[
        "exit"
    ] == 0, f"{r['stop_s']:.2f} s with {r['in_flight_at_signal']} in flight, exit {r['exit']}"


TARGETS: list[tuple[str, Callable[[dict[str, Any]], tuple[bool, str] | None]]] = [
    ("≥ 95 % of Little's bound at 50 ms latency, concurrency 50", _little),
    ("CPU per request ≤ 0.5× threaded and ≤ Scrapy (CPU-bound)", _cpu),
    ("requests ≤ 1.01× the minimum", _requests),
    ("quota-bound: ≥ 98 % of the budget used, 0 violations", _quota),
    ("refresh of an unchanged graph: ≥ 99 % answered 304", _refresh),
    ("peak RSS at 100k users ≤ 1.2× at 10k users", _rss),
    ("SIGINT → exit ≤ grace + 1 s", _shutdown),
]


def verdicts(res: dict[str, Any]) -> list[tuple[str, str, str]]:
    out = []
    for label, fn in TARGETS:
        v = fn(res)
        out.append((label, "not run" if v is None else ("met" if v[0] else "**not met**"), v[1] if v else ""))
    return out


def _x(value: float, base: float | None) -> str:
    return f"{value / base:.2f}×" if base else "–"


def table(runs: list[dict[str, Any]], extra: list[tuple[str, Callable[[dict[str, Any]], str]]] = ()) -> str:
    """One row per run; "×" columns are ratios to ghcrawl's run at the same concurrency."""
    head = [
        "contender",
        "conc.",
        "wall s",
        "× gh",
        "req/s",
        "× gh",
        "CPU s/1k req",
        "× gh",
        "peak RSS MB",
        "× gh",
        "requests / min",
        "correct",
        *[h for h, _ in extra],
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in runs:
        g = _find(runs, "ghcrawl", r["concurrency"]) or runs[0]
        cells = [
            r["contender"],
            str(r["concurrency"]),
            f"{r['wall_s']:.2f}",
            _x(r["wall_s"], g["wall_s"]),
            f"{r['rps']:.0f}",
            _x(r["rps"], g["rps"]),
            f"{r['cpu_s_per_1k']:.2f}",
            _x(r["cpu_s_per_1k"], g["cpu_s_per_1k"]),
            f"{r['peak_rss_mb']:.0f}",
            _x(r["peak_rss_mb"], g["peak_rss_mb"]),
            f"{r['requests_ratio']:.4f}",
            "yes" if r["correct"]["ok"] else "**no**: " + r["correct"]["detail"],
            *[fn(r) for _, fn in extra],
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plots(res: dict[str, Any], out: Path) -> list[str]:
    made = []
    runs = _runs(res, "latency")
    if runs:
        fig, ax = plt.subplots(figsize=(6, 4))
        levels = sorted({r["concurrency"] for r in runs})
        ax.plot(
            levels,
            [r["little_bound_rps"] for r in runs if r["contender"] == runs[0]["contender"]],
            "k--",
            label="Little's bound",
        )
        for name in dict.fromkeys(r["contender"] for r in runs):
            mine = [r for r in runs if r["contender"] == name]
            ax.plot([r["concurrency"] for r in mine], [r["rps"] for r in mine], "o-", label=name)
        ax.set(
            xlabel="concurrency",
            ylabel="requests/s",
            title=f"Latency-bound ({res['scenarios']['latency']['latency_ms']} ms per answer)",
        )
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / "latency.png", dpi=100)
        plt.close(fig)
        made.append("latency.png")
    runs = _runs(res, "cpu")
    if runs:
        fig, axes = plt.subplots(1, 3, figsize=(11, 3.6))
        names = [r["contender"] for r in runs]
        for ax, key, label in zip(
            axes, ("cpu_s_per_1k", "rps", "peak_rss_mb"), ("CPU s per 1,000 requests", "requests/s", "peak RSS MB")
        ):
            ax.bar(names, [r[key] for r in runs], color=["C0", "C1", "C2", "C3"][: len(runs)])
            ax.set_title(label)
        fig.suptitle("CPU-bound (no latency)")
        fig.tight_layout()
        fig.savefig(out / "cpu.png", dpi=100)
        plt.close(fig)
        made.append("cpu.png")
    return made


def _commands(res: dict[str, Any]) -> str:
    return "\n".join(
        [
            "    pip install -e . -r bench/requirements.txt",
            "    python -m bench                    # all scenarios, writes docs/benchmarks.md and docs/bench/",
            "    python -m bench --only latency     # one scenario (merged into docs/bench/results.json)",
            "    python -m bench --smoke            # < 30 s, writes to a temp dir (CI)",
            "    python -m bench --report-only      # rewrite this page from docs/bench/results.json",
            "    python -m bench.profile            # py-spy profile of ghcrawl: docs/bench/profile.{svg,txt,md}",
            "    python -m bench.soak               # 15-minute daemon soak on a changing graph: docs/bench/soak.{png,md}",
            "    python -m bench.hostile            # peak RSS against huge bodies, a gzip bomb, overfull pages",
            "",
            "Each contender runs as its own process against a fakehub process on 127.0.0.1:",
            "",
            "    ghcrawl-fakehub serve --port 0 --users N --seed 1 --tokens-file T [--latency MS | --rate-limit ...]",
            "    GITHUB_TOKEN=... twistd --nodaemon --pidfile= ghcrawl --api-url URL --db X.sqlite "
            "--seed ... --max-depth 1 --concurrency C --once",
            "    GITHUB_TOKEN=... python bench/peers/threaded.py --api-url URL --db X.sqlite --seed ... "
            "--max-depth 1 --concurrency C",
            "    (likewise bench/peers/scrapy_spider.py and bench/peers/aiohttp_crawler.py)",
        ]
    )


def _section(res: dict[str, Any], name: str) -> list[str]:
    s = res["scenarios"][name]
    runs = s["runs"]
    lines: list[str] = []
    if name == "latency":
        lines += [
            f"## Latency-bound ({s['latency_ms']} ms per answer, {s['users']} users, depth {s['max_depth']})",
            "",
            "Little's law: at most concurrency / latency requests/s.",
            "",
        ]
        for c in sorted({r["concurrency"] for r in runs}):
            lines += [
                f"Concurrency {c} (bound {c / (s['latency_ms'] / 1000):.0f} requests/s):",
                "",
                table(
                    [r for r in runs if r["concurrency"] == c], [("% of bound", lambda r: f"{r['little_ratio']:.0%}")]
                ),
                "",
            ]
        lines += ["![latency](bench/latency.png)", ""]
    elif name == "cpu":
        lines += [
            f"## CPU-bound (no latency, {s['users']} users, depth {s['max_depth']})",
            "",
            table(
                runs,
                [
                    ("start-up CPU s", lambda r: f"{r.get('startup_cpu_s', 0):.2f}"),
                    ("net CPU s/1k req", lambda r: f"{r.get('net_cpu_s_per_1k', 0):.2f}"),
                ],
            ),
            "",
            "Start-up CPU: a run whose only seed does not exist (imports, set-up, tear-down); net CPU subtracts it.",
            "",
            "![cpu](bench/cpu.png)",
            "",
        ]
    elif name == "quota":
        r = runs[0]
        use = "–" if r["budget_use"] is None else f"{r['budget_use']:.1%}"
        lines += [
            f"## Quota-bound ({s['limit']} requests per {s['window_s']} s window, {s['users']} users)",
            "",
            table(runs),
            "",
            f"Budget used in full windows: {use} (over the whole active time: {r['budget_use_wall']:.1%}); "
            f"violations (requests past an empty budget): {r['violations']}; "
            f"windows: {r['stats'].get('closed_windows')}.",
            "",
        ]
    elif name == "refresh":
        second = runs[1]
        lines += [
            f"## Refresh of an unchanged graph ({s['users']} users; second run with refresh_after = 0)",
            "",
            table(runs),
            "",
            f"Second run: {second['stats']['not_modified']} of {second['stats']['requests']} requests "
            f"answered 304 ({second['not_modified_share']:.1%}); by status {second['stats']['by_status']}.",
            "",
        ]
    elif name == "scale":
        lines += [
            f"## Frontier scale (ghcrawl, depth {s['max_depth']})",
            "",
            "| graph users | users found | requests | wall s | req/s | CPU s/1k req | peak RSS MB | correct |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in runs:
            lines.append(
                f"| {r['users']:,} | {r['users_found']:,} | {r['requests']:,} | {r['wall_s']:.1f} | "
                f"{r['rps']:.0f} | {r['cpu_s_per_1k']:.2f} | {r['peak_rss_mb']:.0f} | "
                f"{'yes' if r['correct']['ok'] else '**no**: ' + r['correct']['detail']} |"
            )
        lines += ["", f"RSS ratio (largest / smallest): {s['rss_ratio']:.2f}×.", ""]
    elif name == "shutdown":
        r = runs[0]
        lines += [
            f"## Shutdown (ghcrawl, concurrency {s['concurrency']}, 5 s per answer, grace {s['grace_s']:.0f} s)",
            "",
            f"SIGINT sent with {r['in_flight_at_signal']} requests in flight, "
            f"{r['signal_after_s']:.1f} s after start; the process exited with status {r['exit']} "
            f"{r['stop_s']:.2f} s later (target ≤ {s['grace_s'] + 1:.0f} s).",
            "",
        ]
    return lines


def write(res: dict[str, Any], out: Path) -> None:
    """Writes benchmarks.md, bench/*.png and bench/results.json under ``out``."""
    data = out / "bench"
    data.mkdir(parents=True, exist_ok=True)
    raw = data / "results.json"
    if (
        raw.exists()
        and not res.get("smoke")
        and set(res["scenarios"]) != {"latency", "cpu", "quota", "refresh", "scale", "shutdown"}
    ):
        old = json.loads(raw.read_text())  # a partial run (--only) keeps the other scenarios' figures
        res["scenarios"] = {**old.get("scenarios", {}), **res["scenarios"]}
    raw.write_text(json.dumps(res, indent=1, default=str) + "\n")
    plots(res, data)
    m = res["machine"]
    v = m["versions"]
    lines = [
        "# Benchmarks",
        "",
        "Generated by `python -m bench` (bench/); do not edit by hand — notes live in bench/notes.md.",
        "",
        f"Machine: {m['nproc']} CPUs ({m['cpu']}), {m['memory_gib']} GiB, {m['os']}; "
        f"Python {v['python']}, Twisted {v['twisted']}, Scrapy {v['scrapy']}, aiohttp {v['aiohttp']}, "
        f"requests {v['requests']}; commit {m['commit']}; run {res['started']}, "
        f"{res.get('seconds', 0):.0f} s in all. The fakehub shares the same CPUs.",
        "",
        "## How to run",
        "",
        _commands(res),
        "",
        "## Figures",
        "",
        "- wall s: process start to exit; req/s: requests the fakehub saw, divided by the time between the",
        "  first and last request it saw (sampled every 0.1 s), so interpreter start-up is left out;",
        "- CPU s/1k req: the client process's user + system CPU (os.wait4 rusage) per 1,000 requests;",
        "- peak RSS: the client's VmHWM (sampled every 20 ms); requests / min: requests sent over the graph's minimum",
        "  (`min_requests` of `ghcrawl-fakehub truth`);",
        "- correct: users, repos and contributors rows equal the ground truth exactly;",
        "- × gh: the figure over ghcrawl's at the same concurrency (lower is better for wall, CPU, RSS).",
        "- Every scenario starts its own fakehub; one unmeasured crawl warms its rendered-answer cache first.",
        "",
        "## Targets",
        "",
        "| target | verdict | measured |",
        "|---|---|---|",
        *[f"| {label} | {verdict} | {detail} |" for label, verdict, detail in verdicts(res)],
        "",
    ]
    notes = Path(__file__).with_name("notes.md")
    if notes.exists() and not res.get("smoke"):
        lines += [notes.read_text().strip(), ""]
    for name in ("latency", "cpu", "quota", "refresh", "scale", "shutdown"):
        if name in res["scenarios"]:
            lines += _section(res, name)
    for name in ("soak.md", "profile.md"):
        if (data / name).exists() and not res.get("smoke"):
            lines += [(data / name).read_text().strip(), ""]
    (out / "benchmarks.md").write_text("\n".join(lines))
