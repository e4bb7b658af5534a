"""The benchmark scenarios: each starts its own fakehub and runs contenders on one graph."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import check
from bench.run import CONTENDERS, FakeHub, command, run

_NO_LIMIT = ("--rate-limit", "1000000000")


def _crawl(
    name: str,
    hub: FakeHub,
    work: Path,
    t: dict[str, Any],
    want: Any,
    concurrency: int,
    timeout: float = 300,
    *extra: str,
) -> dict[str, Any]:
    """One measured crawl into a fresh database, checked against the truth."""
    cdir = work / f"{name}-{concurrency}-{int(time.monotonic() * 1000)}"
    cdir.mkdir()
    db = cdir / "crawl.sqlite"
    result = run(command(name, hub, db, t["seeds"], t["max_depth"], concurrency, *extra), cdir, hub, timeout)
    result.update(
        contender=name,
        workdir=str(cdir),
        concurrency=concurrency,
        min_requests=t["min_requests"],
        requests_ratio=result["requests"] / t["min_requests"],
        rps=result["requests"] / result["active_s"],
        correct=check.compare(str(db), want),
    )
    _say(
        f"  {name:8} c={concurrency:<3} {result['wall_s']:6.2f} s  {result['rps']:7.0f} req/s  "
        f"{result['cpu_s_per_1k']:5.2f} CPU s/1k  {result['peak_rss_mb']:6.1f} MB  "
        f"{'ok' if result['correct']['ok'] else 'WRONG: ' + result['correct']['detail']}"
    )
    return result


def _warm(hub: FakeHub, work: Path, t: dict[str, Any]) -> None:
    """One unmeasured crawl so every contender meets the fakehub's rendered-bytes cache warm."""
    wdir = work / "warmup"
    wdir.mkdir(exist_ok=True)
    run(command("aiohttp", hub, wdir / "warm.sqlite", t["seeds"], t["max_depth"], 100), wdir, hub, 300)


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _hub(work: Path, users: int, *args: str) -> FakeHub:
    work.mkdir(parents=True, exist_ok=True)
    return FakeHub(work, "--users", str(users), "--seed", "1", *args)


def latency(
    work: Path,
    users: int,
    levels: tuple[int, ...] = (10, 50, 100),
    contenders: list[str] = CONTENDERS,
    latency_ms: int = 50,
    depth: int = 1,
    warm: bool = True,
) -> dict[str, Any]:
    """Latency-bound: every answer waits ``latency_ms``; Little's law caps requests/s at c / latency."""
    t = check.truth(users, depth)
    want = check.expected(t)
    hub = _hub(work, users, "--latency", str(latency_ms), *_NO_LIMIT)
    try:
        if warm:
            _warm(hub, work, t)
        runs = []
        for c in levels:
            for name in contenders:
                r = _crawl(name, hub, work, t, want, c)
                r["little_bound_rps"] = c / (latency_ms / 1000)
                r["little_ratio"] = r["rps"] / r["little_bound_rps"]
                runs.append(r)
    finally:
        hub.stop()
    return {"fakehub": hub.args, "users": users, "max_depth": depth, "latency_ms": latency_ms, "runs": runs}


def cpu(
    work: Path, users: int, concurrency: int = 50, contenders: list[str] = CONTENDERS, depth: int = 1, warm: bool = True
) -> dict[str, Any]:
    """CPU-bound: no latency, so the client's own work per request sets the pace."""
    t = check.truth(users, depth)
    want = check.expected(t)
    hub = _hub(work, users, *_NO_LIMIT)
    try:
        if warm:
            _warm(hub, work, t)
        runs = [_crawl(name, hub, work, t, want, concurrency) for name in contenders]
        for r in runs:
            r["startup_cpu_s"] = _startup_cpu(r["contender"], hub, work)
            r["net_cpu_s_per_1k"] = 1000 * max(0.0, r["cpu_s"] - r["startup_cpu_s"]) / max(1, r["requests"])
    finally:
        hub.stop()
    return {"fakehub": hub.args, "users": users, "max_depth": depth, "runs": runs}


def _startup_cpu(name: str, hub: FakeHub, work: Path) -> float:
    """CPU of a run whose only seed does not exist: imports, set-up and tear-down, no crawl."""
    cdir = work / f"{name}-startup"
    cdir.mkdir(exist_ok=True)
    r = run(command(name, hub, cdir / "crawl.sqlite", ["no-such-user-bench"], 0, 10), cdir, hub, 120)
    return float(r["cpu_s"])


