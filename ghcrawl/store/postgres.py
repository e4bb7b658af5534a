"""The PostgreSQL backend: connections, start-up checks and offline access.

The transactions themselves are the portable ones every backend shares; this
module only opens connections (psycopg 3 through adbapi, a small pool, reconnect
on loss) and keeps the password out of argv and logs: libpq's ``PGPASSWORD``,
``~/.pgpass``/``PGPASSFILE``, or ``$CREDENTIALS_DIRECTORY/pg-password``.
"""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

from ghcrawl.errors import StoreError
from ghcrawl.store.dialect import POSTGRES, Pool, tables, version
from ghcrawl.store.migrations import SCHEMA_VERSION

SCHEMES = ("postgresql://", "postgres://")
_cursor_names = itertools.count(1)
MISSING_DRIVER = "PostgreSQL needs psycopg: pip install 'ghcrawl[postgres]'"
CONNECT_TIMEOUT = 10


def is_uri(db: str) -> bool:
    """Whether ``db`` names a PostgreSQL database rather than a SQLite file."""
    return db.startswith(SCHEMES)


def redact(db: str) -> str:
    """The database as logs and status show it: never with a password."""
    if not is_uri(db):
        return db
    parts = urlsplit(db)
    if parts.password is None:
        return db
    host = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}@{host}" if user else host))


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise StoreError(MISSING_DRIVER) from None
    # psycopg warns on stderr about a pipeline it could not end on a lost connection;
    # the store already says, in one line, that the database went away.
    logging.getLogger("psycopg").setLevel(logging.ERROR)
    return psycopg


def _check_uri(uri: str) -> None:
    parts = urlsplit(uri)
    if parts.password is not None or "password" in parse_qs(parts.query):
        raise StoreError(
            "the database URI must not hold a password: use PGPASSWORD, ~/.pgpass or $CREDENTIALS_DIRECTORY/pg-password"
        )


def connect_kwargs(env: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """libpq finds PGPASSWORD and ~/.pgpass itself; systemd's credential is read here."""
    kwargs: dict[str, Any] = {"connect_timeout": CONNECT_TIMEOUT, "application_name": "ghcrawl"}
    folder = env.get("CREDENTIALS_DIRECTORY")
    if folder and not env.get("PGPASSWORD"):
        path = os.path.join(folder, "pg-password")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                kwargs["password"] = f.read().strip()
    return kwargs


def connect(uri: str, **extra: Any) -> Any:
    """A plain psycopg connection (the ``ghcrawl`` command, checks, copies); one line on failure."""
    psycopg = _psycopg()
    _check_uri(uri)
    try:
        conn = psycopg.connect(uri, **connect_kwargs(), **extra)
    except psycopg.Error as e:
        raise StoreError(f"cannot connect to {redact(uri)}: {_first_line(e)}") from None
    try:
        _open_connection(conn)
    except psycopg.Error as e:
        conn.close()
        raise StoreError(f"cannot use {redact(uri)}: {_first_line(e)}") from None
    return conn


def _open_connection(conn: Any) -> None:
    # Rows read back as SQLite gives them (times as ISO text, booleans 0/1), in a UTC session.
    from ghcrawl.store import pgtime

    pgtime.configure(conn)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def pool(uri: str) -> Pool:
    """A few connections in a few threads: PostgreSQL runs transactions side by side."""
    _psycopg()
    _check_uri(uri)
    return Pool(POSTGRES, "psycopg", uri, cp_min=1, cp_max=3, cp_reconnect=True, cp_noisy=False,
                cp_openfun=_open_connection, **connect_kwargs())


def check_database(uri: str) -> None:
    """Refuse, before anything is created, a database that is unreachable, foreign or newer."""
    conn = connect(uri)
    try:
        cur = conn.cursor()
        have = tables(cur, POSTGRES)
        current = version(cur) if "schema_version" in have else None
    finally:
        conn.close()
    if have and current is None:
        raise StoreError(f"{redact(uri)} is not a ghcrawl database (it has other tables)")
    if current is not None and current > SCHEMA_VERSION:
        raise StoreError(
            f"{redact(uri)} has schema version {current}, newer than this ghcrawl ({SCHEMA_VERSION}); upgrade ghcrawl"
        )


class PortableCursor:
    """A psycopg cursor taking the portable SQL, shaped like sqlite3's for the offline queries."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self._cur: Any = conn.cursor()

    def execute(self, sql: str, params: Any = ()) -> PortableCursor:
        psycopg = _psycopg()
        in_transaction = self._conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
        if in_transaction and sql.lstrip().upper().startswith("SELECT"):
            # A server-side cursor streams a large result instead of loading it whole.
            self._cur = self._conn.cursor(name=f"ghcrawl_{next(_cursor_names)}")
            self._cur.itersize = 2000
        else:
            self._cur = self._conn.cursor()
        self._cur.execute(POSTGRES.translate(sql, bool(params)), params or None)
        return self

    # Rows come as SQLite gives them (booleans 0/1, times ISO text): see pgtime.
    def fetchone(self) -> tuple[Any, ...] | None:
        return self._cur.fetchone()  # type: ignore[no-any-return]

    def fetchall(self) -> list[tuple[Any, ...]]:
        return list(self._cur.fetchall())

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self._cur)

    @property
    def description(self) -> Any:
        return self._cur.description

    @property
    def rowcount(self) -> int:
        return int(self._cur.rowcount)

    def close(self) -> None:
        self._cur.close()


class OfflineConnection:
    """An autocommit psycopg connection the offline queries use like a sqlite3 one."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Any = ()) -> PortableCursor:
        return PortableCursor(self._conn).execute(sql, params)

    def cursor(self) -> PortableCursor:
        return PortableCursor(self._conn)

    def close(self) -> None:
        self._conn.close()


def open_offline(uri: str) -> OfflineConnection:
    """Open an existing ghcrawl database on PostgreSQL, refusing anything else."""
    conn = connect(uri, autocommit=True)
    try:
        cur = conn.cursor()
        if "schema_version" not in tables(cur, POSTGRES):
            raise StoreError(f"{redact(uri)} is not a ghcrawl database (no schema_version table)")
        current = version(cur)
    except BaseException:
        conn.close()
        raise
    if current > SCHEMA_VERSION:
        conn.close()
        raise StoreError(
            f"{redact(uri)} has schema version {current}, newer than this ghcrawl ({SCHEMA_VERSION}); upgrade ghcrawl"
        )
    return OfflineConnection(conn)
