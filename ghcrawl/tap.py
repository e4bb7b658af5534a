"""The composition root: command-line options, and the only code that touches the global reactor."""

from __future__ import annotations

import gc
import os
import signal
import sys
from typing import Any

from twisted.python import usage

from ghcrawl import config as config_module
from ghcrawl import logs, preflight
from ghcrawl.errors import GhcrawlError
from ghcrawl.notify import SystemdNotifier
from ghcrawl.service import CrawlService
from ghcrawl.store import check_database


class Options(usage.Options):
    """``twistd ghcrawl`` flags; each overrides the same key of the TOML file."""

    synopsis = "[--config FILE] [--db PATH] [--api-url URL] [--seed LOGIN]... [options]"
    optFlags = [["once", None, "Exit once no work is pending: 0, or 3 if tasks are left failed (batch runs, cron)."]]
    optParameters = [
        ["config", "c", None, "TOML configuration file."],
        ["db", None, None, "SQLite path or postgresql://user@host/dbname URI [default: ghcrawl.sqlite]."],
        ["api-url", None, None, "GitHub API base URL [default: https://api.github.com]."],
        ["seeds-file", None, None, "File with one seed login per line."],
        ["max-depth", None, None, "Crawl users up to this many steps from a seed [default: 1]."],
        ["concurrency", None, None, "Requests in flight at most [default: 10]."],
        ["grace", None, None, "Seconds to let requests finish on SIGINT/SIGTERM [default: 10]."],
        ["token-file", None, None, "File holding the GitHub token(s), one per line (never the token itself)."],
        ["rate-limit-reserve", None, None, "Requests per account kept unspent [default: 0]."],
        ["secondary-limit-wait", None, None, "Seconds to wait on a secondary limit without retry-after [default: 60]."],
        ["max-attempts", None, None, "Attempts before a task fails [default: 5]."],
        ["refresh-after", None, None, "Seconds before finished work is re-fetched [default: 604800]."],
        ["ca-file", None, None, "PEM CA bundle to trust instead of the system CAs."],
        ["request-timeout", None, None, "Seconds for one request, body included [default: 30]."],
        ["progress-interval", None, None, "Seconds between progress lines [default: 10]."],
        ["status-endpoint", None, None, "Twisted endpoint for /metrics and /status, e.g. tcp:8099:interface=127.0.0.1."],
        ["log-format", None, None, "text or json [default: text]."],
        ["personal-data", None, None, "true or false: store names, companies, blogs, locations, bios [default: true]."],
        ["optout-file", None, None, "File of logins or ids of people never to fetch or store, re-read on change."],
        ["lease-timeout", None, None, "Seconds before a silent daemon's tasks are claimable by others [default: 60]."],
        ["worker-name", None, None, "This daemon's name in the database and status [default: host:pid]."],
        ["app-id", None, None, "GitHub App id or client id: crawl with the App's installation tokens."],
        ["app-private-key-file", None, None, "PEM file holding the App's private key (never the key itself)."],
        ["app-installations", None, None, "Comma-separated installation ids [default: every installation]."],
        ["outage-probe-max", None, None, "Longest wait in seconds between probes during an API outage [default: 60]."],
        ["max-body-bytes", None, None, "Largest answer body, decoded, before the task fails [default: 33554432]."],
    ]

    def __init__(self) -> None:
        super().__init__()
        self["seeds"] = []
        self.config: config_module.Config | None = None
        self.status: preflight.StatusListener | None = None

    def opt_seed(self, login: str) -> None:
        """A seed user's login (repeatable)."""
        self["seeds"].append(login)

    def parseOptions(self, options: Any = None) -> None:
        # One line per problem: twistd would otherwise print the whole usage text first.
        try:
            super().parseOptions(options)
        except usage.UsageError as e:
            sys.stderr.write(f"twistd ghcrawl: error: {e}\n")
            sys.exit(2)

    def postOptions(self) -> None:
        flags = {
            "db": self["db"],
            "api_url": self["api-url"],
            "seeds": self["seeds"] or None,
            "seeds_file": self["seeds-file"],
            "max_depth": self["max-depth"],
            "concurrency": self["concurrency"],
            "grace": self["grace"],
            "once": True if self["once"] else None,
        }
        for key in ("token-file", "rate-limit-reserve", "secondary-limit-wait", "max-attempts", "refresh-after",
                    "ca-file", "request-timeout", "progress-interval", "status-endpoint", "log-format",
                    "personal-data", "optout-file", "outage-probe-max", "app-id", "app-private-key-file",
                    "app-installations", "lease-timeout", "worker-name", "max-body-bytes"):
            flags[key.replace("-", "_")] = self[key]
        try:
            self.config = config_module.load(flags, os.environ, self["config"])
            self._preflight(self.config)
        except GhcrawlError as e:
            raise usage.UsageError(str(e)) from None
        parent = getattr(self, "parent", None)
        if self.config.log_format == "json" and parent is not None and not parent.get("logger"):
            # twistd turns this name into its log observer once all options are parsed.
            logfile = parent.get("logfile")
            logs.destination = None if logfile in (None, "", "-") else logfile
            parent["logger"] = "ghcrawl.logs.json_observer"

    def _preflight(self, config: config_module.Config) -> None:
        """Check what the config names, cheapest first; bind the status endpoint last, before any database."""
        from twisted.internet import reactor

        if config.ca_file is not None:
            preflight.check_ca_file(config.ca_file)
        if config.status_endpoint:
            preflight.status_endpoint(reactor, config.status_endpoint)
        check_database(config.db)
        if config.status_endpoint:
            self.status = preflight.listen_status(reactor, config.status_endpoint)


def makeService(options: Options) -> CrawlService:
    """Build the crawl service and wire it to the reactor's shutdown."""
    from twisted.internet import reactor

    assert options.config is not None
    service = CrawlService(options.config, reactor, _stopper(reactor), SystemdNotifier(os.environ, reactor),
                           status=options.status)
    reactor.addSystemEventTrigger("before", "shutdown", _arm_hard_exit)
    reactor.addSystemEventTrigger("after", "shutdown", _exit_status, reactor, service)
    # What is imported and built by now lives as long as the process: the collector need not
    # walk it again in every full collection of the crawl, nor in the passes at interpreter exit.
    gc.freeze()
    return service


def _stopper(reactor: Any) -> Any:
    def stop() -> None:
        if reactor.running:
            reactor.stop()

    return stop


def _arm_hard_exit() -> None:
    """A second SIGINT/SIGTERM while draining exits at once (transactions keep the data whole)."""

    def now(signum: int, frame: Any) -> None:
        sys.stderr.write("ghcrawl: second signal, exiting now\n")
        os._exit(128 + signum)

    signal.signal(signal.SIGINT, now)
    signal.signal(signal.SIGTERM, now)


def _exit_status(reactor: Any, service: CrawlService) -> None:
    """Exit 0 after a clean drain, 1 after a fatal error, 3 when `--once` left tasks failed."""
    # twistd re-raises the stop signal after the reactor returns, which would turn
    # a clean drain into "killed by SIGTERM"; a drained crawl is a success.
    reactor._exitSignal = None
    # Everything is stopped: the interpreter's collections at exit would only walk what dies with it.
    gc.freeze()
    if service.exit_code:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(service.exit_code)
