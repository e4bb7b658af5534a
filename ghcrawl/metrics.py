"""Prometheus metrics: what was sent, what came back, what is stored and what is left.

Only a crawl with a status endpoint has a reader for them; without one every metric
is an inert stand-in, so neither start-up (importing prometheus_client) nor each
request pays for figures nobody can see.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit


def endpoint_of(url: str) -> str:
    """Name the API endpoint of a URL for labels, never the URL itself (unbounded cardinality)."""
    parts = urlsplit(url).path.strip("/").split("/")
    if parts[-1] == "contributors":
        return "contributors"
    if parts[-1] == "repos" and parts[0] in ("users", "user"):
        return "user_repos"
    if parts[0] in ("users", "user") and len(parts) == 2:
        return "user"
    if parts[0] in ("repos", "repositories"):
        return "repo"
    return {"rate_limit": "rate_limit", "user": "authenticated_user"}.get(parts[0], "other")


class _Inert:
    """Accepts every call a metric takes and keeps nothing."""

    def labels(self, *values: str) -> _Inert:
        return self

    def inc(self, amount: float = 1) -> None:
        pass

    def set(self, value: float) -> None:
        pass

    def observe(self, value: float) -> None:
        pass

    def clear(self) -> None:
        pass


_INERT = _Inert()


class Metrics:
    """Every metric ghcrawl exports, in a registry of its own (inert unless ``enabled``)."""

    registry: Any

    def __init__(self, registry: Any = None, *, enabled: bool = True) -> None:
        self.enabled = enabled
        self._children: dict[tuple[str, str], tuple[Any, Any]] = {}
        if not enabled:
            self.registry = None
            return
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = registry = registry or CollectorRegistry()
        self.requests = Counter("ghcrawl_requests", "Requests sent to GitHub, by endpoint and answer.",
                                ["endpoint", "status"], registry=registry)
        self.latency = Histogram("ghcrawl_fetch_seconds", "Time from sending a request to its whole body.",
                                 ["endpoint"], registry=registry,
                                 buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
        self.not_modified = Counter("ghcrawl_not_modified", "Conditional requests answered 304.", registry=registry)
        self.retries = Counter("ghcrawl_retries", "Tasks put back for another attempt.", ["reason"], registry=registry)
        self.waits = Counter("ghcrawl_rate_limit_waits", "Rate-limit answers, by kind.", ["kind"], registry=registry)
        self.failures = Counter("ghcrawl_failures", "Tasks given up, by reason.", ["reason"], registry=registry)
        self.rows = Counter("ghcrawl_rows_stored", "Rows written, by table.", ["table"], registry=registry)
        self.remaining = Gauge("ghcrawl_rate_limit_remaining", "Primary budget left, per account (token hash).",
                               ["budget"], registry=registry)
        self.reset = Gauge("ghcrawl_rate_limit_reset_timestamp_seconds", "When each account's budget refills.",
                           ["budget"], registry=registry)
        self.frontier = Gauge("ghcrawl_frontier_tasks", "Frontier tasks by state, depth and kind.",
                              ["state", "depth", "kind"], registry=registry)
        self.stored = Gauge("ghcrawl_stored", "Rows in the database, by table.", ["table"], registry=registry)
        self.in_flight = Gauge("ghcrawl_in_flight", "Requests in flight.", registry=registry)
        self.concurrency = Gauge("ghcrawl_concurrency", "Current adaptive concurrency cap.", registry=registry)
        self.outage = Gauge("ghcrawl_outage", "1 while the API is out and fetching is paused.", registry=registry)
        self.outages = Counter("ghcrawl_outages", "API outages waited out (or being waited out).",
                               registry=registry)

    def __getattr__(self, name: str) -> Any:
        # Reached only when disabled (enabled sets every metric): each metric is the inert one.
        if name.startswith("_"):
            raise AttributeError(name)
        return _INERT

    def answered(self, url: str, status: int | str, seconds: float) -> None:
        """Count one exchange with GitHub."""
        if not self.enabled:
            return
        endpoint = endpoint_of(url)
        key = (endpoint, str(status))
        children = self._children.get(key)
        if children is None:  # labels() takes a lock and checks its values: once per pair is enough
            children = self._children[key] = (self.requests.labels(*key), self.latency.labels(endpoint))
        children[0].inc()
        children[1].observe(seconds)
        if status == 304:
            self.not_modified.inc()


def reason_class(reason: str) -> str:
    """Collapse a free-text failure reason into a small label set."""
    lowered = reason.lower()
    for needle, label in (("tls", "tls"), ("timeout", "timeout"), ("connection", "connection"),
                          ("bad api body", "bad_body"), ("bad api answer", "bad_body"), ("body over", "oversized"), ("http 5", "server_error"), ("redirect", "redirect"),
                          ("internal error", "internal"), ("http ", "http_error")):
        if needle in lowered:
            return label
    return "other"
