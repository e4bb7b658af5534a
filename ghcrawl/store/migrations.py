"""Versioned DDL: the files each backend applies in order, one version per file."""

from __future__ import annotations

from importlib import resources

SCHEMA_FILES = ("001_initial.sql", "002_leases.sql", "003_privacy.sql", "004_times.sql")
SCHEMA_VERSION = len(SCHEMA_FILES)


def ddl(backend: str, name: str) -> str:
    """The text of one schema file of one backend (``sqlite`` or ``postgres``)."""
    return resources.files("ghcrawl.store").joinpath("schema", backend, name).read_text("utf-8")


def statements(text: str) -> list[str]:
    """Split a schema file into statements (``--`` comments dropped; no ``;`` inside literals)."""
    lines = [line.split("--", 1)[0] for line in text.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
