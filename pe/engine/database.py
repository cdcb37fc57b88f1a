"""doit's state database, made crash-safe.

doit writes its database only when a run ends (Runner.finish), so a kill -9
loses every success of that run. This backend commits each task's record the
moment doit finishes saving it: `deps:` is the last key save_success writes.
Registered as the doit backend `pe-sqlite` (pyproject entry point), so plain
`doit` through dodo.py uses it too.
"""

from __future__ import annotations

import contextlib
import errno
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from doit.dependency import SqliteDB


def check_database(path: Path) -> None:
    """Open (or create) the database as doit will, and fail with one line if it cannot be written.

    doit's own message for any sqlite error at open is "seems to use a bad format or
    is corrupted... remove the database file(s)", with a traceback: wrong, and bad
    advice, when the disk is full or read-only.
    """
    try:
        with sqlite3.connect(path, timeout=10) as conn:
            conn.execute("pragma journal_mode=wal")
            conn.execute("create table if not exists doit (task_id text not null primary key, task_data json)")
        conn.close()
    except sqlite3.OperationalError as exc:
        code = errno.ENOSPC if "full" in str(exc) else errno.EIO
        raise OSError(code, f"cannot write pe's state database ({exc})", str(path)) from None


def forget(db_file: Path, task_ids: Sequence[str]) -> None:
    """Delete doit's records of these tasks (cleanup forgetting a tree), so they would run afresh.

    The caller holds the repository lock, so no doit run writes meanwhile (a reader
    such as pe status does not block: WAL). The deletes are one transaction:
    a kill -9 in it leaves every record or none, and forgetting again is harmless.
    A missing database has nothing to forget, and is not created.
    """
    if not db_file.exists():
        return
    with sqlite3.connect(db_file, timeout=10) as conn:
        conn.executemany("delete from doit where task_id = ?", [(task_id,) for task_id in task_ids])
    conn.close()  # (the with block commits; it does not close)


class CommittingSqliteDB(SqliteDB):
    desc = "sqlite3, committed after every task (survives kill -9)"

    def __init__(self, name: str, codec: Any, **kwargs: Any) -> None:
        Path(name).parent.mkdir(parents=True, exist_ok=True)  # a fresh repo has no .pe/ yet
        super().__init__(name, codec, **kwargs)
        # WAL: a reader (pe status) never blocks a writer, and a commit is one fsync.
        self._conn.execute("pragma journal_mode=wal")
        self._conn.execute("pragma busy_timeout=10000")

    def set(self, task_id: str, dependency: str, value: Any) -> None:
        super().set(task_id, dependency, value)
        if dependency == "deps:" and self._commit([task_id]):
            self._dirty.discard(task_id)

    def dump(self) -> None:
        """doit's close: whatever could not be committed when it was saved, one more try."""
        dirty: set[str] = self._dirty
        self._commit(sorted(dirty))
        self._conn.close()
        dirty.clear()

    def _commit(self, task_ids: Sequence[str]) -> bool:
        """Write these records in one transaction; False when sqlite could not (a full disk).

        This runs in doit's main thread when a task succeeds, and doit turns any exception
        there into exit 3 with its traceback swallowed, while other agents still run. A
        record lost is harmless: the stamps decide what is done, and a task with no record
        runs its action, whose first step is that stamp check. So the run goes on, and
        the record stays dirty for dump to try again.
        """
        try:
            for task_id in task_ids:
                self._conn.execute(
                    "insert or replace into doit values (?,?)",
                    (task_id, self.codec.encode(self._cache[task_id])),
                )
            self._conn.commit()
        except sqlite3.OperationalError:
            with contextlib.suppress(sqlite3.Error):
                self._conn.rollback()
            return False
        return True
