"""Keyed pseudonyms for sharing a dataset: the same salt links exports, another salt unlinks them.

Identifiers (user and repository ids, logins, repository names) become an
HMAC-SHA256 of the value under the salt, hex, cut to 16 characters; each kind
of value is hashed in its own domain, so a numeric login never meets an id.
Free text a person wrote about themselves is left out, not hashed.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Sequence
from typing import Any

from ghcrawl.errors import ConfigError

#: Shortest salt accepted: shorter keys make the pseudonyms guessable.
MIN_SALT = 16
LENGTH = 16

Row = Sequence[Any]


def load_salt(path: str) -> bytes:
    """The salt file's bytes, refusing a missing, unreadable or short one with one line."""
    try:
        with open(path, "rb") as f:
            salt = f.read()
    except OSError as e:
        raise ConfigError(f"cannot read salt file {path}: {e.strerror}") from None
    if len(salt) < MIN_SALT:
        raise ConfigError(f"salt file {path} holds {len(salt)} bytes; at least {MIN_SALT} are needed")
    return salt


def keyed_hash(salt: bytes, domain: str, value: object) -> str:
    """The pseudonym of ``value`` of one kind (``user``, ``repo``, ``login``, ``name``)."""
    message = f"{domain}:{value}".encode()
    return hmac.new(salt, message, hashlib.sha256).hexdigest()[:LENGTH]


class Pseudonymizer:
    """Turns export rows into their pseudonymized form, column by column."""

    #: Columns kept as they are (counts, dates, kinds); any other column is hashed or left out.
    USER_DROP = frozenset({"name", "company", "blog", "location", "bio"})
    REPO_DROP = frozenset({"description"})
    CONTRIBUTOR_DROP = frozenset({"seen_on_page"})  # a URL naming the owner and the repository

    def __init__(self, salt: bytes) -> None:
        self._salt = salt

    def user_id(self, value: Any) -> str | None:
        return None if value is None else keyed_hash(self._salt, "user", value)

    def repo_id(self, value: Any) -> str | None:
        return None if value is None else keyed_hash(self._salt, "repo", value)

    def login(self, value: str | None) -> str | None:
        return None if value is None else keyed_hash(self._salt, "login", value.lower())

    def repo_name(self, value: str | None) -> str | None:
        return None if value is None else keyed_hash(self._salt, "name", value.lower())

    def full_name(self, value: str | None) -> str | None:
        """``owner/name`` as ``<owner-hash>/<repo-hash>``; the owner hash equals the owner's login pseudonym."""
        if value is None:
            return None
        owner, _, name = value.partition("/")
        return f"{self.login(owner)}/{self.repo_name(name)}"

    def _rule(self, column: str) -> Any:
        rules = {
            "id": None, "owner_id": self.user_id, "user_id": self.user_id, "repo_id": self.repo_id,
            "login": self.login, "full_name": self.full_name, "name": self.repo_name,
        }
        return rules.get(column, lambda v: v)

    def table(self, table: str, columns: Sequence[str], rows: Iterable[Row]) -> tuple[list[str], Iterable[Row]]:
        """Columns and rows of ``users``, ``repos`` or ``contributors`` as shared."""
        drop = {"users": self.USER_DROP, "repos": self.REPO_DROP, "contributors": self.CONTRIBUTOR_DROP}[table]
        keep = [i for i, c in enumerate(columns) if c not in drop]
        rules = [self._rule(columns[i]) for i in keep]
        id_rule = self.user_id if table == "users" else self.repo_id
        rules = [id_rule if columns[i] == "id" else rule for i, rule in zip(keep, rules)]
        return [columns[i] for i in keep], (tuple(rule(row[i]) for i, rule in zip(keep, rules)) for row in rows)

    def graph_users(self, rows: Iterable[Row]) -> Iterable[Row]:
        """GraphML user nodes (id, login, type, depth)."""
        return ((self.user_id(i), self.login(login), kind, depth) for i, login, kind, depth in rows)

    def graph_repos(self, rows: Iterable[Row]) -> Iterable[Row]:
        """GraphML repository nodes (id, full_name, fork, language, stars, depth)."""
        return ((self.repo_id(i), self.full_name(name), *rest) for i, name, *rest in rows)

    def edges(self, rows: Iterable[Row]) -> Iterable[Row]:
        """GraphML edges (repo_id, user_id, contributions)."""
        return ((self.repo_id(r), self.user_id(u), n) for r, u, n, *_ in rows)
