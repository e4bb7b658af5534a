"""One hierarchy for every error ghcrawl raises on purpose."""

from __future__ import annotations


class GhcrawlError(Exception):
    """Base of every deliberate ghcrawl error."""


class ConfigError(GhcrawlError):
    """Bad flags, config file, token file or database path: one line, exit non-zero."""


class StoreError(GhcrawlError):
    """The database is not one ghcrawl can use (foreign, newer schema, unwritable)."""


class LeaseLost(GhcrawlError):
    """Another daemon took a task over after its lease expired: the page is dropped unwritten."""


class FetchError(GhcrawlError):
    """A request did not produce a usable answer; the task is retried or failed.

    ``outage`` marks failures that may be the whole API's (transport errors,
    timeouts, 5xx) rather than this URL's: they count only once the API is
    seen answering other requests.
    """

    def __init__(self, reason: str, *, retryable: bool = True, outage: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.outage = outage


class RateLimited(GhcrawlError):
    """GitHub asked us to wait; the task goes back without spending an attempt."""

    def __init__(self, until: float, reason: str, *, secondary: bool) -> None:
        super().__init__(reason)
        self.until = until
        self.reason = reason
        self.secondary = secondary


class BadCredentials(GhcrawlError):
    """GitHub answered 401: the token is wrong or revoked."""

    def __init__(self, token_id: str) -> None:
        super().__init__(f"token {token_id} was rejected: 401 Bad credentials")
        self.token_id = token_id


class AppConfigError(ConfigError):
    """The GitHub App's key, id or installations cannot be used: one line, exit 2."""


class AppRejected(GhcrawlError):
    """GitHub refused the App's JWT or an installation (401, 403 or 404 on an App endpoint)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status} {message}")
        self.status = status
        self.message = message
