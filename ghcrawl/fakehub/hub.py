"""The fakehub resource: GitHub's manners (budgets, limits, faults, latency)
wrapped around the pure answers of :mod:`ghcrawl.fakehub.api`.

It answers synchronously when there is no latency, so it works under
treq's StubTreq, and through ``clock.callLater`` otherwise.
"""

from __future__ import annotations

import hashlib
import random
import zlib
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any

from attrs import frozen
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from ghcrawl.fakehub import admin, errors
from ghcrawl.fakehub.api import Api, Reply, dumps, endpoint_of
from ghcrawl.fakehub.app import AppHub
from ghcrawl.fakehub.breakage import Breakage
from ghcrawl.fakehub.graph import Graph
from ghcrawl.fakehub.knobs import Knobs
from ghcrawl.fakehub.limits import Budgets
from ghcrawl.fakehub.stats import Stats

_JSON = (b"content-type", b"application/json; charset=utf-8")
_VERSION = (b"x-github-api-version-selected", b"2022-11-28")
Headers = list[tuple[bytes, bytes]]


@frozen
class Outcome:
    """Everything needed to write one response, decided when the request arrives."""

    status: int
    headers: Headers
    body: bytes | None
    fault: str | None = None


@frozen
class Caller:
    """Who a request is charged to, and how GitHub would name them in a 403."""

    key: str
    limit: int
    who: str
    authenticated: bool
    login: str = ""
    user_id: int = 0
    #: ETags vary with the token on GitHub; the fakehub acts that out for installation tokens.
    etag_salt: str = ""


