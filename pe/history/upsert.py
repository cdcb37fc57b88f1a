"""The history's writes: rows upserted by key, only those that differ from what the database holds.

A sync (pe/history/sync.py) records the same rows again and again: most of them are in the
database already. Writing only what differs keeps a command that changed nothing from writing
a byte: the file, and its WAL, stay as they were.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Upserts:
    """The upserts of one sync, in order: (table, key columns, row, columns only an insert sets)."""

    rows: list[tuple[str, tuple[str, ...], dict[str, Any], Collection[str]]] = field(default_factory=list)

    def add(self, table: str, key: tuple[str, ...], row: dict[str, Any], insert_only: Collection[str] = ()) -> None:
        self.rows.append((table, key, row, insert_only))

    def write(self, conn: sqlite3.Connection) -> int:
        """Upsert every row that differs from the database's; how many did. A sync that finds
        everything recorded writes nothing at all: the file stays byte for byte as it was."""
        changed = 0
        for table, key, row, insert_only in self.rows:
            cols = list(row)
            # Table and column names are the caller's literals (pe/history/sync.py); only values are data.
            where = " AND ".join(f"{c} = ?" for c in key)
            found = conn.execute(f"SELECT {', '.join(cols)} FROM {table} WHERE {where}",  # noqa: S608
                                 [row[c] for c in key]).fetchone()
            if found is not None and all(v == row[c] for c, v in zip(cols, found, strict=True) if c not in insert_only):
                continue
            changed += 1
            sets = ", ".join(f"{c} = excluded.{c}" for c in cols if c not in key and c not in insert_only)
            conflict = f"DO UPDATE SET {sets}" if sets else "DO NOTHING"
            sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) " \
                  f"ON CONFLICT ({', '.join(key)}) {conflict}"  # noqa: S608
            conn.execute(sql, [row[c] for c in cols])
        return changed
