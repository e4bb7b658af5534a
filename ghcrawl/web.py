"""The status site: /metrics for Prometheus, /status as JSON and / as a live page for people.

The page is embedded here rather than shipped as a file so that the package needs
no data files and the page can never go missing from an install.
"""

from __future__ import annotations

import json
import math
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import prometheus_client
from attrs import define, field, frozen
from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request, Site

Status = Callable[[], Awaitable[dict[str, Any]]]


@frozen
class Sample:
    """One point of the throughput and rate-limit chart."""

    time: float
    requests_per_second: float
    remaining: int

    @classmethod
    def from_status(cls, time: float, status: dict[str, Any]) -> Sample:
        budgets = status.get("rate_limit") or []
        remaining = sum(int(b.get("remaining") or 0) for b in budgets)
        return cls(time, float(status.get("requests_per_second") or 0.0), remaining)

    def to_json(self) -> dict[str, Any]:
        return {"time": self.time, "requests_per_second": self.requests_per_second, "remaining": self.remaining}


@define
class History:
    """A ring buffer of samples covering ``span`` seconds, so memory stays flat however long we run."""

    span: float
    interval: float
    _samples: deque[Sample] = field(init=False)

    def __attrs_post_init__(self) -> None:
        self._samples = deque(maxlen=max(1, math.ceil(self.span / self.interval)) + 1)

    def add(self, sample: Sample) -> None:
        self._samples.append(sample)

    def recent(self, now: float) -> list[dict[str, Any]]:
        """Samples no older than ``span``, oldest first."""
        return [s.to_json() for s in self._samples if s.time >= now - self.span]


@define
class StatusSite:
    """The site plus the sampling loop that feeds its history."""

    site: Site
    history: History
    _status: Status
    _clock: IReactorTime
    _interval: float
    _loop: LoopingCall | None = None
    _log = Logger()

    def start(self) -> None:
        """Sample now and then every interval, until ``stop``."""
        if self._loop is not None:
            return
        self._loop = LoopingCall(self._sample)
        self._loop.clock = self._clock
        self._loop.start(self._interval, now=True).addErrback(
            lambda failure: self._log.failure("status history loop died", failure)
        )

    def stop(self) -> None:
        loop, self._loop = self._loop, None
        if loop is not None and loop.running:
            loop.stop()

    async def _sample(self) -> None:
        # One failing or hanging sample must not end the loop: LoopingCall stops for good on an error.
        try:
            pending = Deferred.fromCoroutine(_awaited(self._status))
            pending.addTimeout(self._interval, self._clock)
            status = await pending
            self.history.add(Sample.from_status(self._clock.seconds(), status))
        except Exception:
            self._log.failure("could not sample the crawl status")


def status_site(
    status: Status,
    registry: prometheus_client.CollectorRegistry,
    clock: IReactorTime,
    *,
    history_interval: float = 10.0,
    history_span: float = 3600.0,
) -> StatusSite:
    """Build the site; nothing listens or samples until the caller does so."""
    history = History(history_span, history_interval)
    root = _Root({b"": _Page(), b"status": _StatusJSON(status, history, clock.seconds), b"metrics": _Metrics(registry)})
    site = Site(root)
    site.displayTracebacks = False
    return StatusSite(site, history, status, clock, history_interval)


class _NoStore(Resource):
    """A resource whose every answer, errors included, tells caches to keep nothing; it only reads."""

    def render(self, request: Request) -> bytes | int:
        request.setHeader(b"cache-control", b"no-store")
        if request.method not in (b"GET", b"HEAD"):
            request.setHeader(b"allow", b"GET, HEAD")
            return _json(request, 405, {"error": "method not allowed"})
        return super().render(request)


class _NotFound(_NoStore):
    isLeaf = True

    def render_GET(self, request: Request) -> bytes:
        return _json(request, 404, {"error": "not found"})


class _Root(_NoStore):
    def __init__(self, routes: dict[bytes, Resource]) -> None:
        super().__init__()
        self._routes = routes

    def getChild(self, path: bytes, request: Request) -> Resource:
        return self._routes.get(path) or _NotFound()


