"""Turns the raw results into docs/benchmarks.md, PNG plots and results.json."""

from __future__ import annotations

import json
import os
import platform
import statistics
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


def _little_at(concurrency: int, want: float) -> Callable[[dict[str, Any]], tuple[bool, str] | None]:
    def verdict(res: dict[str, Any]) -> tuple[bool, str] | None:
        r = _find(_runs(res, "latency"), "ghcrawl", concurrency)
        return None if r is None else (r["little_ratio"] >= want, f"{r['little_ratio']:.0%} of Little's bound")

    return verdict


def _cpu(res: dict[str, Any]) -> tuple[bool, str] | None:
    median = res["scenarios"].get("ratios", {}).get("median_cpu_s_per_1k")
    if not median or "ghcrawl" not in median or "urllib" not in median:
        return None
    ratio = median["ghcrawl"] / median["urllib"]
    return ratio <= 1.0, f"{ratio:.2f}× the urllib peer (aim 0.5×)"


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
    ("≥ 95 % of Little's bound at 50 ms ± 25 ms latency, concurrency 10", _little_at(10, 0.95)),
    ("≥ 90 % of Little's bound at 50 ms ± 25 ms latency, concurrency 50", _little_at(50, 0.90)),
    ("CPU per 1,000 requests ≤ the urllib peer's (medians of 3, concurrency 20, 50 ± 25 ms)", _cpu),
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


def component_split(res: dict[str, Any], out: Path) -> dict[str, dict[str, float]]:
    """ms of CPU per request by component, "before" (docs/bench/before.json) and "after" (this run).

    Start-up is measured (the CPU-bound scenario's run without work, over the requests of a
    side-by-side run); the rest of the median CPU per request is split in the proportions of
    the profile's other samples (py-spy on a loaded host over-counts waiting threads, so its
    own start-up share is not used).
    """
    path, before = out / "bench" / "components.json", out / "bench" / "before.json"
    if not path.exists() or "ratios" not in res["scenarios"]:
        return {}
    runs = {"after": res}
    if before.exists():
        runs["before"] = json.loads(before.read_text())
    split = {}
    for label, entry in json.loads(path.read_text()).items():
        r = runs.get(label)
        if r is None or "cpu" not in r["scenarios"]:
            continue
        ratios = r["scenarios"]["ratios"]
        total = ratios["median_cpu_s_per_1k"]["ghcrawl"]
        requests = statistics.median(x["requests"] for x in ratios["runs"] if x["contender"] == "ghcrawl")
        startup = 1000 * _find(_runs(r, "cpu"), "ghcrawl")["startup_cpu_s"] / requests
        rest = {k: v for k, v in entry["samples"].items() if not k.startswith("start-up")}
        samples = sum(rest.values()) or 1
        split[label] = {"start-up (imports, set-up)": startup}
        split[label].update({k: (total - startup) * v / samples for k, v in rest.items()})
    return dict(sorted(split.items(), key=lambda kv: kv[0] != "before"))


def _component_plot(split: dict[str, dict[str, float]], out: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 4))
    names = sorted({k for v in split.values() for k in v})
    bottom = [0.0] * len(split)
    for i, name in enumerate(names):
        values = [split[label].get(name, 0.0) for label in split]
        ax.bar(list(split), values, bottom=bottom, label=name, color=f"C{i}")
        bottom = [b + v for b, v in zip(bottom, values)]
    ax.set(ylabel="ms of CPU per request (whole process)", title="ghcrawl: CPU per request by component")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "components.png", dpi=100)
    plt.close(fig)


