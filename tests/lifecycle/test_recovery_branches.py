"""recover reads branch names in full: a tag named like a tree's branch must not hide the branch."""

from __future__ import annotations

from pathlib import Path

from pe.layout import Layout
from pe.lifecycle import recovery
from tests.support import git as _git


def test_a_tag_named_like_a_tree_branch_does_not_hide_the_branch(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    _git(root, "init", "-q", "-b", "main")
    (root / "a.txt").write_text("a\n")
    _git(root, "add", "a.txt")
    _git(root, "commit", "-qm", "init")
    _git(root, "branch", "calc-1")
    # With a tag of the same name, `refname:short` spells the branch `heads/calc-1`.
    _git(root, "tag", "calc-1")
    assert recovery.scan(Layout(root)).branches == {"main", "calc-1"}
