"""Maps an API path to its answer, independent of budgets, faults and time.

Answers depend only on the graph, the base URL and the path with its query,
so they are rendered once and cached as bytes until the graph mutates.
"""

from __future__ import annotations

import hashlib
import json
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qsl, unquote

from attrs import frozen

from ghcrawl.fakehub import bodies, errors
from ghcrawl.fakehub.graph import Graph, Repo, User
from ghcrawl.fakehub.pages import PageRequest

_CACHE_LIMIT = 100_000
_REPO_DOC = "https://docs.github.com/rest/repos/repos#get-a-repository"
_USER_DOC = "https://docs.github.com/rest/users/users#get-a-user"


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON, as api.github.com sends it."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


@frozen
class Reply:
    """A rendered answer: status, body bytes and its endpoint-specific headers."""

    status: int
    body: bytes | None
    endpoint: str
    headers: tuple[tuple[bytes, bytes], ...] = ()
    etag: bytes | None = None


def _ok(endpoint: str, value: Any, modified: float, link: str | None = None) -> Reply:
    """A 200 with a strong ETag over the exact body bytes."""
    body = dumps(value)
    etag = b'"' + hashlib.sha256(body).hexdigest().encode() + b'"'
    headers = [(b"etag", etag), (b"last-modified", formatdate(modified, usegmt=True).encode())]
    if link:
        headers.append((b"link", link.encode()))
    return Reply(200, body, endpoint, tuple(headers), etag)


def _error(status: int, endpoint: str, value: Any, *extra: tuple[bytes, bytes]) -> Reply:
    return Reply(status, dumps(value), endpoint, tuple(extra))


def endpoint_of(path: str) -> str:
    """The stats bucket of a path, cheap enough to run before routing."""
    parts = path.strip("/").split("/")
    if parts[0] == "rate_limit" and len(parts) == 1:
        return "rate_limit"
    if parts[0] in ("users", "user") and len(parts) in (2, 3):
        return "users" if len(parts) == 2 else "user_repos"
    if parts[0] == "repos" and len(parts) in (3, 4) or parts[0] == "repositories" and len(parts) in (2, 3):
        return "contributors" if parts[-1] == "contributors" and len(parts) in (3, 4) and (
            parts[0] == "repositories" or len(parts) == 4) else "repo"
    return "other"


