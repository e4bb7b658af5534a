"""The only module that reads GitHub's answers: statuses, headers and raw JSON become typed results.

(``ghcrawl.agent`` beneath treq only frames the bytes of HTTP/1.1; what they mean is decided here.)

Every request carries GitHub's required headers, is bounded by one timeout that
covers the body as well as the headers, and reports what it learnt about the
budget to the pacer. Classification follows GitHub's documented answers (see the
README's "Rate limits" section): a 403 is a rate limit only when its headers or
message say so, and is otherwise a final answer, never retried blindly.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

from attrs import frozen
from hyperlink import EncodedURL
from treq.client import HTTPClient
from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.web.http_headers import Headers
from twisted.web.iweb import IAgent, IResponse

from ghcrawl import __version__
from ghcrawl.bounds import DEFAULT_MAX_BODY_BYTES, check_items, check_link, read_body
from ghcrawl.cookies import NoCookies
from ghcrawl.credentials import Credential
from ghcrawl.errors import AppRejected, BadCredentials, FetchError, RateLimited
from ghcrawl.metrics import Metrics
from ghcrawl.ratelimit import RESET_MARGIN, Budget, Pacer, RateInfo, parse_rate_headers, parse_retry_after

API_VERSION = "2022-11-28"
USER_AGENT = f"ghcrawl/{__version__}"
_LINK_RE = re.compile(r'<([^>]*)>\s*;\s*rel="?([^",;]+)"?')
_REDIRECTS = {301, 302, 307, 308}
#: What a URL's path and query may hold for hyperlink's ``to_uri()`` to leave it unchanged
#: (no space, quote, bracket, fragment or other character it would percent-encode).
_WIRE_READY = re.compile(r"[A-Za-z0-9\-._~:/?@!$&'()*+,;=%]*")


def parse_link(header: str | None) -> dict[str, str]:
    """Map each ``rel`` of a ``Link`` header to its URL."""
    links: dict[str, str] = {}
    for url, rels in _LINK_RE.findall(header or ""):
        for rel in rels.split():
            links.setdefault(rel, url)
    return links


@frozen
class Fetched:
    """A 200 with its decoded JSON body and what it says about the next page."""

    body: Any
    next_url: str | None
    etag: str | None
    last_modified: str | None


@frozen
class NotModified:
    """A 304: the stored copy is current (and the request cost nothing)."""


@frozen
class Final:
    """An answer that is an outcome, not an error: recorded, never retried."""

    outcome: str  # not_found, empty, blocked, too_large, forbidden, gone
    message: str


@frozen
class Moved:
    """A 301/307 for a renamed or transferred repository: the work continues there."""

    location: str


Result = Fetched | NotModified | Final | Moved


@frozen
class Validators:
    """What a conditional request sends back: the stored ETag and Last-Modified."""

    etag: str | None = None
    last_modified: str | None = None


class GitHub:
    """Fetches one URL of the GitHub API and classifies the answer.

    Requests go through treq's ``HTTPClient`` over the given agent (in production
    ``ghcrawl.agent.LeanAgent``, over kept-alive connections), with headers built once per token and a
    cookie jar that keeps nothing: a GitHub API client needs no cookies, and the
    standard jar's per-request work was a large share of a request's CPU.
    """

    def __init__(
        self,
        agent: IAgent,
        clock: IReactorTime,
        pacer: Pacer,
        base_url: str,
        timeout: float = 30.0,
        metrics: Metrics | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        # Handing the same empty jar in as ``cookies`` spares treq a new jar per request.
        self._no_cookies = NoCookies()
        self._http = HTTPClient(agent, cookiejar=self._no_cookies)
        self._clock = clock
        self._pacer = pacer
        self.base_url = base_url.rstrip("/")
        self._netloc = urlsplit(self.base_url).netloc
        parts = urlsplit(self.base_url)
        self._origin = f"{parts.scheme}://{parts.netloc}/"
        self._host = _host_header(parts.scheme, parts.hostname or "", parts.port)
        # An origin hyperlink leaves as it is (a lower-case host in ASCII) lets URLs on it skip treq's pass.
        self._origin_ready = EncodedURL.from_text(self._origin).to_uri().to_text() == self._origin
        self._timeout = timeout
        self._metrics = metrics
        self._headers: dict[str | None, Headers] = {}
        self._max_body_bytes = max_body_bytes

    def absolute(self, url: str) -> str:
        """Resolve a stored (possibly relative) URL against the API base."""
        # Stored paths are plain absolute paths: joining is concatenation (urljoin cost more).
        return self.base_url + "/" + url.lstrip("/") if url.startswith("/") else url

    def relative(self, url: str) -> str:
        """Store URLs on our API host as paths, so a moved base keeps the frontier valid."""
        return url[len(self.base_url) :] if url.startswith(self.base_url + "/") else url

    async def fetch(
        self, url: str, budget: Budget, cred: Credential | None, cached: Validators | None = None
    ) -> Result:
        """GET ``url`` paid by ``budget``; the caller has already counted it in flight."""
        target = self.absolute(url)
        if not target.startswith(self._origin) and urlsplit(target).netloc != self._netloc:
            self._pacer.answered(budget, None, clean=False)
            raise FetchError(f"refusing a URL off the API host: {target[:200]}", retryable=False)
        status, headers, body = await self._exchange(target, cred, cached, budget)
        if status in _REDIRECTS:
            self._pacer.answered(budget, _rate(headers), clean=True)
            location = _header(headers, "location")
            if not location:
                raise FetchError(f"HTTP {status} without a location", retryable=False)
            return Moved(self.relative(urljoin(target, location)))
        result = self._classify(status, headers, body, budget, cred)
        if isinstance(result, Fetched):
            check_items(result.body, target)
        return result

    def _wire(self, url: str) -> EncodedURL | bytes:
        """The URL as treq should take it: already in wire form when it is, so treq skips its pass."""
        start = len(self._origin)
        if self._origin_ready and url.startswith(self._origin) and _WIRE_READY.fullmatch(url, start) \
                and not url.endswith("?"):
            return OnTheWire(url)
        return _url_bytes(url)

    def _read(self, response: IResponse) -> Deferred[tuple[int, Headers, bytes]]:
        """The whole body, within the size cap, with the status and headers it came with."""
        return read_body(response, self._max_body_bytes).addCallback(_answer, response)

    def _request_headers(self, cred: Credential | None, cached: Validators | None) -> Headers:
        """GitHub's required headers and the token, built once per token; validators per request."""
        token = cred.token if cred is not None else None
        base = self._headers.get(token)
        if base is None:
            if len(self._headers) > 16:  # renewed tokens (GitHub App) replace old ones
                self._headers.clear()
            base = self._headers[token] = Headers(
                {
                    b"User-Agent": [USER_AGENT.encode()],
                    b"Accept": [b"application/vnd.github+json"],
                    b"X-GitHub-Api-Version": [API_VERSION.encode()],
                    # Every URL fetched is on the API host (fetch refuses others); a Host
                    # header given spares the agent a copy of the headers per request.
                    b"Host": [self._host],
                }
            )
            if token is not None:
                base.setRawHeaders(b"Authorization", [f"Bearer {token}".encode()])
        validator = _conditional(cached, cred) if cached is not None else {}
        if not validator:
            return base  # the agents copy before adding theirs, so sharing is safe
        headers = base.copy()
        for name, values in validator.items():
            headers.setRawHeaders(name, values)
        return headers

    async def _exchange(
        self, url: str, cred: Credential | None, cached: Validators | None, budget: Budget
    ) -> tuple[int, Headers, bytes]:
        started = self._clock.seconds()
        # Unbuffered: treq would otherwise read (and inflate) the whole body before the cap is seen.
        attempt: Deferred[tuple[int, Headers, bytes]] = self._http.request(
            "GET", self._wire(url), headers=self._request_headers(cred, cached), cookies=self._no_cookies,
            allow_redirects=False, unbuffered=True,
        ).addCallback(self._read)
        attempt.addTimeout(self._timeout, self._clock)
        try:
            answer = await attempt
        except CancelledError:
            self._pacer.answered(budget, None, clean=False)
            raise
        except Exception as e:
            self._pacer.answered(budget, None, clean=False)
            if self._metrics is not None:
                self._metrics.answered(url, "error", self._clock.seconds() - started)
            if isinstance(e, FetchError):
                raise  # the body was over the cap or broken: its reason says so
            if _tls_failure(e):
                # A certificate problem does not heal by retrying: say what to do.
                raise FetchError(
                    f"TLS verification of {urlsplit(url).netloc} failed ({_describe(e)}); "
                    "set ca_file to the CA that signed it", retryable=False) from None
            raise FetchError(f"connection: {_describe(e)}", outage=True) from None
        if self._metrics is not None:
            self._metrics.answered(url, answer[0], self._clock.seconds() - started)
        return answer

    async def app_call(self, method: str, url: str, token: str) -> Fetched:
        """Call an App endpoint with the App's JWT; these are paid by the App, not by a budget."""
        headers = Headers({
            b"User-Agent": [USER_AGENT.encode()], b"Accept": [b"application/vnd.github+json"],
            b"X-GitHub-Api-Version": [API_VERSION.encode()], b"Authorization": [f"Bearer {token}".encode()],
        })
        attempt: Deferred[tuple[int, Headers, bytes]] = self._http.request(
            method, self._wire(self.absolute(url)), headers=headers, cookies=self._no_cookies,
            allow_redirects=False, unbuffered=True,
        ).addCallback(self._read)
        attempt.addTimeout(self._timeout, self._clock)
        try:
            status, answer_headers, body = await attempt
        except (CancelledError, FetchError):
            raise
        except Exception as e:
            raise FetchError(f"connection: {_describe(e)}", outage=True) from None
        if status in (200, 201):
            return Fetched(_decode(body), parse_link(check_link(_header(answer_headers, "link"))).get("next"),
                           None, None)
        if status in (401, 403, 404) and _rate_limit_kind(answer_headers, body) is None:
            raise AppRejected(status, _message(body))
        raise FetchError(f"HTTP {status} {_message(body)}", retryable=status >= 500 or status in (403, 408, 429),
                         outage=status >= 500)

    def _classify(
        self, status: int, headers: Headers, body: bytes, budget: Budget, cred: Credential | None
    ) -> Result:
        rate = _rate(headers)
        limited = status in (403, 429) and _rate_limit_kind(headers, body) is not None
        self._pacer.answered(budget, rate, clean=status < 500 and not limited)
        if status == 200:
            return Fetched(
                body=_decode(body),
                next_url=parse_link(check_link(_header(headers, "link"))).get("next"),
                etag=_header(headers, "etag"),
                last_modified=_header(headers, "last-modified"),
            )
        if status == 304:
            return NotModified()
        if status == 204:
            return Final("empty", "204 No Content")
        if status == 401:
            raise BadCredentials(cred.token_id if cred else "anonymous")
        if status in (403, 429):
            return self._forbidden(status, headers, body, budget)
        final = {404: "not_found", 410: "gone", 451: "blocked"}.get(status)
        if final:
            return Final(final, f"{status} {_message(body)}")
        retryable = status >= 500 or status in (202, 408)
        raise FetchError(f"HTTP {status} {_message(body)}", retryable=retryable, outage=status >= 500)

    async def probe(self, cred: Credential | None) -> str | None:
        """Ask the free ``/rate_limit`` whether the API answers: None if it does, else why not."""
        try:
            await self.fetch("/rate_limit", Budget("probe", in_flight=1), cred)
        except FetchError as e:
            return e.reason if e.outage else None
        except (RateLimited, BadCredentials):
            return None
        return None

    def _forbidden(self, status: int, headers: Headers, body: bytes, budget: Budget) -> Result:
        now = self._clock.seconds()
        kind = _rate_limit_kind(headers, body)
        retry_after = parse_retry_after(_header(headers, "retry-after"), now)
        if kind == "secondary":
            until = self._pacer.secondary_limited(now, retry_after, budget)
            raise RateLimited(until, f"{status} secondary rate limit", secondary=True)
        if kind == "primary":
            rate = _rate(headers)
            reset = rate.reset_at if rate else now + 60.0
            until = now + retry_after if retry_after is not None else reset + RESET_MARGIN
            budget.spent(until)
            raise RateLimited(until, f"{status} primary rate limit", secondary=False)
        message = _message(body)
        if "too large to list contributors" in message:
            return Final("too_large", message)
        return Final("forbidden", f"{status} {message}")


