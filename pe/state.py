"""doit's state database, made crash-safe.

doit writes its database only when a run ends (Runner.finish), so a kill -9
loses every success of that run. This backend commits each task's record the
moment doit finishes saving it: `deps:` is the last key save_success writes.
Registered as the doit backend `pe-sqlite` (pyproject entry point), so plain
`doit` through dodo.py uses it too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from doit.dependency import SqliteDB


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
        if dependency == "deps:":
            self._conn.execute(
                "insert or replace into doit values (?,?)",
                (task_id, self.codec.encode(self._cache[task_id])),
            )
            self._conn.commit()
            self._dirty.discard(task_id)
