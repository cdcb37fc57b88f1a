"""Did adopted work survive? One `survival` row per adoption each time `pe insights` runs.

The strongest outcome signal there is: a tree whose adoption was reverted, rewritten away or
mostly replaced a week later did not really win. For each adoption: is its commit still
reachable from the branch it went into, and how many of the lines it added does `git blame`
of that branch still attribute to it.

The adoptions table is data (an import from another clone, a hand edit): its commit must be
a full object id and its branch a valid branch name that exists here, and only the resolved
ids reach git. A commit that is gone (gc'd, history rewritten) is an answer, not an error:
not reachable, nothing surviving.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pe import git, gitfacts
from pe.history import db
from pe.layout import Layout
from pe.util import now_iso

_OBJECT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
# An adoption by merge brings the tree's own commits, which blame names, not the merge: every
# commit it brought counts as its. Bounded: a merge of a long-lived branch is not a tree's work.
MAX_COMMITS = 1000


@dataclass(frozen=True)
class Look:
    reachable: bool
    lines_added: int | None  # None: the commit is gone and no earlier look counted them
    lines_surviving: int


def check(layout: Layout, conn: sqlite3.Connection) -> int:
    """Look at every adoption now and record it; the number of survival rows written."""
    adoptions = list(conn.execute("SELECT round_id, commit_sha, into_branch FROM adoptions ORDER BY adopted_at"))
    looks: list[tuple[str, Look]] = []
    for a in adoptions:
        tip = _branch_tip(layout.root, a["into_branch"])
        sha = a["commit_sha"]
        if tip is None or not isinstance(sha, str) or not _OBJECT_ID.fullmatch(sha):
            continue  # nothing to measure against here (its branch is another clone's, or gone)
        look = measure(layout.root, sha, tip)
        if look.lines_added is None:
            look = Look(look.reachable, _known_lines(conn, a["round_id"]), look.lines_surviving)
        looks.append((a["round_id"], look))
    if not looks:
        return 0
    checked_at = now_iso()
    with db.transaction(conn):
        for round_id, look in looks:
            conn.execute("INSERT OR REPLACE INTO survival (round_id, checked_at, reachable, lines_added, "
                         "lines_surviving) VALUES (?, ?, ?, ?, ?)",
                         (round_id, checked_at, int(look.reachable), look.lines_added, look.lines_surviving))
    return len(looks)


def measure(root: Path, commit: str, tip: str) -> Look:
    """`commit` (a full object id) against `tip` (the resolved branch it was adopted into)."""
    if git.resolve_commit(root, commit) != commit:
        return Look(False, None, 0)
    parent = _first_parent(root, commit)
    added = _added(root, commit, parent)
    if not gitfacts.is_ancestor(root, commit, tip):
        return Look(False, sum(added.values()), 0)  # its lines may live on only in a copy: not its lines
    ours = _brought(root, commit, parent)
    surviving = sum(_blamed(root, tip, path, ours) for path, n in added.items() if n)
    return Look(True, sum(added.values()), surviving)


def _branch_tip(root: Path, branch: object) -> str | None:
    if not isinstance(branch, str) or not branch or not git.valid_branch_name(root, branch):
        return None
    return gitfacts.branch_tip(root, branch)


def _first_parent(root: Path, commit: str) -> str | None:
    parents = gitfacts.read(root, "rev-list", "--parents", "-n", "1", commit).stdout.split()
    return parents[1] if len(parents) > 1 else None


def _added(root: Path, commit: str, parent: str | None) -> dict[str, int]:
    """Lines added per file by `commit` against its first parent (a root commit: against nothing)."""
    against = (parent,) if parent is not None else ("--root",)
    raw = gitfacts.read(root, *gitfacts.QUOTED, "diff-tree", "-r", "--numstat", "--no-renames", "--no-commit-id",
                        *against, commit).stdout
    added: dict[str, int] = {}
    for line in raw.splitlines():
        parts = line.split("\t", 2)
        if len(parts) == 3 and parts[0].isdigit():  # a binary file ("-") adds no lines
            path = gitfacts.unquote(parts[2])
            added[path] = added.get(path, 0) + int(parts[0])
    return added


def _brought(root: Path, commit: str, parent: str | None) -> frozenset[str]:
    if parent is None:
        return frozenset({commit})
    raw = gitfacts.read(root, "rev-list", f"--max-count={MAX_COMMITS}", f"{parent}..{commit}").stdout
    return frozenset(raw.split()) | {commit}


def _blamed(root: Path, tip: str, path: str, ours: Iterable[str]) -> int:
    """Lines of `path` at `tip` that blame gives to one of `ours` (0 if the file is gone)."""
    res = gitfacts.read(root, "blame", "--line-porcelain", tip, "--", path, check=False)
    if res.returncode != 0:
        return 0
    wanted = set(ours)
    # Every line's block starts "<sha> <orig line> <final line>[ <group size>]"; content lines
    # start with a tab, so no file's text can pass for a header.
    return sum(1 for line in res.stdout.splitlines()
               if line[:1] != "\t" and line.split(" ", 1)[0] in wanted and line.count(" ") >= 2)


def _known_lines(conn: sqlite3.Connection, round_id: str) -> int | None:
    """What an earlier look counted: a commit gc'd since still added those lines (survival 0, not unknown)."""
    row = conn.execute("SELECT lines_added FROM survival WHERE round_id = ? AND lines_added IS NOT NULL "
                       "ORDER BY checked_at DESC LIMIT 1", (round_id,)).fetchone()
    return None if row is None else int(row[0])
