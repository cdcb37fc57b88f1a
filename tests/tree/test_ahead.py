"""ScansAhead: every tree's `git status` started before status needs it, each taken when asked."""

from __future__ import annotations

import os
from pathlib import Path

from pe import gitfacts
from pe.tree.ahead import ScansAhead
from tests.support import git


def test_scans_ahead_are_the_scans_of_each_checkout_and_a_broken_one_reads_as_missing(
        repo: Path, tmp_path: Path) -> None:
    trees = []
    for i in range(3):
        tree = tmp_path / f"tree-{i}"
        git(repo, "worktree", "add", "--quiet", "-b", f"t{i}", str(tree))
        (tree / f"new-{i}.txt").write_text("uncommitted\n")
        trees.append(tree)
    plain = tmp_path / "not-a-checkout"
    plain.mkdir()
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / ".git").write_text("gitdir: /nowhere\n")  # an agent repointed its .git

    ahead = ScansAhead([*trees, plain, broken])
    try:
        assert set(ahead) == {*trees, broken}  # a directory without .git is not looked at
        for i, tree in enumerate(trees):
            assert ahead[tree] == gitfacts.scan(tree)
            assert ahead[tree].entries == (("??", f"new-{i}.txt"),)
        assert ahead.get(broken) is None and ahead.get(plain) is None
        # The caller then asks git itself, and says what is wrong.
        assert gitfacts.tree_facts(broken, "0" * 40, None, ahead.get(broken)).error is not None
    finally:
        ahead.close()


def test_scans_ahead_closed_unread_leave_no_git_running(repo: Path, tmp_path: Path) -> None:
    trees = []
    for i in range(12):
        tree = tmp_path / f"tree-{i}"
        git(repo, "worktree", "add", "--quiet", "-b", f"t{i}", str(tree))
        trees.append(tree)
    ahead = ScansAhead(trees)
    ahead.close()  # as status does when settling changed a tree: nothing of it is read
    assert _git_children() == []  # none left running, and none a zombie (each was waited for)
    assert len(ahead) == 12
    # Asked after an early close: what was scanned answers, what never started reads as missing
    # (and does not wait for a scan that will not come).
    assert all(ahead.get(t) is None or ahead.get(t) == gitfacts.scan(t) for t in trees)


def _git_children() -> list[int]:
    """This process's children that are git, alive or zombie (other tests' children do not count)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name, rest = text[text.index("(") + 1:text.rindex(")")], text[text.rindex(")") + 2:].split()
        if name == "git" and int(rest[1]) == os.getpid():
            found.append(int(stat.parent.name))
    return found