def _commands(res: dict[str, Any]) -> str:
    return "\n".join(
        [
            "    pip install -e . -r bench/requirements.txt",
            "    python -m bench                    # all scenarios, writes docs/benchmarks.md and docs/bench/",
            "    python -m bench --only ratios      # CPU per request side by side, medians of 3 (the ratios)",
            "    python -m bench --only latency     # one scenario (merged into docs/bench/results.json)",
            "    python -m bench --smoke            # < 30 s, writes to a temp dir (CI)",
            "    python -m bench --report-only      # rewrite this page from docs/bench/results.json",
            "    python -m bench.profile            # py-spy profile of ghcrawl: docs/bench/profile.{svg,txt,md},",
            "                                       # its split by component into docs/bench/components.json",
            "    python -m bench.soak               # 15-minute daemon soak on a changing graph: docs/bench/soak.{png,md}",
            "    python -m bench.hostile            # peak RSS against huge bodies, a gzip bomb, overfull pages",
            "",
            "Each contender runs as its own process against a fakehub process on 127.0.0.1:",
            "",
            "    ghcrawl-fakehub serve --port 0 --users N --seed 1 --tokens-file T [--latency MS --jitter MS | --rate-limit ...]",
            "    (50 ms ± 25 ms is --latency 25 --jitter 50: the fakehub adds a uniform share of --jitter)",
            "    GITHUB_TOKEN=... twistd --nodaemon --pidfile= ghcrawl --api-url URL --db X.sqlite "
            "--seed ... --max-depth 1 --concurrency C --once",
            "    GITHUB_TOKEN=... python bench/peers/threaded.py --api-url URL --db X.sqlite --seed ... "
            "--max-depth 1 --concurrency C",
            "    (likewise bench/peers/urllib_crawler.py, bench/peers/scrapy_spider.py and bench/peers/aiohttp_crawler.py)",
        ]
    )


def _ratios(s: dict[str, Any]) -> list[str]:
    """Medians of CPU per 1,000 requests and ghcrawl's ratio to each peer, then every run."""
    median = s["median_cpu_s_per_1k"]
    gh = median.get("ghcrawl")
    lines = [
        f"## CPU per request side by side ({s['users']} users, depth 1, {s['latency_ms']} ms ± {s['jitter_ms']} ms, "
        f"concurrency {s['concurrency']}, medians of {s['repeats']})",
        "",
        "Whole process, start-up included (os.wait4 rusage of the client). Rounds interleave the contenders; "
        f"load average (1, 5, 15 min) before and after: {s['load'][0]} → {s['load'][-1]}.",
        "",
        "| contender | median CPU s/1k req | ghcrawl / contender | runs (CPU s/1k req) |",
        "|---|---|---|---|",
    ]
    for name, value in median.items():
        each = ", ".join(f"{r['cpu_s_per_1k']:.2f}" for r in s["runs"] if r["contender"] == name)
        ratio = f"{gh / value:.2f}" if gh else "–"
        lines.append(f"| {name} | {value:.2f} | {ratio} | {each} |")
    return [*lines, ""]


def before_after(res: dict[str, Any], before: dict[str, Any]) -> list[str]:
    """The saved figures of the previous release beside this run's (docs/bench/before.json)."""
    rows = [
        (
            "CPU s/1k req, ghcrawl (ratios median)",
            lambda r: r["scenarios"]["ratios"]["median_cpu_s_per_1k"]["ghcrawl"],
            "{:.2f}",
        ),
        ("ghcrawl / urllib peer", lambda r: _median_ratio(r, "urllib"), "{:.2f}×"),
        ("ghcrawl / aiohttp peer", lambda r: _median_ratio(r, "aiohttp"), "{:.2f}×"),
        ("ghcrawl / Scrapy", lambda r: _median_ratio(r, "scrapy"), "{:.2f}×"),
        ("start-up CPU s (no crawl)", lambda r: _find(_runs(r, "cpu"), "ghcrawl")["startup_cpu_s"], "{:.2f}"),
        ("CPU-bound req/s (concurrency 50)", lambda r: _find(_runs(r, "cpu"), "ghcrawl")["rps"], "{:.0f}"),
        (
            "% of Little's bound, concurrency 10",
            lambda r: _find(_runs(r, "latency"), "ghcrawl", 10)["little_ratio"],
            "{:.0%}",
        ),
        (
            "% of Little's bound, concurrency 50",
            lambda r: _find(_runs(r, "latency"), "ghcrawl", 50)["little_ratio"],
            "{:.0%}",
        ),
        ("peak RSS MB (concurrency 20)", lambda r: _find(_runs(r, "ratios"), "ghcrawl")["peak_rss_mb"], "{:.0f}"),
        ("host load average (1 min) over the side-by-side runs", lambda r: _load(r, "ratios"), "{}"),
        ("host load average (1 min) after the latency runs", lambda r: _load(r, "latency"), "{}"),
    ]
    lines = [
        f"## Before and after (before: commit {before['machine']['commit']}, {before['started']})",
        "",
        "| figure | before | after |",
        "|---|---|---|",
    ]
    for label, get, fmt in rows:
        cells = []
        for r in (before, res):
            try:
                cells.append(fmt.format(get(r)))
            except (KeyError, TypeError, ZeroDivisionError):
                cells.append("–")
        lines.append(f"| {label} | {cells[0]} | {cells[1]} |")
    return [*lines, ""]


