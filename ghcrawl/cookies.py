"""A cookie jar that keeps nothing: the GitHub API sets no cookies a crawler needs.

treq wraps every request in Twisted's ``CookieAgent``; with the standard jar that
costs a stdlib request object and a policy walk per request and per answer.
"""

from __future__ import annotations

from typing import Any

from treq.cookies import IndexableCookieJar


class NoCookies(IndexableCookieJar):
    """Sends no cookies and stores none."""

    def add_cookie_header(self, request: Any) -> None:
        return None

    def extract_cookies(self, response: Any, request: Any) -> None:
        return None