class _Leaf(_NoStore):
    """A single path: anything below it is 404 rather than the same answer again."""

    isLeaf = True

    def render(self, request: Request) -> bytes | int:
        if request.postpath not in ([], [b""]):
            return _NotFound().render(request)
        return super().render(request)


class _Metrics(_Leaf):
    def __init__(self, registry: prometheus_client.CollectorRegistry) -> None:
        super().__init__()
        self._registry = registry

    def render_GET(self, request: Request) -> bytes:
        request.setHeader(b"content-type", prometheus_client.CONTENT_TYPE_LATEST.encode("ascii"))
        return prometheus_client.generate_latest(self._registry)


class _StatusJSON(_Leaf):
    _log = Logger()

    def __init__(self, status: Status, history: History, now: Callable[[], float]) -> None:
        super().__init__()
        self._status = status
        self._history = history
        self._now = now

    def render_GET(self, request: Request) -> int:
        answering = Deferred.fromCoroutine(self._answer(request))
        # A client that hangs up cancels the work; nothing is written to a closed request.
        request.notifyFinish().addErrback(lambda _: answering.cancel())
        answering.addErrback(lambda failure: failure.trap(CancelledError))
        answering.addErrback(lambda failure: self._log.failure("/status failed", failure))
        return NOT_DONE_YET

    async def _answer(self, request: Request) -> None:
        try:
            body = dict(await self._status())
        except CancelledError:
            raise
        except Exception as error:
            self._log.failure("status() failed", Failure())
            code, body = 503, {"error": str(error) or type(error).__name__}
        else:
            code = 200
            body["history"] = self._history.recent(self._now())
        request.write(_json(request, code, body))
        request.finish()


async def _awaited(status: Status) -> dict[str, Any]:
    """Turn any awaitable the caller hands us into a coroutine that a Deferred can wrap and cancel."""
    return await status()


def _json(request: Request, code: int, body: dict[str, Any]) -> bytes:
    request.setResponseCode(code)
    request.setHeader(b"content-type", b"application/json")
    return json.dumps(body, default=str).encode("utf-8")


class _Page(_Leaf):
    def render_GET(self, request: Request) -> bytes:
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        return PAGE.encode("utf-8")


PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ghcrawl status</title>
<style>
:root { --bg: #f5f6f8; --card: #fff; --ink: #1c2230; --muted: #687083; --line: #e2e5ea;
        --blue: #2f6fde; --amber: #d9822b; --green: #2e9d5b; --red: #d64545; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       background: var(--bg); color: var(--ink); }
header { display: flex; align-items: baseline; gap: 14px; padding: 14px 24px; background: #1c2230; color: #fff; }
header h1 { font-size: 18px; margin: 0; letter-spacing: .02em; }
header .meta { color: #a9b1c2; font-size: 12px; }
#state { margin-left: auto; font-size: 12px; padding: 2px 10px; border-radius: 10px; background: #3a4254; }
#state.live { background: #245c3c; } #state.down { background: #7c2b2b; } #state.paused { background: #7a5418; }
main { max-width: 1180px; margin: 0 auto; padding: 18px 24px 32px; display: grid; gap: 16px; }
.cards { display: grid; gap: 12px; }
.counts { grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); }
.flow { grid-template-columns: repeat(auto-fit, minmax(240px, 1fr)); }
.card, .panel { background: var(--card); border: 1px solid var(--line); border-radius: 8px; }
.card { padding: 11px 14px; }
.label { font-size: 11px; color: var(--muted); text-transform: uppercase; letter-spacing: .05em; }
.value { font-size: 24px; font-weight: 600; font-variant-numeric: tabular-nums; margin-top: 2px; }
.sub { font-size: 12px; color: var(--muted); font-variant-numeric: tabular-nums; }
.value.bad { color: var(--red); }
.panel { padding: 14px 16px; }
.panel h2 { font-size: 14px; margin: 0 0 8px; display: flex; gap: 16px; align-items: center; }
.legend { font-weight: normal; font-size: 12px; color: var(--muted); display: flex; gap: 14px; }
.legend i { display: inline-block; width: 12px; height: 3px; vertical-align: middle; margin-right: 5px; }
#chart { width: 100%; height: auto; display: block; }
#chart text { font-size: 11px; fill: var(--muted); font-family: inherit; }
table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 7px 10px; border-bottom: 1px solid var(--line); vertical-align: middle; }
th { font-size: 11px; color: var(--muted); text-transform: uppercase; letter-spacing: .05em; font-weight: 600; }
td.depth { width: 90px; font-weight: 600; }
.bar { height: 8px; background: #e8ecf2; border-radius: 4px; overflow: hidden; margin-bottom: 3px; }
.bar span { display: block; height: 100%; background: var(--green); }
.nums { font-size: 12px; color: var(--muted); }
.nums .failed { color: var(--red); }
tr.eta td.depth::after { content: "ETA"; margin-left: 6px; padding: 1px 5px; border-radius: 6px; font-size: 10px;
                         font-weight: 600; color: #fff; background: var(--blue); vertical-align: 2px; }
.empty { color: var(--muted); padding: 8px 0; }
</style>
</head>
<body>
<header>
  <h1>ghcrawl status</h1>
  <span class="meta" id="version"></span>
  <span class="meta" id="updated"></span>
  <span id="state">connecting</span>
</header>
<main>
  <div class="cards counts">
    <div class="card"><div class="label">Users</div><div class="value" id="users">&ndash;</div>
      <div class="sub" id="profiles"></div></div>
    <div class="card"><div class="label">Repositories</div><div class="value" id="repos">&ndash;</div></div>
    <div class="card"><div class="label">Contributor rows</div><div class="value" id="contributors">&ndash;</div></div>
    <div class="card"><div class="label">Pending</div><div class="value" id="pending">&ndash;</div>
      <div class="sub" id="done"></div></div>
    <div class="card"><div class="label">In flight</div><div class="value" id="in-flight">&ndash;</div>
      <div class="sub" id="concurrency"></div></div>
    <div class="card"><div class="label">Failed</div><div class="value" id="failed">&ndash;</div>
      <div class="sub">tasks given up</div></div>
  </div>
  <div class="cards flow">
    <div class="card"><div class="label">Requests / s</div><div class="value" id="rps">&ndash;</div>
      <div class="sub" id="requests-total"></div></div>
    <div class="card"><div class="label">Rate limit left</div><div class="value" id="remaining">&ndash;</div>
      <div class="sub" id="reset"></div></div>
    <div class="card"><div class="label">ETA</div><div class="value" id="eta">&ndash;</div>
      <div class="sub" id="eta-detail"></div></div>
  </div>
  <section class="panel">
    <h2>Last hour
      <span class="legend"><span><i style="background:var(--blue)"></i>requests / s</span>
      <span><i style="background:var(--amber)"></i>rate limit remaining</span></span></h2>
    <svg id="chart" viewBox="0 0 1000 260" role="img" aria-label="requests per second and rate limit remaining"></svg>
  </section>
  <section class="panel">
    <h2>Progress by depth</h2>
    <table><thead id="depth-head"></thead><tbody id="depths"></tbody></table>
  </section>
  <section class="panel">
    <h2>Daemons</h2>
    <table><thead><tr><th>Name</th><th>Host</th><th>Last heartbeat</th><th>Tasks leased</th>
      <th>Requests, last minute</th><th>State</th></tr></thead><tbody id="daemons"></tbody></table>
  </section>
</main>
<script>
"use strict";
const fmt = new Intl.NumberFormat("en-US");
const fmt1 = new Intl.NumberFormat("en-US", {maximumFractionDigits: 1, minimumFractionDigits: 1});
const KINDS = {user: "Users", repos: "Repository lists", contributors: "Contributor lists"};
const SVG = "http://www.w3.org/2000/svg";
let last = null, skew = 0;

function $(id) { return document.getElementById(id); }
function set(id, text) { $(id).textContent = text; }
function num(v) { return v === null || v === undefined ? "\\u2013" : fmt.format(v); }
function duration(s) {
  if (s === null || s === undefined || !isFinite(s)) return "unknown";
  s = Math.max(0, Math.round(s));
  const h = Math.floor(s / 3600), m = Math.floor(s % 3600 / 60), sec = s % 60;
  if (h) return h + "h " + m + "m";
  if (m) return m + "m " + sec + "s";
  return sec + "s";
}
function now() { return Date.now() / 1000 - skew; }

function headline(s) {
  const f = s.frontier || {};
  set("version", s.version ? "v" + s.version : "");
  set("users", num(s.users));
  set("profiles", num(s.profiles) + " profiles fetched");
  set("repos", num(s.repos));
  set("contributors", num(s.contributors));
  set("pending", num(f.pending));
  set("done", num(f.done) + " done");
  set("in-flight", num(s.in_flight));
  set("concurrency", "of " + num(s.concurrency) + " slots \\u00b7 " + num(f.leased) + " leased");
  set("failed", num(f.failed));
  $("failed").classList.toggle("bad", (f.failed || 0) > 0);
  set("rps", fmt1.format(s.requests_per_second || 0));
  set("requests-total", num(s.requests_total) + " requests");
  const budgets = s.rate_limit || [];
  const left = budgets.reduce((a, b) => a + (b.remaining || 0), 0);
  const limit = budgets.reduce((a, b) => a + (b.limit || 0), 0);
  set("remaining", budgets.length ? num(left) : "\\u2013");
  const eta = s.eta || {};
  set("eta", duration(eta.seconds));
  set("eta-detail", eta.depth === undefined ? "" : eta.depth === null ? "frontier drained" :
      "depth " + eta.depth + " \\u00b7 " + num(eta.remaining_tasks) + " tasks left");
  tick(limit);
}

function tick(limit) {
  if (!last) return;
  const t = now(), budgets = last.rate_limit || [];
  if (limit === undefined) limit = budgets.reduce((a, b) => a + (b.limit || 0), 0);
  const resets = budgets.map(b => b.reset_at).filter(r => r && r > t);
  const reset = resets.length ? "resets in " + duration(Math.min(...resets) - t) : "no reset pending";
  set("reset", (limit ? "of " + num(limit) + " \\u00b7 " : "") + reset);
  set("updated", "updated " + new Date(last.time * 1000).toLocaleTimeString("en-GB"));
  const state = $("state");
  if (last.outage) {
    state.textContent = "outage since " + new Date(last.outage.since * 1000).toLocaleTimeString("en-GB") +
        " (" + duration(t - last.outage.since) + "): " + last.outage.reason;
    state.className = "paused";
  } else if (last.paused_until && last.paused_until > t) {
    state.textContent = "paused " + duration(last.paused_until - t);
    state.className = "paused";
  } else if (state.className !== "down") {
    state.textContent = "live";
    state.className = "live";
  }
}

function el(name, attrs, text) {
  const e = document.createElementNS(SVG, name);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (text !== undefined) e.textContent = text;
  return e;
}

function nice(max) {
  if (max <= 0) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(max))), r = max / p;
  return (r <= 1 ? 1 : r <= 2 ? 2 : r <= 5 ? 5 : 10) * p;
}

function chart(s) {
  const svg = $("chart"), hist = s.history || [];
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  const L = 56, R = 944, T = 14, B = 228, end = s.time || now(), start = end - 3600;
  const rMax = nice(Math.max(1, ...hist.map(h => h.requests_per_second)));
  const bMax = nice(Math.max(1, ...hist.map(h => h.remaining)));
  const x = t => L + (R - L) * Math.min(1, Math.max(0, (t - start) / 3600));
  for (let i = 0; i <= 4; i++) {
    const y = B - (B - T) * i / 4;
    svg.appendChild(el("line", {x1: L, x2: R, y1: y, y2: y, stroke: "#e6e9ee"}));
    svg.appendChild(el("text", {x: L - 8, y: y + 4, "text-anchor": "end", style: "fill:#2f6fde"},
                       fmt.format(rMax * i / 4)));
    svg.appendChild(el("text", {x: R + 8, y: y + 4, style: "fill:#b86a1d"}, fmt.format(bMax * i / 4)));
  }
  for (let m = 60; m >= 0; m -= 15) {
    svg.appendChild(el("text", {x: x(end - m * 60), y: B + 20, "text-anchor": "middle"}, m ? "-" + m + " min" : "now"));
  }
  if (hist.length < 2) {
    svg.appendChild(el("text", {x: (L + R) / 2, y: (T + B) / 2, "text-anchor": "middle"}, "collecting samples\\u2026"));
    return;
  }
  const ry = v => B - (B - T) * v / rMax, by = v => B - (B - T) * v / bMax;
  const rp = hist.map(h => x(h.time).toFixed(1) + "," + ry(h.requests_per_second).toFixed(1));
  const bp = hist.map(h => x(h.time).toFixed(1) + "," + by(h.remaining).toFixed(1));
  const first = x(hist[0].time).toFixed(1), lastX = x(hist[hist.length - 1].time).toFixed(1);
  svg.appendChild(el("path", {d: "M" + first + "," + B + " L" + rp.join(" L") + " L" + lastX + "," + B + " Z",
                              fill: "rgba(47,111,222,0.10)"}));
  svg.appendChild(el("polyline", {points: rp.join(" "), fill: "none", stroke: "#2f6fde", "stroke-width": 2,
                                  "stroke-linejoin": "round", id: "rps-line"}));
  svg.appendChild(el("polyline", {points: bp.join(" "), fill: "none", stroke: "#d9822b", "stroke-width": 2,
                                  "stroke-linejoin": "round", "stroke-dasharray": "6 3", id: "remaining-line"}));
}

function cell(row) {
  const td = document.createElement("td");
  if (!row) { td.textContent = "\\u2013"; return td; }
  const bar = document.createElement("div"), fill = document.createElement("span"), nums = document.createElement("div");
  bar.className = "bar"; nums.className = "nums";
  fill.style.width = (row.discovered ? 100 * row.done / row.discovered : 0).toFixed(1) + "%";
  bar.appendChild(fill);
  nums.textContent = num(row.done) + " / " + num(row.discovered) + " done";
  if (row.failed) {
    const f = document.createElement("span");
    f.className = "failed"; f.textContent = " \\u00b7 " + num(row.failed) + " failed";
    nums.appendChild(f);
  }
  td.append(bar, nums);
  return td;
}

function depths(s) {
  const rows = s.by_depth || [], kinds = [], byDepth = new Map();
  for (const r of rows) {
    if (!kinds.includes(r.kind)) kinds.push(r.kind);
    if (!byDepth.has(r.depth)) byDepth.set(r.depth, {});
    byDepth.get(r.depth)[r.kind] = r;
  }
  const head = document.createElement("tr");
  for (const name of ["Depth", ...kinds.map(k => KINDS[k] || k)]) {
    const th = document.createElement("th"); th.textContent = name; head.appendChild(th);
  }
  $("depth-head").replaceChildren(head);
  const body = [];
  for (const d of [...byDepth.keys()].sort((a, b) => a - b)) {
    const tr = document.createElement("tr"), td = document.createElement("td");
    td.className = "depth"; td.textContent = d; tr.appendChild(td);
    if (s.eta && s.eta.depth === d) tr.className = "eta";
    for (const k of kinds) tr.appendChild(cell(byDepth.get(d)[k]));
    body.push(tr);
  }
  if (!body.length) {
    const tr = document.createElement("tr"), td = document.createElement("td");
    td.className = "empty"; td.textContent = "nothing discovered yet"; tr.appendChild(td); body.push(tr);
  }
  $("depths").replaceChildren(...body);
}

function daemons(s) {
  const body = (s.daemons || []).map(d => {
    const tr = document.createElement("tr");
    for (const v of [d.name, d.host, Math.round(d.heartbeat_ago) + " s ago", num(d.leases),
                     num(d.requests_last_minute), d.state]) {
      const td = document.createElement("td"); td.textContent = v; tr.appendChild(td);
    }
    if (d.state === "gone") tr.className = "failed";
    return tr;
  });
  $("daemons").replaceChildren(...body);
}

async function refresh() {
  try {
    const answer = await fetch("/status", {cache: "no-store"});
    const s = await answer.json();
    if (!answer.ok) throw new Error(s.error || answer.statusText);
    last = s; skew = Date.now() / 1000 - s.time;
    $("state").className = "";
    headline(s); chart(s); depths(s); daemons(s);
  } catch (e) {
    const state = $("state");
    state.textContent = "no status: " + e.message;
    state.className = "down";
  } finally {
    setTimeout(refresh, 5000);
  }
}

setInterval(() => tick(), 1000);
refresh();
</script>
</body>
</html>
"""