class OnTheWire(EncodedURL):
    """A URL already in the form treq sends: its ``to_uri()`` and ``to_text()`` cost nothing.

    treq turns every URL it is given into its wire form through hyperlink: a parse,
    an IDNA pass over the host and a percent-encoding pass over every part, about a
    tenth of a request's CPU. ``GitHub._wire`` hands over only URLs that pass would
    leave unchanged. Anything else asked of it is answered by a URL parsed on demand.
    """

    def __init__(self, text: str) -> None:  # the parts are parsed only if asked for
        self._text = text

    def to_uri(self) -> OnTheWire:
        return self

    def to_text(self, with_password: bool = False) -> str:
        return self._text

    def __getattr__(self, name: str) -> Any:
        if name == "_text":
            raise AttributeError(name)
        return getattr(EncodedURL.from_text(self._text), name)


def _answer(body: bytes, response: IResponse) -> tuple[int, Headers, bytes]:
    return response.code, response.headers, body


def _host_header(scheme: str, host: str, port: int | None) -> bytes:
    """The Host header for the API origin, as Twisted's agent would compute it."""
    name = f"[{host}]" if ":" in host else host
    if port is None or (scheme, port) in (("http", 80), ("https", 443)):
        return name.encode("idna")
    return f"{name}:{port}".encode("idna")


