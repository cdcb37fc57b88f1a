"""export then import: a fresh clone learns what this one did, once, and a bad file changes nothing."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from pe.errors import PeError
from pe.history import db, exchange, insights
from pe.layout import Layout
from tests.history.seeded import seed
from tests.support import git
from tests.support.repo import readme_repo

TABLES = ("adoptions", "attempts", "compares", "judged", "survival", "trees")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = readme_repo(tmp_path / "repo")
    with contextlib.closing(db.open_for_writing(Layout(r))) as c:
        seed(c)
    return r


@pytest.fixture
def clone(root: Path, tmp_path: Path) -> Iterator[sqlite3.Connection]:
    """A fresh clone's history (.pe/ is not in git: it starts empty)."""
    git(tmp_path, "clone", "-q", str(root), "clone")
    assert not (tmp_path / "clone" / ".pe").exists()
    with contextlib.closing(db.open_for_writing(Layout(tmp_path / "clone"))) as c:
        yield c


def rows(conn: sqlite3.Connection) -> dict[str, int]:
    return {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in TABLES}


def exported(root: Path, tmp_path: Path) -> Path:
    file = tmp_path / "runs.jsonl"
    with contextlib.closing(db.open_for_writing(Layout(root))) as c:
        assert exchange.export(c, file) == 17 + 18 + 4 + 13 + 6 + 6  # trees attempts compares judged adoptions survival
    return file


def test_a_fresh_clone_gets_the_same_insights_once(root: Path, tmp_path: Path, clone: sqlite3.Connection) -> None:
    file = exported(root, tmp_path)
    assert json.loads(file.read_text().splitlines()[0]) == {"pe_history": db.VERSION}
    assert exchange.import_(clone, file) == 64
    with contextlib.closing(db.open_for_writing(Layout(root))) as original:
        assert insights.compute(clone).to_json() == insights.compute(original).to_json()
        assert rows(clone) == rows(original)
    # Twice, or a clone's export that shares every run: nothing added twice.
    assert exchange.import_(clone, file) == 0
    assert rows(clone)["trees"] == 17


def test_an_export_with_new_runs_adds_only_those(root: Path, tmp_path: Path, clone: sqlite3.Connection) -> None:
    exchange.import_(clone, exported(root, tmp_path))
    with db.transaction(clone):
        clone.execute("INSERT INTO trees (round_id, feature, tree, created_at, state, attempts) "
                      "VALUES ('new', 'delta', 'delta-1', '2025-06-01T00:00:00+0000', 'done', 1)")
    back = tmp_path / "back.jsonl"
    exchange.export(clone, back)
    with contextlib.closing(db.open_for_writing(Layout(root))) as original:
        assert exchange.import_(original, back) == 1
        assert original.execute("SELECT feature FROM trees WHERE round_id = 'new'").fetchone()[0] == "delta"


@pytest.mark.parametrize(("line", "said"), [
    ("{not json", "line 3: not JSON"),
    ('{"table": "nope", "row": {}}', "line 3: unknown table 'nope'"),
    ('{"table": "trees", "row": {"round_id": "x", "feature": "f", "tree": "t", "colour": 1}}',
     "line 3: unknown column 'colour' in table trees"),
    ('{"table": "trees", "row": {"round_id": "x", "tree": "t"}}', "line 3: table trees: feature is required"),
    ('{"table": "adoptions", "row": {"feature": "f", "tree": "t"}}', "line 3: table adoptions: round_id is required"),
    ('{"table": "trees", "row": {"round_id": "x", "feature": "f", "tree": ["t"]}}',
     "line 3: table trees: tree must be a string, number or null"),
    ("[1, 2]", 'line 3: expected {"table": NAME, "row": {...}}'),
])
def test_a_bad_line_is_one_error_and_nothing_is_imported(
        root: Path, tmp_path: Path, clone: sqlite3.Connection, line: str, said: str) -> None:
    good = exported(root, tmp_path).read_text().splitlines()
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join([*good[:2], line, *good[2:]]) + "\n")
    with pytest.raises(PeError) as err:
        exchange.import_(clone, bad)
    text = str(err.value)
    assert said in text and text.endswith("nothing imported") and "\n" not in text
    assert set(rows(clone).values()) == {0}


def test_a_newer_schema_or_a_foreign_file_is_refused(tmp_path: Path, clone: sqlite3.Connection) -> None:
    newer = tmp_path / "newer.jsonl"
    newer.write_text(json.dumps({"pe_history": db.VERSION + 1}) + "\n")
    with pytest.raises(PeError, match=f"schema {db.VERSION + 1}, newer than this pe's"):
        exchange.import_(clone, newer)
    foreign = tmp_path / "foreign.jsonl"
    foreign.write_text('{"table": "trees", "row": {}}\n')
    with pytest.raises(PeError, match="line 1: not a pe history export"):
        exchange.import_(clone, foreign)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(PeError, match="empty"):
        exchange.import_(clone, empty)
    with pytest.raises(PeError, match="cannot read it"):
        exchange.import_(clone, tmp_path / "missing.jsonl")