def quota(work: Path, users: int, limit: int = 300, window: int = 3, concurrency: int = 50) -> dict[str, Any]:
    """Quota-bound: a small budget in short windows; a good client spends it all and never overdraws."""
    t = check.truth(users, 1)
    hub = _hub(work, users, "--rate-limit", str(limit), "--rate-window", str(window))
    try:
        r = _crawl("ghcrawl", hub, work, t, check.expected(t), concurrency, 600)
    finally:
        hub.stop()
    closed = r["stats"].get("closed_windows") or []
    full = closed[:-1] if len(closed) > 1 else closed  # the last closed window may hold the crawl's tail
    r["budget_use"] = sum(full) / (len(full) * limit) if full else None
    r["budget_use_wall"] = r["stats"]["charged"] / (limit * r["active_s"] / window)
    r["violations"] = r["stats"]["violations"]
    return {"fakehub": hub.args, "users": users, "max_depth": 1, "limit": limit, "window_s": window, "runs": [r]}


def refresh(
    work: Path, users: int, concurrency: int = 50, depth: int = 1, empty_repos: float = 0.07
) -> dict[str, Any]:
    """Refresh of an unchanged graph: a second ghcrawl run with refresh_after = 0 re-asks conditionally.

    A share of the repositories is empty: GitHub answers their contributors 204 without a
    validator, so only skipping them (until a push shows in the listing) keeps the refresh 304.
    """
    t = check.truth(users, depth, empty_repos=empty_repos)
    want = check.expected(t)
    hub = _hub(work, users, *_NO_LIMIT, "--empty-repos", str(empty_repos))
    config = work / "refresh.toml"
    config.write_text("refresh_after = 0\n")
    try:
        first = _crawl("ghcrawl", hub, work, t, want, concurrency)
        cdir = Path(first["workdir"])
        cmd = command("ghcrawl", hub, cdir / "crawl.sqlite", t["seeds"], depth, concurrency, "--config", str(config))
        second = run(cmd, cdir, hub, 300)
        s = second["stats"]
        second.update(
            contender="ghcrawl (refresh)",
            concurrency=concurrency,
            min_requests=t["min_requests"],
            requests_ratio=second["requests"] / t["min_requests"],
            rps=second["requests"] / second["active_s"],
            correct=check.compare(str(cdir / "crawl.sqlite"), want),
            not_modified_share=s["not_modified"] / max(1, s["requests"]),
        )
        _say(f"  refresh: {s['not_modified']} of {s['requests']} answered 304, {second['wall_s']:.2f} s")
    finally:
        hub.stop()
    return {"fakehub": hub.args, "users": users, "max_depth": depth, "empty_repos": empty_repos,
            "runs": [first, second]}


def scale(
    work: Path, sizes: tuple[int, ...] = (10_000, 100_000), depth: int = 2, concurrency: int = 50
) -> dict[str, Any]:
    """Frontier scale: the same crawl rules over a ten-times larger graph; memory should barely grow."""
    runs = []
    for users in sizes:
        t = check.truth(users, depth)
        hub = _hub(work / str(users), users, *_NO_LIMIT)
        try:
            r = _crawl("ghcrawl", hub, work / str(users), t, check.expected(t), concurrency, 600)
        finally:
            hub.stop()
        r.update(users=users, users_found=len(t["users"]), max_depth=depth)
        runs.append(r)
    return {
        "sizes": list(sizes),
        "max_depth": depth,
        "runs": runs,
        "rss_ratio": runs[-1]["peak_rss_mb"] / runs[0]["peak_rss_mb"],
    }


def shutdown(
    work: Path, users: int, concurrency: int = 100, latency_ms: int = 5000, grace: float = 10
) -> dict[str, Any]:
    """SIGINT while ``concurrency`` slow requests are in flight: seconds until the process exits."""
    t = check.truth(users, 1)
    hub = _hub(work, users, "--latency", str(latency_ms), *_NO_LIMIT)
    cdir = work / "shutdown"
    cdir.mkdir(exist_ok=True)

    def interrupt(proc: subprocess.Popen[bytes], hub: FakeHub, started: float) -> dict[str, Any]:
        in_flight = 0
        for _ in range(600):  # up to 60 s for the slots to fill
            in_flight = hub.stats()["in_flight"]
            if in_flight >= concurrency or proc.poll() is not None:
                break
            time.sleep(0.1)
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        return {"in_flight_at_signal": in_flight, "signal_after_s": sent - started}

    try:
        cmd = command("ghcrawl", hub, cdir / "crawl.sqlite", t["seeds"], 1, concurrency, "--grace", str(grace))
        r = run(cmd, cdir, hub, 120, on_start=interrupt)
        r["stop_s"] = r["wall_s"] - r["signal_after_s"]
        r.update(contender="ghcrawl", concurrency=concurrency)
        _say(
            f"  shutdown: SIGINT with {r['in_flight_at_signal']} in flight, exit {r['exit']} after {r['stop_s']:.2f} s"
        )
    finally:
        hub.stop()
    return {"fakehub": hub.args, "grace_s": grace, "concurrency": concurrency, "runs": [r]}
