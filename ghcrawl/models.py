"""Frozen records built from GitHub's JSON; the one place a body's shape is checked.

A body that lacks an identity field, carries one of the wrong type or a time not
in GitHub's form raises ``FetchError`` (the task retries, then fails with that
reason); free text is cleaned (NUL bytes dropped, length capped) so one odd
profile never breaks a page.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from attrs import frozen

from ghcrawl.errors import FetchError

#: GitHub logins: alphanumerics and single dashes; apps add a ``[bot]`` suffix.
LOGIN_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}(?:\[bot\])?$")
#: GitHub's timestamps: UTC, whole seconds, ``2011-01-26T19:01:12Z``.
#: GitHub's form of a time, UTC to the second; a day over 28 is checked against its month.
TIME_RE = re.compile(r"[1-9][0-9]{3}-(?:0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]Z")
#: Longest free-text value kept; GitHub's own limits are far below this.
TEXT_CAP = 10_000


def valid_login(login: str) -> bool:
    """Tell whether ``login`` could be a GitHub login (used for seeds and bodies)."""
    return bool(LOGIN_RE.match(login))


def _bad(what: str) -> FetchError:
    return FetchError(f"bad API body: {what}")


def _int(obj: dict[str, Any], key: str, *, required: bool = True) -> int | None:
    value = obj.get(key)
    if type(value) is int:  # the common case first: JSON numbers are exact ints, never bools
        return value
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(f"{key} is {type(value).__name__}, not int")
    return value


def _text(obj: dict[str, Any], key: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _bad(f"{key} is {type(value).__name__}, not string")
    if len(value) > TEXT_CAP or "\x00" in value:
        return value.replace("\x00", "")[:TEXT_CAP]
    return value


def _time(obj: dict[str, Any], key: str) -> str | None:
    """GitHub's time as sent, the same text on both backends (PostgreSQL keeps it as
    TIMESTAMPTZ(0) and would refuse the whole page for a time it cannot read).

    Another ISO 8601 form (an offset, fractions) is brought to GitHub's: UTC, whole
    seconds. A time that is no time at all makes the body bad.
    """
    value = _text(obj, key)
    if value is None:
        return None
    match = TIME_RE.fullmatch(value)
    try:
        if match is not None:
            if int(match.group(1)) > 28:
                datetime(int(value[:4]), int(value[5:7]), int(value[8:10]))  # 30 February is no day
            return value
        when = datetime.fromisoformat(value)
    except ValueError:
        raise _bad(f"{key} is {value[:40]!r}, not a UTC time") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)  # GitHub's times are UTC
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _login(obj: dict[str, Any]) -> str:
    login = obj.get("login")
    if not isinstance(login, str) or not valid_login(login):
        raise _bad(f"invalid login {str(login)[:60]!r}")
    return login


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad(f"{what} is {type(value).__name__}, not an object")
    return value


def _bool(obj: dict[str, Any], key: str) -> bool:
    value = obj.get(key, False)
    if not isinstance(value, bool):
        raise _bad(f"{key} is {type(value).__name__}, not bool")
    return value


@frozen
class User:
    """A GitHub account: a full profile, or just what a contributor listing says."""

    id: int
    login: str
    type: str | None
    name: str | None = None
    company: str | None = None
    blog: str | None = None
    location: str | None = None
    bio: str | None = None
    public_repos: int | None = None
    followers: int | None = None
    following: int | None = None
    created_at: str | None = None
    updated_at: str | None = None

    @classmethod
    def from_api(cls, body: Any) -> User:
        """Build from a ``GET /users/{login}`` body (public-user)."""
        obj = _object(body, "user")
        return cls(
            id=_int(obj, "id"),  # type: ignore[arg-type]
            login=_login(obj),
            type=_text(obj, "type"),
            name=_text(obj, "name"),
            company=_text(obj, "company"),
            blog=_text(obj, "blog"),
            location=_text(obj, "location"),
            bio=_text(obj, "bio"),
            public_repos=_int(obj, "public_repos", required=False),
            followers=_int(obj, "followers", required=False),
            following=_int(obj, "following", required=False),
            created_at=_time(obj, "created_at"),
            updated_at=_time(obj, "updated_at"),
        )

    @classmethod
    def from_listing(cls, obj: dict[str, Any]) -> User:
        """Build the identity part from a simple-user inside a listing."""
        return cls(id=_int(obj, "id"), login=_login(obj), type=_text(obj, "type"))  # type: ignore[arg-type]


@frozen
class Repo:
    """A repository as a listing (minimal-repository) describes it."""

    id: int
    owner_id: int
    full_name: str
    name: str
    description: str | None
    fork: bool
    language: str | None
    stargazers_count: int | None
    forks_count: int | None
    open_issues_count: int | None
    size: int | None
    default_branch: str | None
    created_at: str | None
    updated_at: str | None
    pushed_at: str | None
    archived: bool

    @classmethod
    def from_api(cls, body: Any) -> Repo:
        """Build from one item of ``GET /users/{login}/repos``."""
        obj = _object(body, "repository")
        owner = _object(obj.get("owner"), "repository owner")
        full_name, name = _text(obj, "full_name"), _text(obj, "name")
        if not full_name or "/" not in full_name or not name:
            raise _bad(f"invalid full_name {str(full_name)[:80]!r}")
        return cls(
            id=_int(obj, "id"),  # type: ignore[arg-type]
            owner_id=_int(owner, "id"),  # type: ignore[arg-type]
            full_name=full_name,
            name=name,
            description=_text(obj, "description"),
            fork=_bool(obj, "fork"),
            language=_text(obj, "language"),
            stargazers_count=_int(obj, "stargazers_count", required=False),
            forks_count=_int(obj, "forks_count", required=False),
            open_issues_count=_int(obj, "open_issues_count", required=False),
            size=_int(obj, "size", required=False),
            default_branch=_text(obj, "default_branch"),
            created_at=_time(obj, "created_at"),
            updated_at=_time(obj, "updated_at"),
            pushed_at=_time(obj, "pushed_at"),
            archived=_bool(obj, "archived"),
        )


@frozen
class Contribution:
    """One row of a contributor listing: who, and how many commits."""

    user: User
    contributions: int

    @classmethod
    def from_api(cls, body: Any) -> Contribution | None:
        """Build from a contributor item; anonymous entries (no account) give None."""
        obj = _object(body, "contributor")
        if obj.get("type") == "Anonymous":
            return None
        count = _int(obj, "contributions")
        return cls(user=User.from_listing(obj), contributions=count)  # type: ignore[arg-type]


def items_of(body: Any) -> list[Any]:
    """Return a listing page's items, refusing anything that is not a JSON array."""
    if not isinstance(body, list):
        raise _bad(f"listing is {type(body).__name__}, not an array")
    return body
