"""One SQL text for both backends: the portable subset, translated per connection.

Queries are written once with ``?`` placeholders, ``BEGIN IMMEDIATE`` to open a
write and ``FOR UPDATE [SKIP LOCKED]`` where PostgreSQL must lock rows. SQLite,
whose single writer already serialises transactions, drops the locking clauses;
PostgreSQL gets ``%s`` placeholders and opens its transaction on the first
statement. Migrations run here too, under PostgreSQL's advisory lock.
"""

from __future__ import annotations

import re
import sqlite3
import sys
from functools import lru_cache
from typing import Any

from attrs import frozen
from twisted.enterprise.adbapi import Connection, ConnectionLost, ConnectionPool, Transaction

from ghcrawl.errors import StoreError
from ghcrawl.store.migrations import SCHEMA_FILES, SCHEMA_VERSION, ddl, statements
from ghcrawl.store.records import iso

_LOCKS = re.compile(r" FOR UPDATE( SKIP LOCKED)?")
# SQLite's null-safe comparisons with a parameter, in PostgreSQL's words.
_IS_NOT = re.compile(r"\bIS NOT \?")
_IS = re.compile(r"\bIS \?")
#: Any constant works; it only has to be the same for every ghcrawl daemon.
MIGRATION_LOCK = 0x67686377


@frozen
class Dialect:
    """Which engine a connection speaks to: ``sqlite`` or ``postgres``."""

    name: str

    def translate(self, sql: str, has_params: bool = True) -> str:
        return _translate(self.name, sql, has_params)


SQLITE = Dialect("sqlite")
POSTGRES = Dialect("postgres")


@lru_cache(maxsize=1024)
def sqlite_text(sql: str) -> str:
    """A portable statement as SQLite runs it (a shortcut for SQLite's own hot path)."""
    return _LOCKS.sub("", sql)


@lru_cache(maxsize=1024)
def _translate(name: str, sql: str, has_params: bool) -> str:
    if name == "sqlite":
        return _LOCKS.sub("", sql)
    if sql == "BEGIN IMMEDIATE":
        return "BEGIN"
    if sql == "BEGIN DEFERRED":
        return "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
    if not has_params:
        return sql
    sql = _IS.sub("IS NOT DISTINCT FROM ?", _IS_NOT.sub("IS DISTINCT FROM ?", sql))
    return sql.replace("%", "%%").replace("?", "%s")


class PortableTransaction(Transaction):
    """An adbapi transaction that translates each statement for its pool's dialect."""

    _pool: Pool

    def execute(self, sql: str, params: Any = ()) -> Any:
        dialect = self._pool.dialect
        if dialect is POSTGRES and sql == "BEGIN IMMEDIATE":
            return None  # psycopg opens the transaction on the first statement
        cursor: Any = self._cursor
        if dialect is SQLITE:
            return cursor.execute(dialect.translate(sql), params)
        return cursor.execute(dialect.translate(sql, bool(params)), params or None)

    def executemany(self, sql: str, rows: Any) -> Any:
        rows = list(rows)
        if not rows:
            return None
        cursor: Any = self._cursor
        return cursor.executemany(self._pool.dialect.translate(sql), rows)


class QuietConnection(Connection):
    """A pooled connection that drops itself without a traceback when it cannot roll back.

    A rollback fails when the connection is gone (a server restart, a failover):
    adbapi would log two tracebacks per transaction cut off. The connection is
    discarded instead (the next interaction in its thread opens a new one) and the
    transaction's own error goes on to the store, which says so in one line and
    runs the transaction again.
    """

    def rollback(self) -> None:
        try:
            self._connection.rollback()
        except Exception:
            if not self._pool.reconnect:
                raise
            self._pool.disconnect(self._connection)


class Pool(ConnectionPool):
    """A connection pool that knows its dialect."""

    transactionFactory = PortableTransaction
    connectionFactory = QuietConnection

    def __init__(self, dialect: Dialect, *args: Any, **kwargs: Any) -> None:
        self.dialect = dialect
        super().__init__(*args, **kwargs)


def transient(error: BaseException) -> bool:
    """Whether an interaction that raised ``error`` may simply be run again.

    A busy SQLite file, a lost PostgreSQL connection (restart, failover), a
    serialization failure or a deadlock leave nothing half-written: the
    transaction was rolled back, so running it again is safe.
    """
    if isinstance(error, ConnectionLost):
        return True
    if isinstance(error, sqlite3.OperationalError):
        text = str(error)
        return "locked" in text or "busy" in text
    psycopg = sys.modules.get("psycopg")
    return psycopg is not None and isinstance(error, psycopg.OperationalError)


def tables(cur: Any, dialect: Dialect) -> set[str]:
    """The tables of the database (PostgreSQL: of the current schema)."""
    if dialect is SQLITE:
        cur.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    else:
        cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")
    return {str(r[0]) for r in cur.fetchall()}


def version(cur: Any) -> int:
    cur.execute("SELECT MAX(version) FROM schema_version")
    return int(cur.fetchone()[0] or 0)


def migrate(conn: Any, dialect: Dialect, now: float) -> int:
    """Bring the schema to this version, each step in its own transaction.

    Daemons starting at once never race: on PostgreSQL the whole check-and-apply
    holds an advisory lock; on SQLite each step looks at the version again once it
    holds the write lock. Either way the second finds the schema already there.
    """
    cur = conn.cursor()
    try:
        if dialect is POSTGRES:
            cur.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
            conn.commit()
        try:
            return _apply(conn, cur, dialect, now)
        finally:
            if dialect is POSTGRES:
                conn.rollback()
                cur.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
                conn.commit()
    finally:
        cur.close()


def _apply(conn: Any, cur: Any, dialect: Dialect, now: float) -> int:
    have = tables(cur, dialect)
    if have and "schema_version" not in have:
        raise StoreError("not a ghcrawl database (it has other tables)")
    current = version(cur) if "schema_version" in have else 0
    if current > SCHEMA_VERSION:
        raise StoreError(f"schema version {current} is newer than this ghcrawl ({SCHEMA_VERSION})")
    if dialect is POSTGRES:
        conn.commit()
    for number, name in enumerate(SCHEMA_FILES, start=1):
        if number <= current:
            continue
        if dialect is SQLITE:
            cur.execute("BEGIN IMMEDIATE")
            # Another daemon starting at the same moment may have applied it while we
            # waited for the write lock: look again, now that nobody else can write.
            if "schema_version" in tables(cur, dialect) and version(cur) >= number:
                cur.execute("ROLLBACK")
                continue
        try:
            for statement in statements(ddl(dialect.name, name)):
                cur.execute(statement)
            cur.execute(dialect.translate("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)"),
                        (number, iso(now)[:19] + "Z"))
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
    return SCHEMA_VERSION
