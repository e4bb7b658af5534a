"""Exporters: the crawl as CSV, JSON Lines or a GraphML contribution graph.

Every writer takes rows as an iterable and writes them one at a time, so memory
stays flat however large the database is; the rows come from ``ghcrawl.store``
(this module holds no SQL). Files are written under a temporary name and renamed
into place, so a reader never sees half an export.
"""

from __future__ import annotations

import csv
import json
import os
import re
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TextIO

from ghcrawl.pseudonymize import Pseudonymizer
from ghcrawl.store import offline as store

FORMATS = ("csv", "jsonl", "graphml")
GRAPHML_NS = "http://graphml.graphdrawing.org/xmlns"

#: Code points XML 1.0 forbids in a document, even escaped.
_XML_FORBIDDEN = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_to_json = json.JSONEncoder(ensure_ascii=False).encode
_XML_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\r": "&#13;"})

#: GraphML attribute keys: (id, for, type); ``label`` is what Gephi shows on a node.
_KEYS = (
    ("kind", "node", "string"),
    ("label", "node", "string"),
    ("login", "node", "string"),
    ("type", "node", "string"),
    ("full_name", "node", "string"),
    ("fork", "node", "boolean"),
    ("language", "node", "string"),
    ("stargazers_count", "node", "long"),
    ("depth", "node", "int"),
    ("weight", "edge", "double"),
)

Rows = Iterable[Sequence[Any]]


def write_csv(out: TextIO, columns: Sequence[str], rows: Rows) -> int:
    """Write a header of column names, then one line per row (NULL as an empty field)."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    count = 0
    for row in rows:
        writer.writerow(row)
        count += 1
    return count


def write_jsonl(out: TextIO, columns: Sequence[str], rows: Rows) -> int:
    """Write one JSON object per row, keys in column order (every line stands alone, no header)."""
    count = 0
    for row in rows:
        out.write(_to_json(dict(zip(columns, row))) + "\n")
        count += 1
    return count


def xml_text(value: Any) -> str:
    """Text safe inside an XML 1.0 element or attribute: forbidden characters dropped, the rest escaped."""
    if isinstance(value, bool):
        value = "true" if value else "false"
    return _XML_FORBIDDEN.sub("", str(value)).translate(_XML_ESCAPES)


def _data(key: str, value: Any) -> str:
    return "" if value is None else f'<data key="{key}">{xml_text(value)}</data>'


def write_graphml(out: TextIO, users: Rows, repos: Rows, edges: Rows) -> int:
    """Write the user-to-repository contribution graph; returns the number of edges.

    ``users`` rows are (id, login, type, depth), ``repos`` rows (id, full_name,
    fork, language, stargazers_count, owner depth), ``edges`` rows (repo_id,
    user_id, contributions, ...): exactly the contributor export's leading columns.
    """
    out.write('<?xml version="1.0" encoding="UTF-8"?>\n')
    out.write(
        f'<graphml xmlns="{GRAPHML_NS}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        f'xsi:schemaLocation="{GRAPHML_NS} {GRAPHML_NS}/1.0/graphml.xsd">\n'
    )
    out.writelines(f'  <key id="{k}" for="{d}" attr.name="{k}" attr.type="{t}"/>\n' for k, d, t in _KEYS)
    out.write('  <graph id="contributions" edgedefault="directed">\n')
    for uid, login, kind, depth in users:
        data = _data("kind", "user") + _data("label", login) + _data("login", login)
        out.write(f'    <node id="u{uid}">{data}{_data("type", kind)}{_data("depth", depth)}</node>\n')
    for rid, full_name, fork, language, stars, depth in repos:
        data = _data("kind", "repo") + _data("label", full_name) + _data("full_name", full_name)
        data += _data("fork", bool(fork)) + _data("language", language)
        out.write(f'    <node id="r{rid}">{data}{_data("stargazers_count", stars)}{_data("depth", depth)}</node>\n')
    count = 0
    for repo_id, user_id, contributions, *_ in edges:
        out.write(f'    <edge source="u{user_id}" target="r{repo_id}">{_data("weight", float(contributions))}</edge>\n')
        count += 1
    out.write("  </graph>\n</graphml>\n")
    return count


def _user_nodes(conn: sqlite3.Connection) -> Iterable[tuple[Any, ...]]:
    cols = store.USER_EXPORT_COLUMNS
    wanted = [cols.index(c) for c in ("id", "login", "type", "depth")]
    return (tuple(row[i] for i in wanted) for row in store.iter_users(conn))


def export(conn: sqlite3.Connection, fmt: str, folder: str,
           pseudonyms: Pseudonymizer | None = None) -> list[tuple[str, int]]:
    """Write the export files for ``fmt`` into ``folder`` from one snapshot; returns (path, rows) each.

    With ``pseudonyms``, ids, logins and names are keyed hashes and free text is left out.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}")
    os.makedirs(folder, exist_ok=True)
    written = []
    with store.snapshot(conn):
        if fmt == "graphml":
            path = os.path.join(folder, "graph.graphml")
            users: Rows = _user_nodes(conn)
            repos: Rows = store.iter_graph_repos(conn)
            edges: Rows = store.iter_contributors(conn)
            if pseudonyms is not None:
                users, repos, edges = pseudonyms.graph_users(users), pseudonyms.graph_repos(repos), pseudonyms.edges(edges)
            return [(path, _atomic(path, write_graphml, users, repos, edges))]
        writer = write_csv if fmt == "csv" else write_jsonl
        tables = (
            ("users", store.USER_EXPORT_COLUMNS, store.iter_users),
            ("repos", store.REPO_EXPORT_COLUMNS, store.iter_repos),
            ("contributors", store.CONTRIBUTOR_EXPORT_COLUMNS, store.iter_contributors),
        )
        for name, columns, rows in tables:
            path = os.path.join(folder, f"{name}.{fmt}")
            shared: tuple[Sequence[str], Rows] = (columns, rows(conn))
            if pseudonyms is not None:
                shared = pseudonyms.table(name, columns, shared[1])
            written.append((path, _atomic(path, writer, *shared)))
    return written


def _atomic(path: str, write: Callable[..., int], *args: Any) -> int:
    """Run ``write`` into ``path``.tmp and rename it into place only once it is complete."""
    tmp = path + ".tmp"
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as out:
            count = write(out, *args)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return count
