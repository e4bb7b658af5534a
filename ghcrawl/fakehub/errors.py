"""GitHub's error bodies, worded as the real API words them."""

from __future__ import annotations

from typing import Any

_DOCS = "https://docs.github.com/rest"
_RATE_DOCS = "https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting"


def not_found(doc: str = _DOCS) -> dict[str, Any]:
    """404 for unknown paths, missing users and repositories."""
    return {"message": "Not Found", "documentation_url": doc, "status": "404"}


def moved(url: str) -> dict[str, Any]:
    """301 body of a renamed repository's old name; ``url`` repeats the location."""
    return {"message": "Moved Permanently", "url": url,
            "documentation_url": "https://docs.github.com/v3/#http-redirects"}


def dmca() -> dict[str, Any]:
    """451 for a repository blocked by a DMCA takedown."""
    return {"message": "Repository access blocked", "block": {
        "reason": "dmca", "created_at": "2021-04-22T17:53:56Z",
        "html_url": "https://github.com/github/dmca/blob/master/2021/04/2021-04-20-ultimate-character-controller.md"}}


def too_large() -> dict[str, Any]:
    """403 that is not a rate limit: contributors cannot be listed."""
    return {"message": "The history or contributor list is too large to list contributors "
                       "for this repository via the API.",
            "documentation_url": "https://docs.github.com/rest/repos/repos#list-repository-contributors",
            "status": "403"}


def bad_credentials() -> dict[str, Any]:
    """401 for a token the hub does not know."""
    return {"message": "Bad credentials", "documentation_url": _DOCS, "status": "401"}


def no_user_agent() -> dict[str, Any]:
    """403 GitHub's front end gives a request without a User-Agent."""
    return {"message": "Request forbidden by administrative rules. Please make sure your request "
                       "has a User-Agent header (https://docs.github.com/en/rest/overview/"
                       "resources-in-the-rest-api#user-agent-required). Check "
                       "https://developer.github.com for other possible causes.",
            "documentation_url": "https://docs.github.com/rest/overview/resources-in-the-rest-api#user-agent-required",
            "status": "403"}


def primary(who: str) -> dict[str, Any]:
    """403 once the window's budget is spent; ``who`` is a user ID or an IP."""
    if who.startswith("user ID"):
        message = f"API rate limit exceeded for {who}."
    else:
        message = (f"API rate limit exceeded for {who}. (But here's the good news: Authenticated "
                   "requests get a higher rate limit. Check out the documentation for more details.)")
    return {"message": message, "documentation_url": _RATE_DOCS}


def secondary(request_id: str) -> dict[str, Any]:
    """403/429 of a secondary (abuse) limit, naming the request as GitHub does."""
    return {"message": "You have exceeded a secondary rate limit. Please wait a few minutes before "
                       "you try again. If you reach out to GitHub Support for help, please include "
                       f"the request ID {request_id}.",
            "documentation_url": "https://docs.github.com/free-pro-team@latest/rest/overview/"
                                 "rate-limits-for-the-rest-api#about-secondary-rate-limits"}


def server_error(status: int) -> dict[str, Any]:
    """Injected 5xx bodies; GitHub's are terse."""
    messages = {500: "Server Error", 502: "Server Error",
                503: "No server is currently available to service your request."}
    return {"message": messages.get(status, "Server Error"), "documentation_url": _DOCS, "status": str(status)}
