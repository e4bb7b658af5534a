"""The GitHub App side of the fakehub: real RS256 checks, installations, short-lived tokens.

Answers follow GitHub's ("Authenticating as a GitHub App"): the JWT's issuer
must be the App, its signature the App's key, ``iat`` not in the future and
``exp`` in the future but at most 10 minutes away; each refusal is a 401 with
the message GitHub sends. Installation tokens expire after ``token_ttl``
seconds, each installation has its own budget, and every request that still
carries an expired token is counted, so a test can demand that none is sent.
"""

from __future__ import annotations

import secrets
import time
from collections import Counter
from typing import Any
from urllib.parse import parse_qsl

import jwt
from attrs import Factory, define, field
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from ghcrawl.fakehub.pages import PageRequest

_DOCS = "https://docs.github.com/rest"
NOT_DECODED = "A JSON web token could not be decoded"
NO_APP = "Integration not found"
EXPIRED = ("'Expiration time' claim ('exp') must be a numeric value representing the future time at which "
           "the assertion expires")
FUTURE = "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued"
TOO_FAR = "'Expiration time' claim ('exp') is too far in the future"
#: GitHub refuses a JWT whose ``exp`` is more than this many seconds ahead.
MAX_JWT_LIFE = 600
#: The first installation id; the others follow.
FIRST_INSTALLATION = 7_000_001


def load_public_key(path: str) -> RSAPublicKey:
    """The App's public key (PEM), to check signatures as GitHub does with the App's key."""
    with open(path, "rb") as f:
        key = load_pem_public_key(f.read())
    if not isinstance(key, RSAPublicKey):
        raise ValueError(f"{path} is not an RSA public key")
    return key