class FakeHub(Resource):
    """An offline GitHub REST API over a synthetic graph."""

    isLeaf = True
    _log = Logger()

    def __init__(self, graph: Graph, clock: IReactorTime, knobs: Knobs | None = None,
                 app: AppHub | None = None, request_log: Callable[[str], object] | None = None) -> None:
        super().__init__()
        self.graph = graph
        self.clock = clock
        self.knobs = knobs or Knobs()
        self.app = app
        self.api = Api(graph, self.knobs.public_emails)
        self._request_log = request_log
        self.budgets = Budgets(self.knobs.rate_window)
        self.breakage = Breakage()
        self._stats = Stats()
        self._seq = 0
        self._rid_suffix = b":%08X" % self.knobs.fault_seed
        #: Callers by Authorization header while the graph keeps its version (tokens outside an App).
        self._callers: dict[bytes, tuple[int, Caller | None]] = {}
        self._latency_rng = random.Random(f"{self.knobs.fault_seed}:latency")

    @property
    def resource(self) -> FakeHub:
        """The IResource to serve; the hub is its own resource."""
        return self

    def stats(self) -> dict[str, Any]:
        """The same dict GET /__fakehub/stats answers."""
        stats = self._stats.as_dict()
        stats["closed_windows"] = list(self.budgets.closed[-1000:])
        if self.app is not None:
            stats["app"] = self.app.stats()
        return stats

    def reset_stats(self) -> None:
        """Zeroes the counters, e.g. between benchmark phases."""
        self._stats.reset()

    def mutate(self, share: float = 0.1, seed: int = 2) -> dict[str, Any]:
        """Drifts the graph; cached answers drop on the next request."""
        changed = self.graph.mutate(share=share, seed=seed)
        self._log.info("mutated graph: {changed}", changed=changed)
        return changed

    def render(self, request: Request) -> bytes | int:
        path = request.path.decode("utf-8", "replace")
        if path.startswith("/__fakehub/"):
            return admin.render(self, request, path)
        endpoint = endpoint_of(path)
        if self._request_log is not None:
            self._request_log(f"{self.clock.seconds():.6f} {request.uri.decode('utf-8', 'replace')}\n")
        self._seq += 1
        self._stats.begin(endpoint, self.clock.seconds())
        outcome = self._decide(request, path, endpoint, self._seq)
        self._deliver(request, outcome)
        return NOT_DONE_YET

    def _request_id(self, seq: int) -> bytes:
        mixed = (seq * 2654435761) & 0xFFFFFFFF
        return b"%04X:%04X:%X:%X" % (mixed >> 16, mixed & 0xFFFF, seq, seq * 7) + self._rid_suffix

    def _caller(self, request: Request) -> Caller | None:
        """Resolves the token to a budget key; None means bad credentials."""
        header = request.getHeader(b"authorization")
        if not header:
            peer = request.getClientAddress()
            return Caller("anonymous", self.knobs.unauth_rate_limit,
                          getattr(peer, "host", "127.0.0.1"), False)
        if self.app is not None:
            return self._token_caller(header)
        version = self.graph.version
        known = self._callers.get(header)
        if known is None or known[0] != version:
            if len(self._callers) >= 10_000:
                self._callers.clear()
            known = self._callers[header] = (version, self._token_caller(header))
        return known[1]

    def _token_caller(self, header: bytes) -> Caller | None:
        """The caller a token names: an App installation, a configured user, or itself."""
        scheme, _, token = header.decode("latin-1").strip().partition(" ")
        token = token.strip()
        if scheme.lower() not in ("token", "bearer") or not token:
            return None
        if self.app is not None and self.app.knows(token):
            installation = self.app.installation_of(token, self.clock.seconds())
            if installation is None:
                return None
            return Caller(f"installation:{installation}", self.app.rate_limit, f"installation ID {installation}",
                          True, f"installation-{installation}", installation, etag_salt=token)
        if self.knobs.tokens and token not in self.knobs.tokens:
            return None
        owner = self.knobs.tokens.get(token, token)
        user = self.graph.user_by_login(owner)
        number = user.id if user is not None else zlib.crc32(owner.encode()) % 90_000_000 + 10_000_000
        return Caller(f"user:{owner}", self.knobs.rate_limit, f"user ID {number}", True, owner, number)

    def _decide(self, request: Request, path: str, endpoint: str, seq: int) -> Outcome:
        """Applies GitHub's checks in its order and settles the charge."""
        now = self.clock.seconds()
        rid = self._request_id(seq)
        base: Headers = [_JSON, (b"x-github-request-id", rid), _VERSION]
        if not request.getHeader(b"user-agent"):
            return Outcome(403, base, dumps(errors.no_user_agent()))
        broken = self.breakage.answer(path, now)
        if broken is not None:
            self._stats.faults += 1
            return Outcome(broken, base, dumps(errors.server_error(broken)))
        if self.app is not None and (path == "/app" or path.startswith("/app/")):
            return self._app_answer(request, path, base, now)
        caller = self._caller(request)
        if caller is None:
            return Outcome(401, base, dumps(errors.bad_credentials()))
        quota = self.budgets.quota(caller.key, caller.limit, now)
        if endpoint == "rate_limit":
            return Outcome(200, base + quota.headers(), dumps(admin.rate_limit_body(quota)))
        if self.budgets.waiting(caller.key, now):
            if self.budgets.sent_while_told(caller.key, now, self.knobs.secondary_grace):
                self._stats.secondary_violations += 1
            return self._secondary(base, quota, rid)
        if quota.remaining == 0:
            self._stats.violations += 1
            return Outcome(403, base + quota.headers(), dumps(errors.primary(caller.who)))
        if path.rstrip("/") == "/user":
            return self._authenticated_user(caller, base, now)
        if self._secondary_due(seq):
            self._stats.secondary_limited += 1
            wait = self.knobs.secondary_retry_after or self.knobs.secondary_wait
            self.budgets.hold(caller.key, now + wait, now)
            return self._secondary(base, quota, rid)
        fault = self._fault(seq)
        if fault in ("500", "502", "503"):
            self._stats.faults += 1
            status = int(fault)
            return Outcome(status, base + quota.headers(), dumps(errors.server_error(status)), fault)
        return self._answer(request, path, caller, base, fault, now)

    def _answer(self, request: Request, path: str, caller: Caller, base: Headers,
                fault: str | None, now: float) -> Outcome:
        """The graph's answer, a 304 for a matching ETag, and the charge."""
        scheme = "https" if request.isSecure() else "http"
        host = (request.getHeader(b"host") or b"localhost").decode("latin-1")
        _, _, query = request.uri.decode("utf-8", "replace").partition("?")
        if request.method not in (b"GET", b"HEAD"):
            path = "/__unsupported__" + path
        reply = _salted(self.api.answer(f"{scheme}://{host}", path, query), caller.etag_salt)
        conditional = request.getHeader(b"if-none-match")
        if fault is not None:
            self._stats.faults += 1
        elif reply.etag is not None and (_matches(conditional, reply.etag) if conditional
                                         else _unmodified(request.getHeader(b"if-modified-since"), reply)):
            self._stats.not_modified += 1
            if not caller.authenticated:
                self._charge(caller, now)
            quota = self.budgets.quota(caller.key, caller.limit, now)
            return Outcome(304, base + list(reply.headers) + quota.headers(), None)
        if fault is None:
            self._charge(caller, now)
        quota = self.budgets.quota(caller.key, caller.limit, now)
        return Outcome(reply.status, base + list(reply.headers) + quota.headers(), reply.body, fault)

    def _app_answer(self, request: Request, path: str, base: Headers, now: float) -> Outcome:
        """The App endpoints: authenticated by the App's JWT, never charged to a budget."""
        assert self.app is not None
        scheme = "https" if request.isSecure() else "http"
        host = (request.getHeader(b"host") or b"localhost").decode("latin-1")
        _, _, query = request.uri.decode("utf-8", "replace").partition("?")
        authorization = (request.getHeader(b"authorization") or b"").decode("latin-1")
        status, body, extra = self.app.answer(request.method, path, query, authorization,
                                              f"{scheme}://{host}", now)
        return Outcome(status, base + extra, dumps(body))

    def _authenticated_user(self, caller: Caller, base: Headers, now: float) -> Outcome:
        """``GET /user``: who the token belongs to (how a client groups tokens by account)."""
        if not caller.authenticated:
            body: dict[str, Any] = {"message": "Requires authentication", "documentation_url": "https://docs.github.com/rest/users/users#get-the-authenticated-user", "status": "401"}
            return Outcome(401, base, dumps(body))
        self._charge(caller, now)
        quota = self.budgets.quota(caller.key, caller.limit, now)
        body = {"login": caller.login, "id": caller.user_id, "type": "User"}
        return Outcome(200, base + quota.headers(), dumps(body))

    def _charge(self, caller: Caller, now: float) -> None:
        self.budgets.charge(caller.key, now)
        self._stats.charged += 1

    def _secondary(self, base: Headers, quota: Any, rid: bytes) -> Outcome:
        headers = base + quota.headers()
        if self.knobs.secondary_retry_after is not None:
            headers.append((b"retry-after", b"%d" % self.knobs.secondary_retry_after))
        return Outcome(self.knobs.secondary_status, headers, dumps(errors.secondary(rid.decode())))

    def _secondary_due(self, seq: int) -> bool:
        every, most = self.knobs.secondary_every, self.knobs.secondary_concurrency
        return bool(every and seq % every == 0) or bool(most and self._stats.in_flight > most)

    def _fault(self, seq: int) -> str | None:
        """Draws faults from (fault_seed, request number) so runs repeat exactly."""
        if self.knobs.fault_rate <= 0 or not self.knobs.faults:
            return None
        rng = random.Random(f"{self.knobs.fault_seed}:fault:{seq}")
        return rng.choice(self.knobs.faults) if rng.random() < self.knobs.fault_rate else None

    def _deliver(self, request: Request, outcome: Outcome) -> None:
        """Writes now, or after the configured latency unless the client left."""
        self._stats.by_status[str(outcome.status)] += 1
        delay = self.knobs.latency + self.knobs.jitter * self._latency_rng.random()
        if outcome.fault == "stall":
            delay += self.knobs.stall
        if delay <= 0:
            request.notifyFinish().addBoth(self._finished, None)
            _write(request, outcome)
        else:
            call = self.clock.callLater(delay, _write, request, outcome)
            request.notifyFinish().addBoth(self._finished, call)

    def _finished(self, result: object, call: IDelayedCall | None) -> None:
        """Ends the request's count; a client that left cancels the answer still waiting."""
        self._stats.end(self.clock.seconds())
        if isinstance(result, Failure) and call is not None and call.active():
            call.cancel()