def _load(res: dict[str, Any], scenario: str) -> str:
    load = res["scenarios"][scenario]["load"]
    return " → ".join(str(x[0]) for x in load) if isinstance(load[0], list) else str(load[0])


def _median_ratio(res: dict[str, Any], peer: str) -> float:
    median = res["scenarios"]["ratios"]["median_cpu_s_per_1k"]
    return float(median["ghcrawl"] / median[peer])


def _section(res: dict[str, Any], name: str) -> list[str]:
    s = res["scenarios"][name]
    runs = s["runs"]
    lines: list[str] = []
    if name == "ratios":
        lines += _ratios(s)
    elif name == "latency":
        lines += [
            f"## Latency-bound ({s['latency_ms']} ms ± {s.get('jitter_ms', 0)} ms per answer, {s['users']} users, "
            f"depth {s['max_depth']})",
            "",
            "Little's law: at most concurrency / mean latency requests/s. Requests/s is taken over the fakehub's "
            "own span of the crawl's traffic, first request in to last answer out. "
            f"Load average (1, 5, 15 min) at the end: {s.get('load', '–')}.",
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
        and set(res["scenarios"]) != {"ratios", "latency", "cpu", "quota", "refresh", "scale", "shutdown"}
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
        "- wall s: process start to exit; req/s: requests the fakehub saw, divided by the span of their traffic",
        "  as the fakehub timed it (first request in to last answer out), so interpreter start-up is left out;",
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
    before = data / "before.json"
    if before.exists() and not res.get("smoke"):
        lines += before_after(res, json.loads(before.read_text()))
    for name in ("ratios", "latency", "cpu", "quota", "refresh", "scale", "shutdown"):
        if name in res["scenarios"]:
            section = _section(res, name)
            commit = res["scenarios"][name].get("commit")
            if section and commit:
                section[0] += f" (commit {commit})"
            lines += section
    split = {} if res.get("smoke") else component_split(res, out)
    if split:
        _component_plot(split, data)
        names = sorted({k for v in split.values() for k in v})
        lines += [
            "## CPU per request by component",
            "",
            "Median CPU per request of the side-by-side runs (concurrency 20, 50 ms ± 25 ms): start-up as "
            "measured (a run without work), the rest split in the proportions of py-spy's samples "
            "(docs/bench/components.json from `python -m bench.profile --label before|after`).",
            "",
            "| component | " + " | ".join(f"{label} ms/req" for label in split) + " |",
            "|---|" + "---|" * len(split),
            *[f"| {n} | " + " | ".join(f"{split[label].get(n, 0):.3f}" for label in split) + " |" for n in names],
            "| **total** | " + " | ".join(f"**{sum(split[label].values()):.3f}**" for label in split) + " |",
            "",
            "![components](bench/components.png)",
            "",
        ]
    for name in ("soak.md", "profile.md"):
        if (data / name).exists() and not res.get("smoke"):
            lines += [(data / name).read_text().strip(), ""]
    (out / "benchmarks.md").write_text("\n".join(lines))
