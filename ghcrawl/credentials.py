"""Tokens, kept out of every repr, log line and database row."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import ClassVar

from attrs import define, field


@lru_cache(maxsize=64)  # asked once per request; renewed App tokens replace old ones
def short_hash(token: str) -> str:
    """The name a token goes by in logs, metrics and the database."""
    return "tok-" + hashlib.sha256(token.encode()).hexdigest()[:8]


@define(eq=False)
class Credential:
    """A GitHub token and the short name that stands for it everywhere else.

    Not frozen: an App's installation token is replaced when it is renewed
    (see ``ghcrawl.app_auth``), while its name stays the same.
    """

    #: Whether a 401 can be cured by asking for a new token (an App's installation).
    renewable: ClassVar[bool] = False
    token: str = field(repr=False)

    @property
    def token_id(self) -> str:
        """Names the token, and keys its conditional-request validators."""
        return short_hash(self.token)

    def __str__(self) -> str:
        return self.token_id
