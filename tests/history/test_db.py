"""The history's database: a kill -9 in a write loses only that transaction; schema 1 migrates with its data."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from pe.history import db
from pe.layout import Layout
from tests.support.run import PE_ROOT, kill_group

# A writer like pe's sync, but slow: three rounds committed, then one transaction of many rows
# that never ends (the test kills it). Its rows are large, so that SQLite spills them into the
# WAL before the kill: the killed transaction is on disk, uncommitted.
_WRITER = """
import sys, time
from pathlib import Path
from pe.history import db
from pe.layout import Layout

conn = db.open_for_writing(Layout(Path(sys.argv[1])))
with db.transaction(conn):
    for i in range(3):
        conn.execute("INSERT INTO trees (round_id, feature, tree, state) VALUES (?, 'calc', ?, 'done')",
                     (f"done-{i}", f"calc-{i}"))
print("committed", flush=True)
with db.transaction(conn):
    for i in range(100000):
        conn.execute("INSERT INTO trees (round_id, feature, tree, state, failure) VALUES (?, 'calc', ?, 'failed', ?)",
                     (f"killed-{i}", f"calc-{i}", "x" * 2000))
        if i == 3000:
            print("deep", flush=True)  # about 6 MB written: far more than SQLite's page cache
        if i > 3000:
            time.sleep(0.01)
"""


def test_kill_9_during_a_history_write_keeps_every_finished_transaction(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(PE_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    child = subprocess.Popen([sys.executable, "-c", _WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True,
                             env=env, start_new_session=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "committed"
        assert child.stdout.readline().strip() == "deep"
        wal = layout.history_db.with_name(layout.history_db.name + "-wal")
        assert wal.stat().st_size > 1_000_000  # the killed transaction's pages are in the WAL
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        kill_group(child.pid)
        child.wait(timeout=30)
    conn = db.open_for_writing(layout)  # a writer again, straight after: no lock left behind
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert [r[0] for r in conn.execute("SELECT round_id FROM trees ORDER BY round_id")] == \
            ["done-0", "done-1", "done-2"]
        with db.transaction(conn):
            conn.execute("INSERT INTO trees (round_id, feature, tree) VALUES ('after', 'calc', 'calc-9')")
        assert conn.execute("SELECT count(*) FROM trees").fetchone()[0] == 4
    finally:
        conn.close()


def _v1_rows(conn: sqlite3.Connection) -> None:
    """One feature's rounds as the first schema held them: two trees, one judged eligible and adopted."""
    with db.transaction(conn):
        for rid, tree, state in (("r1", "calc-1", "done"), ("r2", "calc-2", "failed")):
            conn.execute("INSERT INTO trees (round_id, feature, tree, tree_index, created_at, strategy, agent, state, "
                         "attempts, failure) VALUES (?, 'calc', ?, ?, '2026-01-01T10:00:00+0000', 'simple', "
                         "'command', ?, 1, ?)", (rid, tree, int(tree[-1]), state,
                                                 None if state == "done" else "crash"))
        conn.execute("INSERT INTO attempts (round_id, attempt, state, failure) VALUES ('r2', 1, 'failed', 'crash')")
        for cid, at in (("calc@1", "2026-01-01T11:00:00+0000"), ("calc@2", "2026-01-01T12:00:00+0000")):
            conn.execute("INSERT INTO compares VALUES (?, 'calc', ?, 'calc-1')", (cid, at))
        # The older compare found calc-1 ineligible; the newer one is its verdict.
        conn.execute("INSERT INTO judged (compare_id, round_id, tree, eligible, recommended, score) "
                     "VALUES ('calc@1', 'r1', 'calc-1', 0, 0, NULL)")
        conn.execute("INSERT INTO judged (compare_id, round_id, tree, eligible, recommended, score) "
                     "VALUES ('calc@2', 'r1', 'calc-1', 1, 1, 87.5)")
        conn.execute("INSERT INTO adoptions (round_id, feature, tree, commit_sha, into_branch, mode) "
                     "VALUES ('r1', 'calc', 'calc-1', 'abc', 'main', 'squash')")


def test_migration_from_schema_1_keeps_the_data(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    layout.history_db.parent.mkdir(parents=True)
    conn = sqlite3.connect(layout.history_db, isolation_level=None)
    assert db.migrate(conn, to=1) == 0
    assert db.version(conn) == 1
    assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'outcomes'").fetchone() is None
    _v1_rows(conn)
    before = {t: sorted(map(tuple, conn.execute(f"SELECT * FROM {t}")))
              for t in ("trees", "attempts", "compares", "judged", "adoptions")}
    conn.close()

    conn = db.open_for_writing(layout)
    try:
        assert db.version(conn) == db.VERSION == 2
        after = {t: sorted(map(tuple, conn.execute(f"SELECT * FROM {t}")))
                 for t in before}
        assert after == before
        rows = {r["tree"]: dict(r) for r in conn.execute("SELECT * FROM outcomes")}
        assert (rows["calc-1"]["eligible"], rows["calc-1"]["recommended"], rows["calc-1"]["score"],
                rows["calc-1"]["adopted"]) == (1, 1, 87.5, 1)
        assert (rows["calc-2"]["eligible"], rows["calc-2"]["adopted"], rows["calc-2"]["failure"]) == (None, 0, "crash")
        assert rows["calc-1"]["reachable"] is None and rows["calc-1"]["survival"] is None  # no look yet
        # Schema 2's own table takes rows, and the view reads them.
        with db.transaction(conn):
            conn.execute("INSERT INTO survival VALUES ('r1', '2026-02-01T00:00:00+0000', 1, 10, 8)")
        row = conn.execute("SELECT reachable, survival FROM outcomes WHERE tree = 'calc-1'").fetchone()
        assert (row["reachable"], row["survival"]) == (1, 0.8)
    finally:
        conn.close()
