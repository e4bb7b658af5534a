"""Tokens, kept out of every repr, log line and database row."""

from __future__ import annotations

import hashlib

from attrs import field, frozen


@frozen
class Credential:
    """A GitHub token and the short hash that names it everywhere else."""

    token: str = field(repr=False)
    token_id: str = field(init=False)

    @token_id.default
    def _hash(self) -> str:
        return "tok-" + hashlib.sha256(self.token.encode()).hexdigest()[:8]

    def __str__(self) -> str:
        return self.token_id
