"""The only package with SQL: rows, the frontier, validators and budgets.

The crawler and the service see one interface, ``Store``; ``open_store`` picks the
backend for a database. ``offline`` holds the ``ghcrawl`` command's queries.
"""

from __future__ import annotations

from ghcrawl.store.records import Page, Task
from ghcrawl.store.sqlite import Store, check_database

__all__ = ["Page", "Store", "Task", "check_database", "open_store"]


def open_store(db: str, max_depth: int) -> Store:
    """The store for a database given by the user."""
    return Store(db, max_depth)
