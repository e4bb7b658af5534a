"""PostgreSQL's TIMESTAMPTZ read back as the ISO 8601 text SQLite holds for the same time.

The store reads and writes times as text on both backends, so rows, copies and
exports are identical whichever backend holds the crawl. Writes need nothing:
psycopg sends a ``str`` parameter as ``unknown`` and the server reads it as the
column's type. Reads need two steps, because a loader sees a value but not its
column:

- the loader turns the server's output (a UTC session in ``ISO`` style prints
  ``2011-01-26 19:01:12+00``, ``2026-11-25 23:59:23.12+00``) into
  ``2011-01-26T19:01:12Z`` and ``2026-11-25T23:59:23.120Z``: no fraction for a
  whole second, else milliseconds (microseconds if the value has them);
- the row factory gives the ``TIMESTAMPTZ(3)`` columns, ghcrawl's own times, their
  ``.000`` at a whole second, as ``records.iso`` writes them.

An expression that loses the column's precision (``MAX(fetched_at)``) reads as
the loader alone says: ``…:23Z`` for ``…:23.000Z``.

Only imported once psycopg is known to be installed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from psycopg import Connection
from psycopg.adapt import Buffer, Loader
from psycopg.postgres import types
from psycopg.rows import RowMaker

TIMESTAMPTZ_OID = types["timestamptz"].oid
#: The precision of the columns holding ghcrawl's own millisecond times.
MILLISECONDS = 3
_WHOLE = len("2011-01-26T19:01:12Z")


def iso_text(server: str) -> str:
    """The ISO 8601 UTC text for PostgreSQL's output of one TIMESTAMPTZ."""
    if len(server) >= 22 and server[10] == " " and server.endswith("+00"):
        whole, fraction = server[:10] + "T" + server[11:19], server[20:-3]
    else:  # not a UTC session, or a year past 9999: let Python read it
        try:
            moment = datetime.fromisoformat(server).astimezone(UTC)
        except ValueError:
            return server  # infinity: PostgreSQL's own word
        whole, fraction = moment.strftime("%Y-%m-%dT%H:%M:%S"), f"{moment.microsecond:06d}".rstrip("0")
    if not fraction:
        return whole + "Z"
    return f"{whole}.{fraction.ljust(3 if len(fraction) <= 3 else 6, '0')}Z"


class TimeLoader(Loader):
    """TIMESTAMPTZ as ISO 8601 UTC text instead of a datetime."""

    def load(self, data: Buffer) -> str:
        return iso_text(bytes(data).decode("ascii"))


def time_rows(cursor: Any) -> RowMaker[tuple[Any, ...]]:
    """Plain tuples, the millisecond columns' whole seconds given their ``.000``."""
    millis = [i for i, c in enumerate(cursor.description or ())
              if c.type_code == TIMESTAMPTZ_OID and c.precision == MILLISECONDS]
    if not millis:
        return tuple

    def make(values: Sequence[Any]) -> tuple[Any, ...]:
        row = list(values)
        for i in millis:
            value = row[i]
            if value is not None and len(value) == _WHOLE:
                row[i] = value[:-1] + ".000Z"
        return tuple(row)

    return make


def configure(conn: Connection[Any]) -> None:
    """Make a new connection speak ghcrawl's time text, in a UTC session."""
    conn.adapters.register_loader("timestamptz", TimeLoader)
    conn.row_factory = time_rows  # type: ignore[assignment]
    conn.execute("SET TimeZone TO 'UTC'")
    conn.execute("SET DateStyle TO 'ISO, YMD'")
    if not conn.autocommit:
        conn.commit()  # a SET rolled back would be undone
