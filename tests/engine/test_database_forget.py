"""database.forget: doit's records of the named tasks go, every other record stays, nothing is created."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from doit.dependency import JSONCodec

from pe.engine import database


def _task_ids(db_file: Path) -> set[str]:
    with sqlite3.connect(db_file) as conn:
        ids = {row[0] for row in conn.execute("select task_id from doit")}
    conn.close()
    return ids


def _doit_db(db_file: Path, task_ids: list[str]) -> None:
    """Records written the way a doit run writes them: through pe's backend, committed per task."""
    db = database.CommittingSqliteDB(str(db_file), JSONCodec())
    for task_id in task_ids:
        db.set(task_id, "result:", "abc")
        db.set(task_id, "deps:", [])  # the last key doit saves: the backend commits here
    db._conn.close()  # a killed run: doit's own close (dump) never happens


def test_forget_deletes_exactly_the_named_tasks(tmp_path: Path) -> None:
    db_file = tmp_path / ".pe" / "doit.sqlite3"
    one = ["worktree:calc-1", "setup:calc-1", "agent:calc-1"]
    others = ["worktree:calc-2", "setup:calc-2", "agent:calc-2", "agent:calc-10", "compare:calc"]
    _doit_db(db_file, one + others)
    assert _task_ids(db_file) == set(one + others)
    database.forget(db_file, one)
    assert _task_ids(db_file) == set(others)
    # doit still reads what is left, and forgetting again is harmless (a re-run cleanup).
    database.forget(db_file, one)
    db = database.CommittingSqliteDB(str(db_file), JSONCodec())
    assert db.get("agent:calc-2", "result:") == "abc" and db.get("agent:calc-1", "result:") is None
    db._conn.close()


def test_forget_without_a_database_creates_none(tmp_path: Path) -> None:
    db_file = tmp_path / ".pe" / "doit.sqlite3"
    database.forget(db_file, ["agent:calc-1"])
    assert not db_file.exists() and not db_file.parent.exists()


def test_forget_nothing_keeps_everything(tmp_path: Path) -> None:
    db_file = tmp_path / "doit.sqlite3"
    _doit_db(db_file, ["agent:calc-1"])
    database.forget(db_file, [])
    assert _task_ids(db_file) == {"agent:calc-1"}
