"""What one answer may cost, for github.py: body bytes, Link header length, items per page.

Memory stays flat whatever a server sends, and an answer over a bound is
refused whole, never stored half-way. Body bytes are counted as they arrive,
after gzip decoding, and the connection is closed the moment the cap is passed.
treq inflates gzip a whole network chunk at a time, and a chunk of a gzip bomb
inflates a thousandfold, so a gzipped body is read raw from beneath treq's
decoder and inflated here in bounded steps.
"""

from __future__ import annotations

import re
import zlib
from typing import Any
from urllib.parse import parse_qs, urlsplit

from twisted.internet.defer import Deferred
from twisted.internet.protocol import Protocol, connectionDone
from twisted.python.failure import Failure
from twisted.web.client import GzipDecoder, ResponseDone
from twisted.web.http import PotentialDataLoss
from twisted.web.iweb import UNKNOWN_LENGTH, IResponse

from ghcrawl.errors import FetchError

#: What GitHub's pages weigh is well under 1 MiB; the default cap leaves ample room.
DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024
#: Most bytes inflated at once.
_STEP = 65536
#: GitHub's Link headers are a few hundred bytes; a longer one is not an answer to follow.
MAX_LINK_BYTES = 8192
#: GitHub's largest page; a page may not hold more items than its ``per_page`` asked for.
MAX_PER_PAGE = 100
#: A query in which every pair reads as written: nothing percent-encoded, no ``+``, no fragment.
_PLAIN_QUERY = re.compile(r"[A-Za-z0-9_.~=&-]*")


def check_link(link: str | None) -> str | None:
    """Pass a ``Link`` header of sane length through."""
    if link is not None and len(link) > MAX_LINK_BYTES:
        raise FetchError(f"bad API answer: Link header over {MAX_LINK_BYTES} bytes", retryable=False)
    return link


def check_items(body: Any, url: str) -> None:
    """A page holding more than it was asked for is not GitHub's: store none of it."""
    if not isinstance(body, list):
        return
    asked = _per_page(url)
    limit = min(int(asked), MAX_PER_PAGE) if asked.isdigit() and int(asked) > 0 else MAX_PER_PAGE
    if len(body) > limit:
        raise FetchError(f"bad API answer: page of {len(body)} items, more than the {limit} asked for",
                         retryable=False)


def _per_page(url: str) -> str:
    """The first non-empty ``per_page`` of the URL's query, as ``parse_qs`` reads it."""
    query = url.partition("?")[2]
    if not _PLAIN_QUERY.fullmatch(query):
        return parse_qs(urlsplit(url).query).get("per_page", [""])[0]
    return next((pair[9:] for pair in query.split("&") if pair.startswith("per_page=") and pair[9:]), "")


def too_large(limit: int) -> FetchError:
    """The same URL would answer the same: final, not retried."""
    return FetchError(f"body over {limit} bytes", retryable=False)


def read_body(response: IResponse, limit: int) -> Deferred[bytes]:
    """The decoded body, or ``FetchError('body over N bytes')`` as soon as it passes ``limit``."""
    raw, gzipped = _beneath_decoder(response)
    reader = _Capped(limit, gzipped)
    if raw.length is not UNKNOWN_LENGTH and raw.length > limit:
        reader.over = True  # refused before a byte is read: the reader closes the connection
    raw.deliverBody(reader)
    return reader.done


def _beneath_decoder(response: Any) -> tuple[Any, bool]:
    """treq's response wraps the agent's; under a ``GzipDecoder`` lies the raw, compressed one.

    A response taken straight from an agent may be the ``GzipDecoder`` itself.
    """
    inner = response if isinstance(response, GzipDecoder) else getattr(response, "original", response)
    if isinstance(inner, GzipDecoder):
        return inner.original, True
    return inner, False


class _Capped(Protocol):
    """Collects a body, inflating gzip in steps no larger than the room left under the cap."""

    def __init__(self, limit: int, gzipped: bool) -> None:
        self._limit = limit
        self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS) if gzipped else None
        self._chunks: list[bytes] = []
        self._size = 0
        self.over = False
        self.done: Deferred[bytes] = Deferred(lambda _: self._close())

    def connectionMade(self) -> None:
        if self.over:
            self._give_up(too_large(self._limit))

    def dataReceived(self, data: bytes) -> None:
        if self.done.called:
            return
        if self._inflate is None:
            self._take(data)
            return
        try:
            while data and not self.done.called:
                # Small steps: one output buffer of the whole room would itself cost the cap.
                # max_length is at least 1 here: 0 would mean "no limit".
                out = self._inflate.decompress(data, min(_STEP, self._limit - self._size + 1))
                data = self._inflate.unconsumed_tail
                self._take(out)
                if not out:
                    break
        except zlib.error as e:
            self._give_up(FetchError(f"bad API body: broken gzip ({e})"))

    def _take(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._size > self._limit:
            self._give_up(too_large(self._limit))
        else:
            self._chunks.append(chunk)

    def _give_up(self, error: FetchError) -> None:
        self._chunks.clear()
        self._close()
        if not self.done.called:
            self.done.errback(error)

    def _close(self) -> None:
        if self.transport is not None:
            self.transport.loseConnection()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if self.done.called:
            return
        if not reason.check(ResponseDone, PotentialDataLoss):
            self.done.errback(reason)
            return
        if self._inflate is not None:
            try:
                self._take(self._inflate.flush())
            except zlib.error as e:
                self._give_up(FetchError(f"bad API body: broken gzip ({e})"))
                return
        if not self.done.called:
            self.done.callback(b"".join(self._chunks))
