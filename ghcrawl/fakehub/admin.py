"""The hub's own control paths under /__fakehub/, never charged or faulted."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted.web.server import Request

from ghcrawl.fakehub.api import dumps
from ghcrawl.fakehub.limits import Quota

if TYPE_CHECKING:
    from ghcrawl.fakehub.hub import FakeHub

_OTHER_RESOURCES = {
    "search": 30, "graphql": 5000, "integration_manifest": 5000, "source_import": 100,
    "code_scanning_upload": 1000, "actions_runner_registration": 10000, "scim": 15000,
    "dependency_snapshots": 100,
}


def rate_limit_body(quota: Quota) -> dict[str, Any]:
    """GET /rate_limit, shaped like the recorded 2023 answer."""
    core = {"limit": quota.limit, "used": quota.used, "remaining": quota.remaining,
            "reset": quota.reset}
    resources: dict[str, Any] = {"core": core}
    for name, limit in _OTHER_RESOURCES.items():
        resources[name] = {"limit": limit, "used": 0, "remaining": limit, "reset": quota.reset}
    return {"resources": resources, "rate": dict(core)}


def _arg(request: Request, name: bytes, default: str) -> str:
    args: dict[bytes, list[bytes]] = request.args or {}
    values = args.get(name) or [default.encode()]
    return values[0].decode()


def render(hub: FakeHub, request: Request, path: str) -> bytes:
    """Stats, stats reset, mutation, outages and broken paths; anything else is a 404.

    ``POST /__fakehub/outage?status=503&seconds=45`` answers 503 to every API
    request (``/rate_limit`` too) for 45 s; ``POST /__fakehub/break?path=/repos/o/r/contributors&status=502``
    makes one path fail until it is posted again with ``status=0``.
    """
    request.setHeader(b"content-type", b"application/json; charset=utf-8")
    try:
        return _act(hub, request, path)
    except ValueError as e:
        request.setResponseCode(400)
        return dumps({"message": str(e)})


def _act(hub: FakeHub, request: Request, path: str) -> bytes:
    action = (request.method, path.rstrip("/"))
    if action == (b"GET", "/__fakehub/stats"):
        return dumps(hub.stats())
    if action == (b"POST", "/__fakehub/reset-stats"):
        hub.reset_stats()
        return dumps(hub.stats())
    if action == (b"POST", "/__fakehub/outage"):
        status, seconds = int(_arg(request, b"status", "503")), float(_arg(request, b"seconds", "3600"))
        hub.breakage.outage(status, seconds, hub.clock.seconds())
        return dumps({"status": status, "seconds": seconds})
    if action == (b"POST", "/__fakehub/break"):
        path, status = _arg(request, b"path", ""), int(_arg(request, b"status", "502"))
        hub.breakage.break_path(path, status)
        return dumps({"path": path, "status": status})
    if action == (b"POST", "/__fakehub/mutate"):
        share = float(_arg(request, b"share", "0.1"))
        seed = int(_arg(request, b"seed", "2"))
        return dumps(hub.mutate(share=share, seed=seed))
    if action == (b"POST", "/__fakehub/app/expire-tokens") and hub.app is not None:
        return dumps({"expired": hub.app.expire_tokens(hub.clock.seconds())})
    if action == (b"POST", "/__fakehub/app/install") and hub.app is not None:
        return dumps({"installed": hub.app.install()})
    if action == (b"POST", "/__fakehub/app/uninstall") and hub.app is not None:
        return dumps({"uninstalled": hub.app.uninstall(int(_arg(request, b"id", "0")))})
    request.setResponseCode(404)
    return dumps({"message": "Not Found"})
