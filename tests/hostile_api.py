"""A hostile API server for tests: huge, bombed, overfull and over-linked answers, on 127.0.0.1.

Run as ``python -m tests.hostile_api PORT_FILE``. It streams its huge bodies
from small buffers, so its own memory stays small too.
"""

from __future__ import annotations

import json
import struct
import sys
import zlib
from typing import Any

from twisted.internet import reactor
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request, Site

CHUNK = b" " * 65536
HUGE = 400 * 1024 * 1024
BOMB = 1024 * 1024 * 1024
PROFILE = {"type": "User", "name": None, "company": None, "blog": "", "location": None, "bio": None,
           "public_repos": 0, "followers": 0, "following": 0,
           "created_at": "2020-01-01T00:00:00Z", "updated_at": "2020-01-01T00:00:00Z"}
LOGINS = {"good": 1, "huge": 2, "declared": 3, "bomb": 4, "many": 5, "linky": 6}


def gzip_bomb() -> bytes:
    """1 GiB of spaces as one gzip member of about 1 MB, built in a fraction of a second.

    Once deflate's window is all spaces, every further MiB of spaces compresses
    to the same bytes after a sync flush, so one such block is repeated.
    """
    block = CHUNK * 16
    squeeze = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    first = squeeze.compress(block) + squeeze.flush(zlib.Z_SYNC_FLUSH)
    steady = squeeze.compress(block) + squeeze.flush(zlib.Z_SYNC_FLUSH)
    crc = 0
    for _ in range(BOMB // len(block)):
        crc = zlib.crc32(block, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03"
    body = first + steady * (BOMB // len(block) - 1) + squeeze.flush()
    return header + body + struct.pack("<II", crc, BOMB & 0xFFFFFFFF)


class Spaces:
    """A pull producer writing ``total`` spaces, 64 KiB at a time, until done or disconnected."""

    def __init__(self, request: Request, total: int) -> None:
        self.request, self.left = request, total
        request.notifyFinish().addErrback(lambda _: self.stopProducing())

    def resumeProducing(self) -> None:
        if self.left <= 0:
            return
        self.left -= len(CHUNK)
        self.request.write(CHUNK)
        if self.left <= 0:
            self.request.unregisterProducer()
            self.request.finish()

    def stopProducing(self) -> None:
        self.left = 0


class Hostile(Resource):
    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.bomb = gzip_bomb()
        self.sent: dict[str, int] = {}

    def render_GET(self, request: Request) -> Any:
        path = request.uri.decode()
        self.sent[path] = self.sent.get(path, 0) + 1
        request.setHeader(b"content-type", b"application/json; charset=utf-8")
        for name, value in (("limit", "5000"), ("remaining", "4999"), ("reset", "9999999999")):
            request.setHeader(f"x-ratelimit-{name}".encode(), value.encode())
        login = path.split("/")[2] if path.startswith("/users/") else ""
        if path == "/rate_limit":
            return json.dumps({"resources": {"core": {"limit": 5000, "remaining": 4999}}}).encode()
        if path == "/__stats":
            return json.dumps(self.sent).encode()
        if path in ("/users/huge", "/users/declared"):
            if login == "declared":
                request.setHeader(b"content-length", str(HUGE).encode())
            request.registerProducer(Spaces(request, HUGE), False)
            return NOT_DONE_YET
        if path == "/users/bomb":
            request.setHeader(b"content-encoding", b"gzip")
            return self.bomb
        if path == f"/users/{login}" and login in LOGINS:
            return json.dumps({**PROFILE, "login": login, "id": LOGINS[login]}).encode()
        if path == "/users/many/repos?per_page=100":
            return json.dumps([{"id": i} for i in range(101)]).encode()
        if path == "/users/linky/repos?per_page=100":
            request.setHeader(b"link", b"<" + b"/x" * 5120 + b'>; rel="next"')
            return b"[]"
        if path.endswith("/repos?per_page=100"):
            return b"[]"
        request.setResponseCode(404)
        return b'{"message": "Not Found"}'


def main(port_file: str) -> None:
    port = reactor.listenTCP(0, Site(Hostile()), interface="127.0.0.1")  # type: ignore[attr-defined]
    with open(port_file, "w") as f:
        f.write(str(port.getHost().port))
    reactor.run()  # type: ignore[attr-defined]


if __name__ == "__main__":
    main(sys.argv[1])
