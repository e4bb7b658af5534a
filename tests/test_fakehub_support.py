"""Shared helpers for the fakehub tests: a synchronous client over StubTreq."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from attrs import frozen
from treq.testing import StubTreq
from twisted.internet.task import Clock
from twisted.python.failure import Failure

from ghcrawl.fakehub import FakeHub, Graph, Knobs

DATA = Path(__file__).parent / "data" / "github-api"
BASE = "http://fakehub.test"
START = 1_700_000_000.0


def fixture(name: str) -> Any:
    """Loads a copied reference file; tests never read /work/shared."""
    return json.loads((DATA / name).read_text())


@frozen
class Answer:
    """A response read completely, for plain assertions."""

    code: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Client:
    """Drives a hub through StubTreq without sockets or a real reactor."""

    def __init__(self, hub: FakeHub) -> None:
        self.hub = hub
        self.stub = StubTreq(hub.resource)

    def request(self, path: str, token: str | None = None, agent: bool = True,
                method: str = "GET", headers: dict[str, str] | None = None) -> Answer:
        """Sends one request; fails the test if the hub did not answer."""
        sent = {k.encode(): [v.encode()] for k, v in (headers or {}).items()}
        if agent:
            sent[b"User-Agent"] = [b"ghcrawl-tests"]
        if token is not None:
            sent[b"Authorization"] = [f"token {token}".encode()]
        url = path if path.startswith("http") else BASE + path
        got: list[Any] = []
        self.stub.request(method, url, headers=sent, allow_redirects=False).addBoth(got.append)
        self.stub.flush()
        return self._read(got)

    def get(self, path: str, **kwargs: Any) -> Answer:
        return self.request(path, **kwargs)

    def _read(self, got: list[Any]) -> Answer:
        assert got, "no response yet"
        if isinstance(got[0], Failure):
            got[0].raiseException()
        response = got[0]
        body: list[Any] = []
        self.stub.content(response).addBoth(body.append)
        self.stub.flush()
        if isinstance(body[0], Failure):
            body[0].raiseException()
        headers = {k.decode().lower(): b", ".join(v).decode()
                   for k, v in response.headers.getAllRawHeaders()}
        return Answer(response.code, headers, body[0])


def make(users: int = 200, seed: int = 1, **knobs: Any) -> tuple[Graph, FakeHub, Client, Clock]:
    """A graph, a hub on a Clock set to a realistic epoch, and a client."""
    clock = Clock()
    clock.advance(START)
    graph = Graph(seed=seed, users=users)
    hub = FakeHub(graph, clock=clock, knobs=Knobs(**knobs))
    return graph, hub, Client(hub), clock


def links(header: str | None) -> dict[str, str]:
    """Parses a Link header into {rel: url}; empty when absent."""
    out = {}
    for part in (header or "").split(","):
        if part.strip():
            url, rel = part.split(";")
            out[rel.strip().removeprefix('rel="').removesuffix('"')] = url.strip()[1:-1]
    return out


def crawl(client: Client, seeds: list[str], max_depth: int, token: str = "t") -> dict[str, Any]:
    """A straightforward crawl following the rules truth() assumes; counts requests."""
    seen: dict[str, int] = {}
    users: dict[int, dict[str, Any]] = {}
    repos: list[dict[str, Any]] = []
    contributors: list[list[int]] = []
    count = 0
    level = []
    for login in seeds:
        if login.lower() not in seen:
            seen[login.lower()] = 0
            level.append(login)
    for depth in range(max_depth + 1):
        following = []
        for login in level:
            count += 1
            answer = client.get(f"/users/{login}", token=token)
            if answer.code == 404:
                continue
            me = answer.json()
            users[me["id"]] = {"login": me["login"], "depth": depth}
            url: str | None = f"/users/{login}/repos?per_page=100"
            listed = []
            while url:
                count += 1
                page = client.get(url, token=token)
                listed += page.json()
                url = links(page.headers.get("link")).get("next")
            for repo in listed:
                repos.append({"id": repo["id"], "owner_id": me["id"],
                              "full_name": repo["full_name"], "fork": repo["fork"]})
                if repo["fork"]:
                    continue
                url = f"/repos/{repo['full_name']}/contributors?per_page=100"
                while url:
                    count += 1
                    page = client.get(url, token=token)
                    if page.code == 301:
                        url = page.headers["location"]
                        continue
                    if page.code != 200:
                        break
                    for entry in page.json():
                        contributors.append([repo["id"], entry["id"], entry["contributions"]])
                        if entry["login"].lower() not in seen:
                            seen[entry["login"].lower()] = depth + 1
                            following.append(entry["login"])
                    url = links(page.headers.get("link")).get("next")
        level = following
    return {"requests": count, "users": users, "repos": repos, "contributors": contributors}
