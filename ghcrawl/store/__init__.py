"""The only package with SQL: rows, the frontier, validators and budgets.

The crawler and the service see one interface, ``Store``; ``open_store`` picks the
backend for a database. ``offline`` holds the ``ghcrawl`` command's queries.
"""

from __future__ import annotations

from typing import Any

from ghcrawl.store.leases import Worker
from ghcrawl.store.postgres import is_uri, redact
from ghcrawl.store.records import Page, Task
from ghcrawl.store.sqlite import Store, check_database, default_worker_name

__all__ = ["Page", "Store", "Task", "Worker", "check_database", "default_worker_name", "is_uri", "open_store",
           "redact"]


def open_store(db: str, max_depth: int, *, worker: str = "", lease_timeout: float = 60.0,
               clock: Any = None) -> Store:
    """The store for a database given by the user: a SQLite path or a PostgreSQL URI."""
    return Store(db, max_depth, worker=worker, lease_timeout=lease_timeout, clock=clock)