def _url_bytes(url: str) -> bytes:
    """A URL as the agent wants it; anything outside ASCII is percent-encoded."""
    try:
        return url.encode("ascii")
    except UnicodeEncodeError:
        return quote(url, safe="/:?&=%#+@,;!$'()*[]~").encode("ascii")


def _conditional(cached: Validators, cred: Credential | None) -> dict[str | bytes, list[str | bytes]]:
    """The validator to send back: the ETag, unless it died with a short-lived token.

    GitHub's ETags vary with the ``Authorization`` header, so an ETag stored
    under an installation token that has since been renewed never matches;
    ``Last-Modified`` does not depend on the token.
    """
    renewable = cred is not None and cred.renewable
    if cached.etag and not (renewable and cached.last_modified):
        return {"If-None-Match": [cached.etag]}
    if cached.last_modified:
        return {"If-Modified-Since": [cached.last_modified]}
    return {}


def _header(headers: Headers, name: str) -> str | None:
    values = headers.getRawHeaders(name)
    return values[0] if values else None


def _rate(headers: Headers) -> RateInfo | None:
    return parse_rate_headers(
        _header(headers, "x-ratelimit-limit"),
        _header(headers, "x-ratelimit-remaining"),
        _header(headers, "x-ratelimit-reset"),
    )


