"""Pagination as GitHub does it: per_page/page arguments and the Link header."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar
from urllib.parse import urlencode

from attrs import frozen

T = TypeVar("T")
DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 100


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


@frozen
class PageRequest:
    """The page wanted, plus the other query pairs that links must keep."""

    per_page: int
    page: int
    query: tuple[tuple[str, str], ...]

    @classmethod
    def parse(cls, query: Sequence[tuple[str, str]]) -> PageRequest:
        """Clamps like GitHub: per_page 1..100 (default 30), page >= 1."""
        given = dict(query)
        per_page = _int(given.get("per_page"), DEFAULT_PER_PAGE)
        per_page = DEFAULT_PER_PAGE if per_page < 1 else min(per_page, MAX_PER_PAGE)
        page = max(1, _int(given.get("page"), 1))
        return cls(per_page, page, tuple(query))

    def slice(self, items: Sequence[T]) -> list[T]:
        """The items on the requested page; past the end that is []."""
        start = (self.page - 1) * self.per_page
        return list(items[start:start + self.per_page])

    def link(self, base_path: str, total: int) -> str | None:
        """Link header value in GitHub's rel order, None when one page holds all."""
        last = max(1, -(-total // self.per_page))
        if last == 1 and self.page == 1:
            return None
        rels = []
        if self.page > 1:
            rels.append(("prev", self.page - 1))
        if self.page < last:
            rels += [("next", self.page + 1), ("last", last)]
        if self.page > 1:
            rels.append(("first", 1))
        return ", ".join(f'<{self._url(base_path, n)}>; rel="{rel}"' for rel, n in rels)

    def _url(self, base_path: str, page: int) -> str:
        """Keeps every other argument in order and puts ``page`` last."""
        pairs = [(k, v) for k, v in self.query if k != "page"] + [("page", str(page))]
        return f"{base_path}?{urlencode(pairs)}"
