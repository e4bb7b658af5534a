"""Word lists and small generators that give synthetic users a human look.

Logins end in the user's index as decimal digits, so a login maps back to
its user without any index in memory; the stem has no digits, which keeps
that mapping unambiguous.
"""

from __future__ import annotations

import random
import re

_SYLLABLES = (
    "ka", "ro", "mi", "ta", "ven", "lo", "sha", "dri", "no", "el", "zu", "par",
    "qui", "ber", "an", "tor", "lis", "mo", "ra", "gen", "fi", "ux", "ond", "sel",
)
_WORDS = (
    "lamp", "forge", "kite", "delta", "ember", "quartz", "otter", "signal",
    "harbor", "pixel", "cedar", "raven", "mosaic", "tundra", "vector", "lumen",
    "cobalt", "drift", "meadow", "atlas", "nimbus", "sprout", "falcon", "ridge",
)
_GIVEN = (
    "Zoë", "Ångström", "Renée", "José", "Łukasz", "Søren", "Amélie", "Chloé",
    "Björn", "Ana", "Mira", "Kenji", "Priya", "Olusegun", "Yara", "Tomás",
    "Дмитрий", "Αλέξης", "李", "さくら", "Nguyễn", "Ömer", "Saoirse", "Jürgen",
)
_FAMILY = (
    "Okafor", "Müller", "Ó Súilleabháin", "García", "Kowalski", "Đặng", "Ivanova",
    "Papadopoulos", "小龙", "たなか", "Nakamura", "Svensson", "Çelik", "Novák",
    "Smith", "Haddad", "Fernández", "Lindqvist", "Żak", "Dubois",
)
_COMPANIES = ("@acme", "Initech", "Umbrella Labs", "Ñandú Systems", "Café Bytes", None)
_LOCATIONS = ("Berlin", "São Paulo", "Kraków", "東京", "Zürich", "Lagos", "Montréal", None)
_BIOS = (
    "Builds small tools. ☕",
    "Compilers, caches and coffee — in that order.",
    "Rustacean 🦀 & Pythonista 🐍",
    "Ich schreibe Software für Menschen.",
    "開発者 / developer",
    "Maintainer of things nobody notices until they break.",
    None,
)
_LANGUAGES = ("Python", "Rust", "Go", "TypeScript", "C", "Haskell", "Shell", None)
_TOPICS = ("cli", "parser", "http", "graph", "crawler", "database", "async", "ui")

_LOGIN_RE = re.compile(r"^(.*?)(\d+)(\[bot\])?$")


def login_stem(rng: random.Random, kind: str) -> str:
    """Makes a digit-free stem, sometimes dashed or capitalised like real logins."""
    parts = ["".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(1, 3)))]
    if rng.random() < 0.35:
        parts.append(rng.choice(_WORDS))
    stem = "-".join(parts)
    if kind == "Organization":
        stem += rng.choice(("-org", "-labs", "-dev", "hq"))
    elif kind == "Bot":
        stem += "-bot"
    elif rng.random() < 0.2:
        stem = stem.capitalize()
    return stem


def make_login(stem: str, index: int, kind: str) -> str:
    """Appends the index (and the bot suffix) that makes the login unique."""
    return f"{stem}{index}" + ("[bot]" if kind == "Bot" else "")


def index_of_login(login: str) -> int | None:
    """Recovers the user index a generated login encodes, or None."""
    match = _LOGIN_RE.match(login)
    if match is None or match.group(2).startswith("0") and match.group(2) != "0":
        return None
    return int(match.group(2))


def person_name(rng: random.Random) -> str | None:
    """Mostly unicode full names, sometimes absent as on GitHub."""
    if rng.random() < 0.15:
        return None
    return f"{rng.choice(_GIVEN)} {rng.choice(_FAMILY)}"


def pick(rng: random.Random, kind: str) -> str | None:
    """Picks one profile or repo attribute of the named kind."""
    table = {
        "company": _COMPANIES,
        "location": _LOCATIONS,
        "bio": _BIOS,
        "language": _LANGUAGES,
    }[kind]
    return rng.choice(table)


def repo_name(rng: random.Random) -> str:
    """A lower-case dashed repository name; uniqueness is the caller's job."""
    first, second = rng.sample(_WORDS, 2)
    name = f"{first}-{second}" if rng.random() < 0.6 else first
    if rng.random() < 0.2:
        name += ".py" if rng.random() < 0.5 else "-rs"
    return name


def topics(rng: random.Random) -> list[str]:
    """Zero to three distinct topics."""
    return sorted(rng.sample(_TOPICS, rng.randint(0, 3)))


def description(rng: random.Random) -> str | None:
    """A short unicode-flavoured description, or None."""
    if rng.random() < 0.2:
        return None
    return f"{rng.choice(_WORDS).capitalize()} for {rng.choice(_WORDS)}s — {rng.choice(('fast', 'tiny', 'naïve', 'ünïcode-safe'))}"
