"""doit's database on a full disk: a record that cannot be committed must not end the run.

When a task succeeds, doit saves its record from its main thread; pe's backend commits it
there. On a full disk that commit raised, doit turned it into exit 3 with its traceback
swallowed, and pe printed the table while other agents still ran (issue 18's note). The
stamps, not doit's records, decide what is done: a record lost costs one up-to-date check.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from doit.dependency import JSONCodec

from pe.engine import database
from tests.support.tmpfs import fill, small_tmpfs


def _records(db_file: Path) -> dict[str, str]:
    with sqlite3.connect(db_file) as conn:
        rows = dict(conn.execute("select task_id, task_data from doit"))
    conn.close()
    return rows


def test_a_task_saved_on_a_full_disk_is_kept_for_later_not_raised(tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "state", "1m") as state:
        db_file = state / "doit.sqlite3"
        db = database.CommittingSqliteDB(str(db_file), JSONCodec())
        db.set("agent:t-1", "result:", "abc")
        db.set("agent:t-1", "deps:", [])  # committed: there was room
        filler = fill(state, 0)
        db.set("agent:t-2", "result:", "x" * 200_000)  # a record bigger than anything left
        db.set("agent:t-2", "deps:", [])  # raised sqlite3.OperationalError before
        assert db.get("agent:t-2", "result:") == "x" * 200_000  # still known to this run
        filler.unlink()
        db.dump()  # doit's close: room again, so the record kept for later is written now
        assert set(_records(db_file)) == {"agent:t-1", "agent:t-2"}


def test_closing_on_a_full_disk_does_not_raise(tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "state", "1m") as state:
        db_file = state / "doit.sqlite3"
        db = database.CommittingSqliteDB(str(db_file), JSONCodec())
        db.set("agent:t-1", "deps:", [])
        fill(state, 0)
        db.set("agent:t-2", "result:", "x" * 200_000)
        db.set("agent:t-2", "deps:", [])
        db.dump()  # no room still: the record is lost, which the stamps make harmless
        assert set(_records(db_file)) == {"agent:t-1"}
