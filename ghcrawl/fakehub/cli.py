"""``ghcrawl-fakehub``: serve the fake GitHub, or print a crawl's ground truth.

This is the composition root of the fakehub process: the only place that
touches the global reactor.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from twisted.internet.endpoints import serverFromString
from twisted.logger import Logger

from ghcrawl.fakehub.graph import Graph
from ghcrawl.fakehub.knobs import FAULT_KINDS, Knobs
from ghcrawl.fakehub.site import QuietSite
from ghcrawl.fakehub.truth import truth

_log = Logger()


def _tokens(args: argparse.Namespace) -> dict[str, str]:
    """TOKEN[:USER] from flags and the tokens file; a bare token owns itself."""
    lines = list(args.token or [])
    if args.tokens_file:
        lines += [ln.strip() for ln in Path(args.tokens_file).read_text().splitlines()]
    tokens = {}
    for line in filter(None, lines):
        token, _, user = line.partition(":")
        tokens[token] = user or token
    return tokens


def knobs_from(args: argparse.Namespace) -> Knobs:
    """Flags in CLI units (milliseconds for latency) to a Knobs value."""
    faults = tuple(f for f in args.faults.split(",") if f) if args.faults else FAULT_KINDS
    return Knobs(
        latency=args.latency / 1000, jitter=args.jitter / 1000, rate_limit=args.rate_limit,
        unauth_rate_limit=args.unauth_rate_limit, rate_window=args.rate_window,
        secondary_every=args.secondary_every, secondary_concurrency=args.secondary_concurrency,
        secondary_status=args.secondary_status, secondary_retry_after=args.secondary_retry_after,
        secondary_wait=args.secondary_wait, secondary_grace=args.secondary_grace, fault_rate=args.fault_rate, faults=faults,
        stall=args.stall, tokens=_tokens(args), fault_seed=args.fault_seed, public_emails=args.public_emails,
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ghcrawl-fakehub", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the fake API on 127.0.0.1")
    truth_cmd = sub.add_parser("truth", help="print what a perfect crawl stores")
    for cmd in (serve, truth_cmd):
        cmd.add_argument("--seed", type=int, default=1, help="graph seed: same seed, same graph [default: 1]")
        cmd.add_argument("--users", type=int, default=1000, help="users in the graph, at least 50 [default: 1000]")
        cmd.add_argument("--mutate", type=float, default=0.0, metavar="SHARE",
                         help="drift this share of users and repositories before serving [default: 0]")
        cmd.add_argument("--mutate-seed", type=int, default=2, help="seed of that drift [default: 2]")
        cmd.add_argument("--empty-repos", type=float, default=0.0, metavar="SHARE",
                         help="share of ordinary repositories that are empty (contributors answer 204) [default: 0]")
    truth_cmd.add_argument("--seeds", default=None, help="comma-separated logins")
    truth_cmd.add_argument("--max-depth", type=int, default=1, help="depth of the crawl to predict [default: 1]")
    serve.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1; 0 picks a free one [default: 0]")
    serve.add_argument("--port-file", default=None, help="write the port number chosen to this file")
    serve.add_argument("--latency", type=float, default=0.0, metavar="MS", help="delay of every answer [default: 0]")
    serve.add_argument("--jitter", type=float, default=0.0, metavar="MS",
                       help="up to this much extra random delay [default: 0]")
    serve.add_argument("--rate-limit", type=int, default=5000, help="requests per window per account [default: 5000]")
    serve.add_argument("--unauth-rate-limit", type=int, default=60,
                       help="requests per window per IP without a token [default: 60]")
    serve.add_argument("--rate-window", type=float, default=3600.0, metavar="S",
                       help="length of a rate-limit window [default: 3600]")
    serve.add_argument("--secondary-every", type=int, default=0,
                       help="answer every Nth request with a secondary rate limit; 0 never [default: 0]")
    serve.add_argument("--secondary-concurrency", type=int, default=0,
                       help="secondary-limit requests beyond this many in flight; 0 never [default: 0]")
    serve.add_argument("--secondary-status", type=int, choices=(403, 429), default=403,
                       help="status of a secondary limit [default: 403]")
    serve.add_argument("--secondary-retry-after", type=int, default=None, metavar="S",
                       help="send retry-after with secondary limits [default: none]")
    serve.add_argument("--secondary-wait", type=float, default=60.0, metavar="S",
                       help="how long a secondary limit holds without retry-after [default: 60]")
    serve.add_argument("--secondary-grace", type=float, default=0.5, metavar="S",
                       help="requests this soon after a limit were in flight: not violations")
    serve.add_argument("--fault-rate", type=float, default=0.0, help="share of requests given a fault [default: 0]")
    serve.add_argument("--faults", default=None, help="faults to draw from: " + ",".join(FAULT_KINDS) + " [default: all]")
    serve.add_argument("--fault-seed", type=int, default=0, help="seed of the fault draws [default: 0]")
    serve.add_argument("--stall", type=float, default=30.0, metavar="S", help="delay of a stall fault [default: 30]")
    serve.add_argument("--token", action="append", metavar="TOKEN[:USER]",
                       help="accept this token, owned by USER (repeatable); none given: any token")
    serve.add_argument("--tokens-file", default=None, help="file of TOKEN[:USER] lines to accept")
    serve.add_argument("--public-emails", action="store_true", help="users show a public e-mail")
    serve.add_argument("--request-log", default=None, metavar="FILE",
                       help="append one line per API request: arrival time (Unix) and path")
    serve.add_argument("--tls-cert", default=None, help="PEM certificate: serve HTTPS (with --tls-key)")
    serve.add_argument("--tls-key", default=None, help="PEM private key of --tls-cert")
    serve.add_argument("--app-id", type=int, default=None, help="act as GitHub for this App id (with --app-public-key)")
    serve.add_argument("--app-public-key", default=None, metavar="PEM", help="the App's RSA public key file")
    serve.add_argument("--installations", type=int, default=3, help="how many times the App is installed [default: 3]")
    serve.add_argument("--installation-token-ttl", type=float, default=3600.0, metavar="S",
                       help="seconds an installation token lives [default: 3600]")
    serve.add_argument("--installation-rate-limit", type=int, default=None,
                       help="each installation's budget per window [default: --rate-limit]")
    serve.add_argument("--app-clock-offset", type=float, default=0.0, metavar="S",
                       help="judge JWTs by a clock this far ahead (negative: behind) [default: 0]")
    return parser


def _graph(args: argparse.Namespace) -> Graph:
    if not 0.0 <= args.empty_repos <= 1.0:
        raise SystemExit(f"ghcrawl-fakehub: --empty-repos must be between 0 and 1, not {args.empty_repos}")
    graph = Graph(seed=args.seed, users=args.users, empty_repos=args.empty_repos)
    if args.mutate:
        graph.mutate(share=args.mutate, seed=args.mutate_seed)
    return graph


def _app(args: argparse.Namespace) -> Any:
    """The App the hub plays GitHub for, when ``--app-id`` is given."""
    from ghcrawl.fakehub.app import AppHub, load_public_key

    if args.app_id is None:
        return None
    if not args.app_public_key:
        raise SystemExit("ghcrawl-fakehub: --app-id needs --app-public-key")
    try:
        key = load_public_key(args.app_public_key)
    except (OSError, ValueError) as e:
        raise SystemExit(f"ghcrawl-fakehub: --app-public-key: {e}") from None
    limit = args.installation_rate_limit if args.installation_rate_limit is not None else args.rate_limit
    app = AppHub.with_installations(args.app_id, key, args.installations, args.installation_token_ttl, limit)
    app.clock_offset = args.app_clock_offset
    return app


def _endpoint_string(args: argparse.Namespace) -> str:
    if bool(args.tls_cert) != bool(args.tls_key):
        raise SystemExit("ghcrawl-fakehub: --tls-cert and --tls-key go together")
    if args.tls_cert:
        return (f"ssl:{args.port}:interface=127.0.0.1:"
                f"privateKey={_escape(args.tls_key)}:certKey={_escape(args.tls_cert)}")
    return f"tcp:{args.port}:interface=127.0.0.1"


def _escape(path: str) -> str:
    return path.replace("\\", "\\\\").replace(":", "\\:").replace("=", "\\=")


def serve(args: argparse.Namespace) -> int:
    """Listens, announces the base URL on stdout and runs until SIGINT/SIGTERM."""
    from twisted.internet import reactor

    from ghcrawl.fakehub.hub import FakeHub

    try:
        knobs = knobs_from(args)
    except ValueError as e:
        raise SystemExit(f"ghcrawl-fakehub: {e}") from e
    log = open(args.request_log, "a", buffering=1, encoding="utf-8") if args.request_log else None  # noqa: SIM115
    hub = FakeHub(_graph(args), clock=reactor, knobs=knobs, app=_app(args), request_log=log.write if log else None)
    endpoint = serverFromString(reactor, _endpoint_string(args))
    scheme = "https" if args.tls_cert else "http"

    def listening(port: Any) -> None:
        number = port.getHost().port
        if args.port_file:
            Path(args.port_file).write_text(f"{number}\n")
        print(f"{scheme}://127.0.0.1:{number}", flush=True)

    def failed(failure: Any) -> None:
        print(f"ghcrawl-fakehub: cannot listen: {failure.getErrorMessage()}", file=sys.stderr)
        reactor.stop()

    def stop(_signum: int, _frame: Any) -> None:
        reactor.callFromThread(reactor.stop)  # type: ignore[attr-defined]

    endpoint.listen(QuietSite(hub.resource)).addCallbacks(listening, failed)
    # Our own handlers: the reactor's are not always in place when TLS is set up.
    reactor.callWhenRunning(signal.signal, signal.SIGTERM, stop)
    reactor.callWhenRunning(signal.signal, signal.SIGINT, stop)
    reactor.run()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script and of ``python -m ghcrawl.fakehub``."""
    args = _parser().parse_args(argv)
    if args.command == "truth":
        seeds = args.seeds.split(",") if args.seeds else None
        print(json.dumps(truth(_graph(args), seeds, args.max_depth), ensure_ascii=False))
        return 0
    return serve(args)