def _salted(reply: Reply, salt: str) -> Reply:
    """The reply with an ETag that depends on the token too, as GitHub's do."""
    if not salt or reply.etag is None:
        return reply
    etag = b'"' + hashlib.sha256(reply.etag + salt.encode()).hexdigest().encode() + b'"'
    headers = tuple((name, etag if name == b"etag" else value) for name, value in reply.headers)
    return Reply(reply.status, reply.body, reply.endpoint, headers, etag)


def _unmodified(since: bytes | str | None, reply: Reply) -> bool:
    """If-Modified-Since (only without If-None-Match): unchanged when not newer than the date sent."""
    if not since:
        return False
    modified = dict(reply.headers).get(b"last-modified")
    if modified is None:
        return False
    try:
        sent = parsedate_to_datetime(since.decode("latin-1") if isinstance(since, bytes) else since)
        return parsedate_to_datetime(modified.decode("latin-1")) <= sent
    except (TypeError, ValueError, IndexError):
        return False


def _matches(header: bytes | str, etag: bytes) -> bool:
    """If-None-Match may list several tags, weak or strong, or be ``*``."""
    header = header.encode() if isinstance(header, str) else header
    tags = [t.strip().removeprefix(b"W/") for t in header.split(b",")]
    return etag in tags or b"*" in tags


def _write(request: Request, outcome: Outcome) -> None:
    """Sends the outcome, acting out a connection fault when one was drawn."""
    if request.finished or getattr(request, "_disconnected", False):
        return
    request.setResponseCode(outcome.status)
    for name, value in outcome.headers:
        request.setHeader(name, value)
    body = outcome.body if outcome.body is not None else b""
    if outcome.fault == "reset":
        request.setHeader(b"content-length", b"%d" % max(len(body), 2))
        request.write(body[: len(body) // 2])
        if request.transport is not None:
            request.transport.abortConnection()  # type: ignore[attr-defined]
        return
    if outcome.fault == "truncate":
        request.setHeader(b"connection", b"close")
        request.write(body[: len(body) // 2] or b"[")
        request.finish()
        return
    if outcome.fault == "malformed":
        body = b'{"message": "fakehub malformed body", ' + body[:40]
    if outcome.status not in (204, 304):
        request.setHeader(b"content-length", b"%d" % len(body))
        request.write(body)
    request.finish()
