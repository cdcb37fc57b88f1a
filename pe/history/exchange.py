"""`pe history export FILE` / `import FILE`: the history as JSON lines, to pool across clones.

The file: a first line {"pe_history": <schema version>}, then one {"table": ..., "row": {...}}
per row of every table. Import adds the rows this database lacks (INSERT OR IGNORE on each
table's primary key, which is the run's own id: a round, an attempt, a compare), so
importing a file twice, or the export of a clone that shares runs, adds nothing twice.

An import is all or nothing, in one transaction: the first line that is not valid (not JSON,
an unknown table or column, a missing required value) is a one-line error naming it, and
nothing is imported. A file from a newer schema is refused: its rows may mean what this pe
cannot know.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pe.errors import PeError
from pe.history import db

MARK = "pe_history"


@dataclass(frozen=True)
class _Table:
    columns: tuple[str, ...]
    # NOT NULL columns (OR IGNORE would drop such a row silently) and the primary key's (sqlite
    # lets a NULL into a text key, and a NULL never equals the NULL of a second import).
    required: frozenset[str]


def _tables(conn: sqlite3.Connection) -> dict[str, _Table]:
    names = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    found = {}
    for name in names:
        info = list(conn.execute(f'PRAGMA table_info("{name}")'))  # a name sqlite_master gave: no user text
        required = frozenset(i["name"] for i in info if i["notnull"] or i["pk"])
        found[name] = _Table(tuple(i["name"] for i in info), required)
    return found


def _columns(names: Iterable[str]) -> str:
    return ", ".join(f'"{c}"' for c in names)


def export(conn: sqlite3.Connection, file: Path) -> int:
    """Write every row of every table to `file`; the number of rows written."""
    tables = _tables(conn)
    written = 0
    try:
        out = file.open("w", encoding="utf-8")
    except OSError as exc:
        raise PeError(f"{file}: cannot write it ({exc.strerror or exc})") from None
    # One read transaction: a sync writing meanwhile cannot tear the export in two.
    conn.execute("BEGIN")
    try:
        with out:
            out.write(json.dumps({MARK: db.version(conn)}) + "\n")
            for name, table in tables.items():
                # Names from sqlite_master and table_info: the database's own, never a user's text.
                sql = f'SELECT {_columns(table.columns)} FROM "{name}" ORDER BY rowid'  # noqa: S608
                for row in conn.execute(sql):
                    out.write(json.dumps({"table": name, "row": dict(zip(table.columns, row, strict=True))},
                                         ensure_ascii=False) + "\n")
                    written += 1
    finally:
        conn.execute("COMMIT")
    return written


def _error(file: Path, line: int, why: str) -> PeError:
    return PeError(f"{file}: line {line}: {why}; nothing imported")


def _parse(file: Path, tables: dict[str, _Table]) -> list[tuple[int, str, dict[str, Any]]]:
    """The rows of `file` (line number, table, row), every line checked before any is imported."""
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise PeError(f"{file}: not a pe history export (not UTF-8 text); nothing imported") from None
    except OSError as exc:
        raise PeError(f"{file}: cannot read it ({exc.strerror or exc}); nothing imported") from None
    lines = [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if not lines:
        raise PeError(f"{file}: empty, not a pe history export; nothing imported")
    items = []
    for n, line in lines:
        try:
            items.append((n, json.loads(line)))
        except ValueError:
            raise _error(file, n, "not JSON") from None
    _check_version(file, *items[0])
    return [(n, *_check_row(file, n, item, tables)) for n, item in items[1:]]


def _check_version(file: Path, n: int, item: Any) -> None:
    version = item.get(MARK) if isinstance(item, dict) else None
    if not isinstance(version, int) or isinstance(version, bool):
        raise _error(file, n, f'not a pe history export (its first line must be {{"{MARK}": VERSION}})')
    if version > db.VERSION:
        raise PeError(f"{file}: written with history schema {version}, newer than this pe's ({db.VERSION}): "
                      "upgrade pe to import it; nothing imported")


def _check_row(file: Path, n: int, item: Any, tables: dict[str, _Table]) -> tuple[str, dict[str, Any]]:
    if not isinstance(item, dict) or set(item) != {"table", "row"} or not isinstance(item["row"], dict):
        raise _error(file, n, 'expected {"table": NAME, "row": {...}}')
    name, row = item["table"], item["row"]
    table = tables.get(name) if isinstance(name, str) else None
    if table is None:
        raise _error(file, n, f"unknown table {str(name)[:40]!r}")
    unknown = sorted(set(row) - set(table.columns))
    if unknown:
        raise _error(file, n, f"unknown column {unknown[0][:40]!r} in table {name}")
    missing = sorted(c for c in table.required if row.get(c) is None)
    if missing:
        raise _error(file, n, f"table {name}: {missing[0]} is required")
    bad = next((c for c, v in row.items() if not isinstance(v, (str, int, float, type(None)))), None)
    if bad is not None:
        raise _error(file, n, f"table {name}: {bad} must be a string, number or null")
    return name, row


def import_(conn: sqlite3.Connection, file: Path) -> int:
    """Add `file`'s rows that this database lacks, all or none; the number of rows added."""
    tables = _tables(conn)
    rows = _parse(file, tables)
    added = 0
    with db.transaction(conn):
        for n, name, row in rows:
            # The table's own column names (the file's were checked against them), never the file's text.
            cols = [c for c in tables[name].columns if c in row]
            marks = ", ".join("?" for _ in cols)
            sql = f'INSERT OR IGNORE INTO "{name}" ({_columns(cols)}) VALUES ({marks})'  # noqa: S608
            try:
                added += conn.execute(sql, [row[c] for c in cols]).rowcount
            except sqlite3.Error as exc:
                raise _error(file, n, f"table {name}: {exc}") from None
    return added