@define
class AppHub:
    """One GitHub App, its installations and the tokens it has handed out."""

    app_id: int
    public_key: RSAPublicKey = field(repr=False)
    installations: list[int]
    token_ttl: float = 3600.0
    rate_limit: int = 5000
    #: Seconds GitHub's clock is ahead of the client's, as it judges a JWT's iat and exp.
    clock_offset: float = 0.0
    suspended: set[int] = Factory(set)
    _tokens: dict[str, tuple[int, float]] = Factory(dict)
    issued: Counter[int] = Factory(Counter)
    requests: Counter[int] = Factory(Counter)
    rejected: Counter[str] = Factory(Counter)
    expired_token_requests: int = 0

    @classmethod
    def with_installations(cls, app_id: int, public_key: RSAPublicKey, count: int, token_ttl: float,
                           rate_limit: int) -> AppHub:
        """An App installed ``count`` times, with ids from FIRST_INSTALLATION on."""
        return cls(app_id, public_key, [FIRST_INSTALLATION + n for n in range(count)], token_ttl, rate_limit)

    def stats(self) -> dict[str, Any]:
        """What a test checks: tokens issued, requests and refusals, expired tokens used."""
        return {"app_id": self.app_id, "installations": list(self.installations),
                "tokens_issued": {str(k): v for k, v in self.issued.items()},
                "requests": {str(k): v for k, v in self.requests.items()},
                "jwt_rejected": dict(self.rejected), "expired_token_requests": self.expired_token_requests}

    def install(self) -> int:
        """Install the App on one more account (as a new owner would); returns the new id."""
        installation = max(self.installations, default=FIRST_INSTALLATION - 1) + 1
        self.installations.append(installation)
        return installation

    def uninstall(self, installation: int) -> bool:
        """Remove an installation (as its owner would); its tokens stop working at once."""
        if installation not in self.installations:
            return False
        self.installations.remove(installation)
        return True

    def expire_tokens(self, now: float) -> int:
        """End every token's life now, as GitHub may before ``expires_at``; returns how many."""
        live = [t for t, (_i, expires) in self._tokens.items() if expires > now]
        for token in live:
            self._tokens[token] = (self._tokens[token][0], now)
        return len(live)

    def knows(self, token: str) -> bool:
        """True for a token this App handed out, live or not."""
        return token in self._tokens

    def installation_of(self, token: str, now: float) -> int | None:
        """The installation a live token acts for; None (and counted) once it has expired."""
        installation, expires = self._tokens[token]
        if now >= expires:
            self.expired_token_requests += 1
            return None
        if installation not in self.installations:
            return None
        self.requests[installation] += 1
        return installation

    def answer(self, method: bytes, path: str, query: str, authorization: str,
               base: str, now: float) -> tuple[int, Any, list[tuple[bytes, bytes]]]:
        """Status, JSON body and extra headers for an ``/app`` path."""
        scheme, _, token = authorization.strip().partition(" ")
        problem = self._jwt_problem(token.strip(), now + self.clock_offset) if scheme.lower() == "bearer" else NOT_DECODED
        if problem is not None:
            self.rejected[problem] += 1
            return 401, {"message": problem, "documentation_url": _DOCS}, []
        parts = path.strip("/").split("/")
        if method == b"GET" and parts == ["app"]:
            return 200, self._app_body(base), []
        if method == b"GET" and parts == ["app", "installations"]:
            wanted = PageRequest.parse(parse_qsl(query, keep_blank_values=True))
            items = [self._installation_body(base, i) for i in wanted.slice(self.installations)]
            link = wanted.link(f"{base}/app/installations", len(self.installations))
            return 200, items, [(b"link", link.encode())] if link else []
        if method == b"POST" and len(parts) == 4 and parts[:2] == ["app", "installations"] \
                and parts[3] == "access_tokens" and parts[2].isdigit():
            return self._access_token(int(parts[2]), now)
        return 404, {"message": "Not Found", "documentation_url": _DOCS}, []

    def _jwt_problem(self, token: str, now: float) -> str | None:
        """GitHub's message for a JWT it refuses, None for a good one."""
        try:
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            return NOT_DECODED
        if str(claims.get("iss")) != str(self.app_id):
            return NO_APP
        try:
            jwt.decode(token, self.public_key, algorithms=["RS256"],
                       options={"verify_exp": False, "verify_iat": False, "verify_nbf": False})
        except jwt.PyJWTError:
            return NOT_DECODED
        iat, exp = claims.get("iat"), claims.get("exp")
        if not isinstance(iat, int) or iat > now:
            return FUTURE
        if not isinstance(exp, int | float) or exp <= now:
            return EXPIRED
        if exp > now + MAX_JWT_LIFE:
            return TOO_FAR
        return None

    def _access_token(self, installation: int, now: float) -> tuple[int, Any, list[tuple[bytes, bytes]]]:
        if installation not in self.installations:
            return 404, {"message": "Not Found", "documentation_url": _DOCS}, []
        if installation in self.suspended:
            return 403, {"message": "This installation has been suspended", "documentation_url": _DOCS}, []
        # Whole seconds, as GitHub's expires_at: the client never believes in a longer life.
        expires = float(int(now + self.token_ttl))
        token = "ghs_" + secrets.token_hex(18)
        self._tokens[token] = (installation, expires)
        self.issued[installation] += 1
        body = {"token": token, "expires_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expires)),
                "permissions": {"metadata": "read"}, "repository_selection": "all"}
        return 201, body, []

    def _app_body(self, base: str) -> dict[str, Any]:
        owner = {"login": "fakehub-lab", "id": 9_000_001, "type": "Organization",
                 "url": f"{base}/users/fakehub-lab"}
        return {"id": self.app_id, "slug": "ghcrawl-fake", "client_id": f"Iv1.{self.app_id:016x}",
                "owner": owner, "name": "ghcrawl fake", "permissions": {"metadata": "read"},
                "events": [], "installations_count": len(self.installations)}

    def _installation_body(self, base: str, installation: int) -> dict[str, Any]:
        login = f"install-{installation}"
        account = {"login": login, "id": installation + 1_000_000, "type": "Organization",
                   "url": f"{base}/users/{login}"}
        return {"id": installation, "account": account, "app_id": self.app_id, "app_slug": "ghcrawl-fake",
                "target_type": "Organization", "repository_selection": "all",
                "permissions": {"metadata": "read"},
                "suspended_at": "2026-01-01T00:00:00Z" if installation in self.suspended else None,
                "access_tokens_url": f"{base}/app/installations/{installation}/access_tokens"}
