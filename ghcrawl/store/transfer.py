"""``ghcrawl copy``: a whole crawl from one database to another, SQLite or PostgreSQL.

Rows, the frontier with its states and cursors, validators and budgets are
streamed table by table in batches, so memory stays flat however large the
crawl. The destination must be new or empty and is filled in one transaction:
a failed copy leaves it empty. Leases are not copied (a copy is taken from a
stopped crawl; any task leased at the time is pending in the copy), nor the
daemons of the source.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from typing import Any

from ghcrawl.errors import StoreError
from ghcrawl.store import offline, postgres
from ghcrawl.store.dialect import POSTGRES, SQLITE, Dialect, migrate, tables, version
from ghcrawl.store.migrations import SCHEMA_VERSION
from ghcrawl.store.sqlite import _open_connection, check_database

BATCH = 1000
#: Parents before children (foreign keys); the other tables follow in name order.
FIRST = ("users", "repos", "contributors")
SKIPPED = {"schema_version", "workers"}
#: Columns that are BOOLEAN on PostgreSQL and 0/1 on SQLite.
BOOLEANS = {("repos", "fork"), ("repos", "archived")}


def copy(src: str, dst: str, progress: Callable[[str, int], None] = lambda table, rows: None) -> dict[str, int]:
    """Copy the crawl in ``src`` into the new or empty database ``dst``; rows copied per table."""
    source = offline.open_offline(src)
    try:
        found = version(source.cursor())
        if found != SCHEMA_VERSION:
            raise StoreError(f"{postgres.redact(src)} has schema version {found}; run this ghcrawl's daemon on it "
                             f"once to bring it to {SCHEMA_VERSION}, then copy")
        conn, dialect = _open_destination(dst)
        try:
            return _copy_all(source, conn, dialect, progress)
        finally:
            conn.close()
    finally:
        source.close()


def _open_destination(dst: str) -> tuple[Any, Dialect]:
    check_database(dst)
    if postgres.is_uri(dst):
        conn, dialect = postgres.connect(dst), POSTGRES
    else:
        conn, dialect = sqlite3.connect(os.path.abspath(dst)), SQLITE
        _open_connection(conn)
    try:
        cur = conn.cursor()
        for table in sorted(tables(cur, dialect) - SKIPPED):
            cur.execute(f"SELECT 1 FROM {table} LIMIT 1")
            if cur.fetchone() is not None:
                raise StoreError(f"{postgres.redact(dst)} is not empty (table {table} has rows): "
                                 "copy only into a new database")
        if dialect is POSTGRES:
            conn.rollback()
        migrate(conn, dialect, time.time())
    except BaseException:
        conn.close()
        raise
    return conn, dialect


def _order(names: set[str]) -> list[str]:
    return [t for t in FIRST if t in names] + sorted(names - set(FIRST))


def _copy_all(source: Any, conn: Any, dialect: Dialect, progress: Callable[[str, int], None]) -> dict[str, int]:
    cur = conn.cursor()
    copied: dict[str, int] = {}
    with offline.snapshot(source):
        wanted = _order(tables(source.cursor(), _dialect_of(source)) - SKIPPED)
        if dialect is SQLITE:
            cur.execute("BEGIN IMMEDIATE")
        try:
            for table in wanted:
                copied[table] = _copy_table(source, cur, dialect, table)
                progress(table, copied[table])
            if dialect is POSTGRES and copied.get("tasks"):
                cur.execute("SELECT setval(pg_get_serial_sequence('tasks', 'id'), (SELECT MAX(id) FROM tasks))")
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
    return copied


def _dialect_of(conn: Any) -> Dialect:
    return SQLITE if isinstance(conn, sqlite3.Connection) else POSTGRES


def _columns(conn: Any, table: str) -> list[str]:
    cur = conn.execute(f"SELECT * FROM {table} LIMIT 0")
    return [d[0] for d in cur.description]


def _copy_table(source: Any, cur: Any, dialect: Dialect, table: str) -> int:
    columns = _columns(source, table)
    select = f"SELECT {', '.join(columns)} FROM {table} ORDER BY {', '.join(columns[:2])}"
    insert = dialect.translate(
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})")
    convert = _converter(table, columns, dialect)
    count = 0
    for batch in _batches(source.execute(select), BATCH):
        cur.executemany(insert, [convert(row) for row in batch])
        count += len(batch)
    return count


def _converter(table: str, columns: list[str], dialect: Dialect) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
    """Rows as the destination stores them: booleans, and no lease carried over."""
    flags = [i for i, c in enumerate(columns) if (table, c) in BOOLEANS and dialect is POSTGRES]
    state = columns.index("state") if table == "tasks" and "state" in columns else None
    owner = [i for i, c in enumerate(columns) if table == "tasks" and c in ("lease_owner", "lease_expires_at")]

    def convert(row: tuple[Any, ...]) -> tuple[Any, ...]:
        values = list(row)
        for i in flags:
            values[i] = None if values[i] is None else bool(values[i])
        if state is not None and values[state] == "leased":
            values[state] = "pending"
            for i in owner:
                values[i] = None
        return tuple(values)

    return convert


def _batches(rows: Any, size: int) -> Iterator[list[tuple[Any, ...]]]:
    batch: list[tuple[Any, ...]] = []
    for row in rows:
        batch.append(tuple(row))
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
