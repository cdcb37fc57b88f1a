"""Survival of adopted work on a real repository: reachable from its branch, its lines still blamed on it."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from pe.history import db, insights, survival
from pe.layout import Layout
from tests.support import git
from tests.support.repo import readme_repo


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = readme_repo(tmp_path / "repo")
    return r


@pytest.fixture
def conn(root: Path) -> Iterator[sqlite3.Connection]:
    with contextlib.closing(db.open_for_writing(Layout(root))) as c:
        yield c


def adopt_by_hand(root: Path, conn: sqlite3.Connection, sha: str, into: str = "main", rid: str = "r1") -> None:
    with db.transaction(conn):
        conn.execute("INSERT INTO trees (round_id, feature, tree, created_at, strategy, agent, state, attempts) "
                     "VALUES (?, 'feat', 'feat-1', '2025-01-01T00:00:00+0000', 'simple', 'command', 'done', 1)",
                     (rid,))
        conn.execute("INSERT INTO adoptions (round_id, feature, tree, commit_sha, into_branch, mode) "
                     "VALUES (?, 'feat', 'feat-1', ?, ?, 'squash')", (rid, sha, into))


def looks(conn: sqlite3.Connection) -> list[tuple[object, ...]]:
    return [tuple(r) for r in conn.execute(
        "SELECT round_id, reachable, lines_added, lines_surviving FROM survival ORDER BY checked_at, round_id")]


def commit_file(root: Path, name: str, text: str, message: str) -> str:
    (root / name).write_text(text)
    git(root, "add", name)
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD")


def test_lines_rewritten_later_no_longer_survive(root: Path, conn: sqlite3.Connection) -> None:
    # The tree's work: 10 lines of a new file and 2 of README, adopted onto main by hand.
    git(root, "switch", "-q", "-c", "pe/feat/1")
    commit_file(root, "impl.py", "".join(f"line {i}\n" for i in range(10)), "tree work")
    sha = commit_file(root, "README.md", "project\nfeature one\nfeature two\n", "tree docs")
    git(root, "switch", "-q", "main")
    git(root, "merge", "-q", "--squash", "pe/feat/1")
    git(root, "commit", "-q", "-m", "adopt feat-1")
    adopted = git(root, "rev-parse", "HEAD")
    assert adopted != sha
    adopt_by_hand(root, conn, adopted)
    # Later work on main rewrites 3 of impl.py's lines and one README line.
    lines = [f"line {i}\n" for i in range(10)]
    lines[2:5] = ["new 2\n", "new 3\n", "new 4\n"]
    commit_file(root, "impl.py", "".join(lines), "rewrite")
    commit_file(root, "README.md", "project\nfeature one\nfeature 2\n", "docs")
    assert survival.check(Layout(root), conn) == 1
    assert looks(conn) == [("r1", 1, 12, 8)]
    row = conn.execute("SELECT survival FROM outcomes WHERE round_id = 'r1'").fetchone()
    assert row[0] == pytest.approx(8 / 12)


def test_a_commit_reset_away_is_not_reachable_and_a_gcd_one_is_no_error(
        root: Path, conn: sqlite3.Connection) -> None:
    base = git(root, "rev-parse", "HEAD")
    sha = commit_file(root, "impl.py", "a\nb\nc\n", "adopted")
    adopt_by_hand(root, conn, sha)
    git(root, "reset", "-q", "--hard", base)  # history rewritten: the commit is still in the object store
    assert survival.check(Layout(root), conn) == 1
    assert looks(conn)[-1] == ("r1", 0, 3, 0)
    # Gone altogether (gc'd, or an import from a clone that never had it): the lines an earlier look
    # counted stay, so its survival is 0, not unknown.
    with db.transaction(conn):
        conn.execute("UPDATE adoptions SET commit_sha = ?", ("e" * 40,))
        conn.execute("UPDATE survival SET checked_at = '2000-01-01T00:00:00+0000'")
    assert survival.check(Layout(root), conn) == 1
    assert looks(conn)[-1] == ("r1", 0, 3, 0)
    assert conn.execute("SELECT survival FROM outcomes").fetchone()[0] == 0.0


def test_a_merge_adoption_counts_the_commits_it_brought(root: Path, conn: sqlite3.Connection) -> None:
    git(root, "switch", "-q", "-c", "pe/feat/1")
    commit_file(root, "a.py", "1\n2\n", "one")
    commit_file(root, "b.py", "3\n4\n5\n", "two")
    git(root, "switch", "-q", "main")
    commit_file(root, "other.txt", "meanwhile\n", "main moved")  # so the merge is a real merge commit
    git(root, "merge", "-q", "--no-ff", "-m", "adopt", "pe/feat/1")
    adopt_by_hand(root, conn, git(root, "rev-parse", "HEAD"))
    commit_file(root, "b.py", "3\n4\nfive\n", "later")
    survival.check(Layout(root), conn)
    assert looks(conn) == [("r1", 1, 5, 4)]


@pytest.mark.parametrize(("sha", "into"), [
    ("HEAD", "main"),  # not a full object id
    ("a" * 40, "--upload-pack=evil"),  # not a branch name: never reaches git as an option
    ("a" * 40, "elsewhere"),  # a branch another clone has
    (None, "main"),
])
def test_an_adoption_that_cannot_be_looked_at_here_is_skipped(
        root: Path, conn: sqlite3.Connection, sha: str | None, into: str) -> None:
    adopt_by_hand(root, conn, sha, into)  # type: ignore[arg-type]
    assert survival.check(Layout(root), conn) == 0
    assert looks(conn) == []


def test_gather_says_so_when_the_history_cannot_be_written(root: Path, conn: sqlite3.Connection) -> None:
    sha = commit_file(root, "impl.py", "a\n", "adopted")
    adopt_by_hand(root, conn, sha)
    conn.close()
    layout = Layout(root)
    with contextlib.closing(sqlite3.connect(db.path(layout))) as other:
        other.execute(f"PRAGMA user_version = {db.VERSION + 1}")  # a newer pe's: read, never written
    found = insights.gather(layout)
    assert found.insights is not None and found.insights.rounds == 1
    assert found.note is not None and "not re-checked" in found.note
    assert insights.gather(Layout(root / "nowhere")).insights is None
