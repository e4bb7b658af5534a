"""Keeps one live token per App installation: checked at start, renewed before expiry.

Renewal runs beside the crawl, never in its way: each token is replaced a few
minutes before its ``expires_at`` (a fifth of its life when that is shorter),
a failed renewal is tried again after ``retry_delay`` while the old token still
works, and every request that raced an expiry and got a 401 waits on the same
single renewal. An App whose key stops working loses its installations one by
one, each with one error line, while the other budgets carry on. Unless the
installations are listed in the config, the App's list is read again every
``rescan_every`` seconds and a new installation joins the running crawl.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.internet.task import deferLater
from twisted.logger import Logger

from ghcrawl.app_auth import AppSettings, InstallationCredential, sign_jwt
from ghcrawl.credentials import Credential
from ghcrawl.errors import AppConfigError, AppRejected, FetchError, GhcrawlError
from ghcrawl.github import Fetched, GitHub

#: Renew this many seconds before ``expires_at`` at most (GitHub's tokens live an hour).
RENEW_AHEAD = 300.0
#: Seconds before a failed renewal is tried again.
RETRY_DELAY = 30.0
#: Longest wait between tries of a start-up call while the API is out.
START_WAIT_MAX = 60.0
#: Seconds between looks for installations added while the daemon runs.
RESCAN_EVERY = 600.0


def parse_expiry(value: Any) -> float:
    """``expires_at`` (ISO 8601 UTC, as GitHub sends it) as epoch seconds."""
    if not isinstance(value, str):
        raise FetchError(f"bad API body: expires_at is {str(value)[:40]!r}")
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise FetchError(f"bad API body: expires_at is {value[:40]!r}") from None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def renew_at(issued: float, expires_at: float) -> float:
    """When to replace a token issued at ``issued``: a few minutes before it expires."""
    life = max(0.0, expires_at - issued)
    return expires_at - min(RENEW_AHEAD, life / 5)


class AppTokens:
    """The installation tokens of one GitHub App."""

    _log = Logger()

    def __init__(
        self, settings: AppSettings, github: GitHub, clock: IReactorTime, *, retry_delay: float = RETRY_DELAY,
        rescan_every: float = RESCAN_EVERY,
    ) -> None:
        self._settings, self._github, self._clock = settings, github, clock
        self._retry_delay, self._rescan_every = retry_delay, rescan_every
        self.credentials: dict[int, InstallationCredential] = {}
        self.renewals = 0
        #: Told when GitHub refuses an installation for good (revoked App, uninstalled).
        self.on_refused: Callable[[Credential, str], None] = lambda cred, reason: None
        #: Told when an installation added while the daemon runs has its first token.
        self.on_added: Callable[[InstallationCredential], None] = lambda cred: None
        self._rescan_call: IDelayedCall | None = None
        self._calls: dict[int, IDelayedCall] = {}
        self._waiting: dict[int, list[Deferred[bool]]] = {}
        self._name = f"GitHub App {settings.app_id}"

    def _jwt(self) -> str:
        return sign_jwt(self._settings, self._clock.seconds())

    async def start(self) -> list[InstallationCredential]:
        """Check the App and its installations and get a token for each; problems are one line, exit 2."""
        try:
            app = await self._start_call("GET", "/app")
        except AppRejected as e:
            if "claim" in e.message:  # iat or exp: the clocks disagree by more than the JWT allows
                raise AppConfigError(f"GitHub refused the App's JWT ({e.status} {e.message}): "
                                     "check this machine's clock") from None
            raise AppConfigError(
                f"app id {self._settings.app_id} unknown, or {self._settings.key_file} is not its key: "
                f"GitHub answered {e.status} {e.message}") from None
        if isinstance(app.body, dict) and isinstance(app.body.get("slug"), str):
            self._name = f"GitHub App {app.body['slug']}"
        found = await self._installation_ids(self._start_call)
        if not found:
            raise AppConfigError(f"{self._name} has no installations: install it on an account or organisation")
        strangers = [i for i in self._settings.installations if i not in found]
        if strangers:
            raise AppConfigError(f"installation {strangers[0]} is not one of {self._name}'s installations "
                                 f"({', '.join(map(str, found))})")
        suspended = [i for i in self._settings.installations if found[i]]
        if suspended:
            raise AppConfigError(f"installation {suspended[0]} of {self._name} is suspended")
        wanted = list(self._settings.installations) or [i for i, paused in found.items() if not paused]
        if not wanted:
            raise AppConfigError(f"every installation of {self._name} is suspended")
        for i in (i for i, paused in found.items() if paused and not self._settings.installations):
            self._log.warn("{app} installation {iid} is suspended: crawling without it", app=self._name, iid=i)
        for installation in wanted:
            cred = InstallationCredential("", installation_id=installation)
            try:
                await self._exchange(cred, self._start_call)
            except AppRejected as e:
                raise AppConfigError(f"{self._name}: no token for installation {installation}: "
                                     f"GitHub answered {e.status} {e.message}") from None
            self.credentials[installation] = cred
            self._schedule(cred)
        self._log.info("{app}: crawling with {n} installations ({ids})", app=self._name, n=len(wanted),
                       ids=", ".join(map(str, wanted)))
        if not self._settings.installations:
            self._rescan_call = self._clock.callLater(self._rescan_every, self._rescan_due)
        return list(self.credentials.values())

    def _rescan_due(self) -> None:
        rescan = Deferred.fromCoroutine(self.rescan())
        rescan.addErrback(lambda f: self._log.failure("looking for new installations crashed", f))
        rescan.addBoth(lambda _: self._reschedule())

    def _reschedule(self) -> None:
        if self._rescan_call is not None:  # None once stopped
            self._rescan_call = self._clock.callLater(self._rescan_every, self._rescan_due)

    async def rescan(self) -> list[InstallationCredential]:
        """Take up installations added since start (not suspended); trouble waits for the next look."""
        try:
            found = await self._installation_ids(self._call)
        except GhcrawlError as e:
            self._log.warn("{app}: could not list installations ({reason}); looking again in {every:.0f}s",
                           app=self._name, reason=str(e), every=self._rescan_every)
            return []
        added: list[InstallationCredential] = []
        for installation in (i for i, paused in found.items() if not paused and i not in self.credentials):
            cred = InstallationCredential("", installation_id=installation)
            try:
                await self._exchange(cred)
            except GhcrawlError as e:
                self._log.warn("{app}: no token for new installation {iid} ({reason}); looking again in "
                               "{every:.0f}s", app=self._name, iid=installation, reason=str(e),
                               every=self._rescan_every)
                continue
            if self._rescan_call is None:
                return added  # stopped meanwhile
            self.credentials[installation] = cred
            self._schedule(cred)
            self._log.info("{app}: new installation {iid}: crawling with it too", app=self._name, iid=installation)
            self.on_added(cred)
            added.append(cred)
        return added

    async def _installation_ids(self, call: Callable[[str, str], Awaitable[Fetched]]) -> dict[int, bool]:
        """Every installation of the App, and whether it is suspended, following ``Link: rel="next"``."""
        found: dict[int, bool] = {}
        url: str | None = "/app/installations?per_page=100"
        while url is not None:
            try:
                page = await call("GET", url)
            except AppRejected as e:
                raise AppConfigError(f"{self._name}: cannot list installations: GitHub answered "
                                     f"{e.status} {e.message}") from None
            items = page.body if isinstance(page.body, list) else []
            for item in items:
                if isinstance(item, dict) and isinstance(item.get("id"), int):
                    found[item["id"]] = item.get("suspended_at") is not None
            url = page.next_url
        return found

    async def _start_call(self, method: str, url: str) -> Fetched:
        """An App call at start: an API outage is waited out (a new JWT each try), anything else raised."""
        wait = 1.0
        while True:
            try:
                return await self._github.app_call(method, url, self._jwt())
            except FetchError as e:
                if not e.outage:
                    raise
                self._log.warn("{app}: {url} failed ({reason}); trying again in {wait:.0f}s", app=self._name,
                               url=url.split("?")[0], reason=e.reason, wait=wait)
            await deferLater(self._clock, wait, lambda: None)
            wait = min(wait * 2, START_WAIT_MAX)

    async def _call(self, method: str, url: str) -> Fetched:
        return await self._github.app_call(method, url, self._jwt())

    async def _exchange(self, cred: InstallationCredential,
                        call: Callable[[str, str], Awaitable[Fetched]] | None = None) -> None:
        """Trade a fresh JWT for a new installation token and put it in ``cred``."""
        answer = await (call or self._call)("POST", f"/app/installations/{cred.installation_id}/access_tokens")
        body = answer.body if isinstance(answer.body, dict) else {}
        token = body.get("token")
        if not isinstance(token, str) or not token or any(c.isspace() for c in token):
            raise FetchError("bad API body: no installation token")
        cred.expires_at = parse_expiry(body.get("expires_at"))
        cred.token = token

    def _schedule(self, cred: InstallationCredential, delay: float | None = None) -> None:
        now = self._clock.seconds()
        if delay is None:
            delay = max(0.0, renew_at(now, cred.expires_at) - now)
        old = self._calls.pop(cred.installation_id, None)
        if old is not None and old.active():
            old.cancel()
        self._calls[cred.installation_id] = self._clock.callLater(delay, self._renew_due, cred)

    def _renew_due(self, cred: InstallationCredential) -> None:
        renewing = Deferred.fromCoroutine(self.renew(cred, cred.token))
        renewing.addErrback(lambda f: self._log.failure("token renewal crashed", f))

    async def renew(self, cred: Credential, used: str) -> bool:
        """Make sure ``cred`` holds a newer token than ``used``; False when it cannot now.

        Every caller that saw the same token fail waits on one renewal.
        """
        if not isinstance(cred, InstallationCredential):
            return False
        if cred.token != used:
            return True
        if self.credentials.get(cred.installation_id) is not cred:
            return False
        waiters = self._waiting.get(cred.installation_id)
        if waiters is not None:
            waiter: Deferred[bool] = Deferred()
            waiters.append(waiter)
            return await waiter
        self._waiting[cred.installation_id] = []
        try:
            renewed = await self._renew(cred)
        finally:
            for waiter in self._waiting.pop(cred.installation_id, []):
                waiter.callback(cred.token != used)
        return renewed

    async def _renew(self, cred: InstallationCredential) -> bool:
        iid = cred.installation_id
        try:
            await self._exchange(cred)
        except AppRejected as e:
            self._forget(cred)
            self.on_refused(cred, f"{self._name} installation {iid}: renewing its token was refused "
                                  f"({e.status} {e.message})")
            return False
        except GhcrawlError as e:
            self._log.warn("{app} installation {iid}: token renewal failed ({reason}); retrying in {delay:.0f}s",
                           app=self._name, iid=iid, reason=str(e), delay=self._retry_delay)
            self._schedule(cred, self._retry_delay)
            return False
        self.renewals += 1
        self._log.info("{app} installation {iid}: token renewed ({token}), valid for {life:.0f}s",
                       app=self._name, iid=iid, token=cred.token_hash,
                       life=cred.expires_at - self._clock.seconds())
        self._schedule(cred)
        return True

    def _forget(self, cred: InstallationCredential) -> None:
        self.credentials.pop(cred.installation_id, None)
        call = self._calls.pop(cred.installation_id, None)
        if call is not None and call.active():
            call.cancel()

    def stop(self) -> None:
        """Cancel every pending renewal and look for installations (the service is stopping)."""
        for call in [*self._calls.values(), *([self._rescan_call] if self._rescan_call else [])]:
            if call.active():
                call.cancel()
        self._calls.clear()
        self._rescan_call = None