def _message(body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return body[:120].decode("utf-8", "replace")
    message = data.get("message") if isinstance(data, dict) else None
    return str(message)[:300] if message is not None else ""


def _rate_limit_kind(headers: Headers, body: bytes) -> str | None:
    """Tell a primary from a secondary limit by message first, then by headers."""
    message = _message(body).lower()
    if "secondary rate limit" in message or "abuse" in message:
        return "secondary"
    if "rate limit" in message:
        return "primary"
    if _header(headers, "x-ratelimit-remaining") == "0":
        return "primary"
    if _header(headers, "retry-after") is not None:
        return "secondary"
    return None


def _decode(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise FetchError(f"bad API body: not JSON ({str(e)[:80]})") from None


def _tls_failure(error: BaseException) -> bool:
    """Tell a certificate or hostname verification failure from other connection trouble."""
    from OpenSSL.SSL import Error as SSLError

    reasons = getattr(error, "reasons", None)
    if reasons:
        return any(_tls_failure(r.value) for r in reasons)
    return isinstance(error, SSLError) or type(error).__name__ == "VerificationError"


def _describe(error: BaseException) -> str:
    reasons = getattr(error, "reasons", None)
    if reasons:
        return "; ".join(_describe(r.value) for r in reasons)
    return f"{type(error).__name__}: {str(error)[:160]}"


def tls_policy(ca_file: str | None) -> Any:
    """Verify servers against the system CAs, or only against ``ca_file`` when given.

    Both check the hostname with service-identity; ``ca_file`` serves GitHub
    Enterprise behind a private CA, and tests with their own certificate.
    """
    from twisted.web.client import BrowserLikePolicyForHTTPS

    if ca_file is None:
        return BrowserLikePolicyForHTTPS()
    from twisted.internet.ssl import Certificate, trustRootFromCertificates

    with open(ca_file, "rb") as f:
        pem = f.read()
    blocks = [b"-----BEGIN CERTIFICATE-----" + part for part in pem.split(b"-----BEGIN CERTIFICATE-----")[1:]]
    roots = trustRootFromCertificates([Certificate.loadPEM(block) for block in blocks])
    return BrowserLikePolicyForHTTPS(trustRoot=roots)
