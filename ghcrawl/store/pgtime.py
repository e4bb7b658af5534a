"""Rows from PostgreSQL as SQLite gives them: TIMESTAMPTZ as ISO 8601 text, BOOLEAN as 0/1.

The store reads and writes times as text on both backends, so rows, copies and
exports are identical whichever backend holds the crawl. Writes need nothing:
psycopg sends a ``str`` parameter as ``unknown`` and the server reads it as the
column's type. Reads need the column, which a loader never sees, so the server's
text is loaded as is (a UTC session in ``ISO`` style prints
``2011-01-26 19:01:12+00``, ``2026-11-25 23:59:23.12+00``) and the row factory,
which sees each column's type and precision, writes it as SQLite holds it:

- ``TIMESTAMPTZ(0)``, whole seconds (GitHub's timestamps): ``2011-01-26T19:01:12Z``;
- ``TIMESTAMPTZ(3)``, ghcrawl's own times: ``2026-11-25T23:59:23.120Z``, with
  ``.000`` at a whole second, as ``records.iso`` writes them;
- an expression that lost the precision (``MAX(fetched_at)``): no fraction for a
  whole second, else milliseconds (microseconds if the value has them).

Only imported once psycopg is known to be installed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from psycopg import Connection
from psycopg.postgres import types
from psycopg.rows import RowMaker
from psycopg.types.string import TextLoader

TIMESTAMPTZ_OID = types["timestamptz"].oid
BOOL_OID = types["bool"].oid
_WHOLE = len("2011-01-26 19:01:12+00")
_MILLIS = len("2026-11-25 23:59:23.123+00")


def iso_text(server: str, digits: int | None = None) -> str:
    """The ISO 8601 UTC text for PostgreSQL's output of one TIMESTAMPTZ, with ``digits`` of fraction.

    ``digits`` None: none for a whole second, else 3 (or 6 if the value has microseconds).
    """
    if len(server) >= _WHOLE and server[10] == " " and server.endswith("+00"):
        whole, fraction = server[:10] + "T" + server[11:19], server[20:-3]
    else:  # not a UTC session, or a year past 9999: let Python read it
        try:
            moment = datetime.fromisoformat(server).astimezone(UTC)
        except ValueError:
            return server  # infinity: PostgreSQL's own word
        whole, fraction = moment.strftime("%Y-%m-%dT%H:%M:%S"), f"{moment.microsecond:06d}".rstrip("0")
    if digits is None:
        digits = 0 if not fraction else 3 if len(fraction) <= 3 else 6
    if digits == 0:
        return whole + "Z"
    return f"{whole}.{fraction.ljust(digits, '0')[:digits]}Z"


def _seconds(server: str) -> str:
    if len(server) == _WHOLE and server[19:] == "+00":  # the common case, cheaply: exports read millions
        return server[:10] + "T" + server[11:19] + "Z"
    return iso_text(server, 0)


def _milliseconds(server: str) -> str:
    if len(server) == _MILLIS and server[19] == "." and server[23:] == "+00":
        return server[:10] + "T" + server[11:23] + "Z"
    return iso_text(server, 3)


def _converter(type_code: int, precision: int | None) -> Callable[[Any], Any] | None:
    if type_code == BOOL_OID:
        return int
    if type_code != TIMESTAMPTZ_OID:
        return None
    return {0: _seconds, 3: _milliseconds}.get(precision, iso_text)  # type: ignore[arg-type]


def sqlite_rows(cursor: Any) -> RowMaker[tuple[Any, ...]]:
    """Plain tuples, with times and booleans in SQLite's form."""
    converters = [(i, f) for i, c in enumerate(cursor.description or ())
                  if (f := _converter(c.type_code, c.precision)) is not None]
    if not converters:
        return tuple

    def make(values: Sequence[Any]) -> tuple[Any, ...]:
        row = list(values)
        for i, convert in converters:
            if row[i] is not None:
                row[i] = convert(row[i])
        return tuple(row)

    return make


def configure(conn: Connection[Any]) -> None:
    """Make a new connection give rows as SQLite does, in a UTC session."""
    conn.adapters.register_loader("timestamptz", TextLoader)
    conn.row_factory = sqlite_rows  # type: ignore[assignment]
    conn.execute("SET TimeZone TO 'UTC'")
    conn.execute("SET DateStyle TO 'ISO, YMD'")
    if not conn.autocommit:
        conn.commit()  # a SET rolled back would be undone