class Api:
    """The read-only GitHub surface over a graph, with a rendered-bytes cache."""

    def __init__(self, graph: Graph, public_emails: bool = False) -> None:
        self.graph = graph
        self.public_emails = public_emails
        self._cache: dict[tuple[str, str, str], Reply] = {}
        self._version = graph.version

    def answer(self, base: str, path: str, query: str) -> Reply:
        """The cached reply for (base, path, query), rendering it on a miss."""
        if self._version != self.graph.version or len(self._cache) > _CACHE_LIMIT:
            self._cache.clear()
            self._version = self.graph.version
        key = (base, path, query)
        reply = self._cache.get(key)
        if reply is None:
            reply = self._cache[key] = self._route(base, path, query)
        return reply

    def _route(self, base: str, path: str, query: str) -> Reply:
        parts = [unquote(p) for p in path.strip("/").split("/")]
        pairs = parse_qsl(query, keep_blank_values=True)
        head, rest = parts[0], parts[1:]
        if head in ("users", "user") and len(rest) in (1, 2):
            user = self._find_user(head, rest[0])
            if user is None or user.deleted:
                return _error(404, "users" if len(rest) == 1 else "user_repos", errors.not_found(_USER_DOC))
            if len(rest) == 1:
                return _ok("users", bodies.public_user(base, self.graph, user, self.public_emails),
                           bodies.user_times(self.graph, user)[1])
            if rest[1] == "repos":
                return self._user_repos(base, user, pairs)
        if head == "repos" and len(rest) in (2, 3) or head == "repositories" and len(rest) in (1, 2):
            return self._repo_route(base, head, rest, query, pairs)
        return _error(404, endpoint_of(path), errors.not_found())

    def _find_user(self, head: str, key: str) -> User | None:
        if head == "users":
            return self.graph.user_by_login(key)
        return self.graph.user_by_id(int(key)) if key.isdigit() else None

    def _user_repos(self, base: str, user: User, pairs: list[tuple[str, str]]) -> Reply:
        """Lists owned repos; ``type`` all/member/owner all answer the owned list."""
        wanted = PageRequest.parse(pairs)
        given = dict(pairs)
        repos = self.graph.listing(user.index)
        sort = given.get("sort", "full_name")
        if sort in ("created", "updated", "pushed"):
            field = {"created": 0, "updated": 1, "pushed": 2}[sort]
            repos.sort(key=lambda r: (bodies.repo_times(self.graph, r)[field], r.id),
                       reverse=given.get("direction", "desc") != "asc")
        elif given.get("direction") == "desc":
            repos.reverse()
        shown = wanted.slice(repos)
        items = [bodies.repository(base, self.graph, r, r.listed_name) for r in shown]
        link = wanted.link(f"{base}/user/{user.id}/repos", len(repos))
        # The page changes whenever one of its repositories does, and If-Modified-Since must see
        # that: its time moves on by a second for every version any of them has been through.
        newest = max([bodies.user_times(self.graph, user)[1]] + [bodies.repo_times(self.graph, r)[1] for r in shown])
        modified = newest + user.version + sum(r.version for r in shown)
        return _ok("user_repos", items, modified, link)

    def _repo_route(self, base: str, head: str, rest: list[str], query: str,
                    pairs: list[tuple[str, str]]) -> Reply:
        listing = rest[-1] == "contributors" and len(rest) == (3 if head == "repos" else 2)
        endpoint = "contributors" if listing else "repo"
        if head == "repos" and len(rest) == 3 and not listing:
            return _error(404, "other", errors.not_found())
        if head == "repos":
            found = self.graph.repo_by_name(rest[0], rest[1])
            repo, moved = found if found is not None else (None, False)
        else:
            repo = self.graph.repo_by_id(int(rest[0])) if rest[0].isdigit() else None
            moved = False
        if repo is None:
            return _error(404, endpoint, errors.not_found(_REPO_DOC))
        if moved:
            location = f"{base}/repositories/{repo.id}" + ("/contributors" if listing else "")
            location += f"?{query}" if query and listing else ""
            return _error(301, endpoint, errors.moved(location), (b"location", location.encode()))
        if repo.status == "dmca":
            return _error(451, endpoint, errors.dmca())
        if not listing:
            return _ok("repo", bodies.repository(base, self.graph, repo, repo.name),
                       bodies.repo_times(self.graph, repo)[1])
        return self._contributors(base, repo, pairs)

    def _contributors(self, base: str, repo: Repo, pairs: list[tuple[str, str]]) -> Reply:
        """Contributors by commits; 204 for an empty repo, 403 when too large."""
        if repo.status == "empty":
            return Reply(204, None, "contributors")
        if repo.status == "too_large":
            return _error(403, "contributors", errors.too_large())
        wanted = PageRequest.parse(pairs)
        entries: list[tuple[int, int, Any]] = [
            (-n, self.graph.user(i).id, i) for i, n in self.graph.contributors(repo)]
        if dict(pairs).get("anon") in ("1", "true"):
            entries += [(-a.contributions, 1 << 40, a) for a in self.graph.anonymous(repo)]
            entries.sort(key=lambda e: (e[0], e[1]))
        items = [
            bodies.contributor(base, self.graph.user(who), -neg, self.public_emails) if isinstance(who, int)
            else bodies.anonymous(who)
            for neg, _id, who in wanted.slice(entries)
        ]
        link = wanted.link(f"{base}/repositories/{repo.id}/contributors", len(entries))
        return _ok("contributors", items, bodies.repo_times(self.graph, repo)[2], link)
