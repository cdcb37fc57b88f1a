"""worktree:<tree> made again: it holds its own branch, and never carries on a branch pe did not create.

A failed run leaves its tree for `pe resume`. If the directory is deleted by hand (or a sibling
agent's `git worktree remove --force` takes it) before that, the worktree stamp outlives it; the
tree made again must still be checked out at its branch's head, or the next checkpoint commit
records the deletion of every file.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support import git, pe, write_manifest


@pytest.mark.parametrize("how", ["rm -rf", "git worktree remove --force"])
def test_a_tree_deleted_after_a_failed_run_comes_back_with_its_branchs_files(
        repo: Path, agent_log: Path, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    write_manifest(repo, count=1)
    base = git(repo, "rev-parse", "HEAD")
    monkeypatch.setenv("PE_TEST_FAIL", "1")
    rc, out, err = pe(repo, "execute", "--feature=feat")
    assert rc == 1, out + err
    tree = repo / "trees" / "feat-1"
    # The agent's own commit on its branch, before it failed (pe's checkpoint holds the rest).
    (tree / "earlier.txt").write_text("committed by the agent before it failed\n")
    git(tree, "add", "earlier.txt")
    git(tree, "commit", "-q", "-m", "the agent's earlier commit")
    earlier = git(tree, "rev-parse", "HEAD")
    if how == "rm -rf":
        shutil.rmtree(tree)
    else:
        git(repo, "worktree", "remove", "--force", "--", str(tree))
    assert not tree.exists()

    monkeypatch.delenv("PE_TEST_FAIL")
    rc, out, err = pe(repo, "resume", "--feature=feat")
    assert rc == 0, out + err
    assert (tree / "README.md").read_text() == "project\n"
    assert (tree / "specs" / "plan.md").exists() and (tree / "tools" / "agent.py").exists()
    assert (tree / "earlier.txt").read_text() == "committed by the agent before it failed\n"
    assert git(repo, "merge-base", "--is-ancestor", earlier, "feat-1") == ""
    # Nothing of the base was deleted, in the last commit or anywhere on the branch.
    assert git(repo, "diff", "--name-only", "--diff-filter=D", base, "feat-1") == ""
    assert git(repo, "show", "--name-only", "--diff-filter=D", "--format=", "feat-1") == ""


def test_a_users_branch_in_the_trees_place_is_never_carried_on(repo: Path, agent_log: Path) -> None:
    """pe's marker from a killed run gets a tree past the preflight; the branch of its name is the user's."""
    write_manifest(repo, count=1)
    layout_stamp = repo / ".pe" / "stamps" / "feat-1.creating.json"
    layout_stamp.parent.mkdir(parents=True)
    layout_stamp.write_text("{}")  # what a pe killed inside `git worktree add -b` leaves
    (repo / "mine.txt").write_text("the user's own work\n")
    git(repo, "checkout", "-q", "-b", "feat-1")
    git(repo, "add", "mine.txt")
    git(repo, "commit", "-q", "-m", "the user's commit")
    git(repo, "checkout", "-q", "main")
    tip = git(repo, "rev-parse", "feat-1")
    rc, out, err = pe(repo, "execute", "--feature=feat")
    assert rc == 1, out + err
    assert "a branch named feat-1 already exists and pe did not create it" in out + err
    assert git(repo, "rev-parse", "feat-1") == tip  # nothing committed onto it
    assert not (repo / "trees" / "feat-1").exists()


def test_a_branch_cleanup_kept_is_named_as_pes_when_the_feature_name_comes_again(repo: Path, agent_log: Path) -> None:
    write_manifest(repo, count=1)
    assert pe(repo, "execute", "--feature=feat")[0] == 0
    rc, out, err = pe(repo, "cleanup", "--feature=feat", "--keep-branches")
    assert rc == 0, out + err
    rc, out, err = pe(repo, "execute", "--feature=feat")
    assert rc == 3 and err == (
        "pe: error: a branch named feat-1 already exists: pe created it in an earlier round and cleanup kept it; "
        "delete it (`pe cleanup --feature=feat` archives it first) or pick another feature name\n"), out + err
    # As it says: cleanup archives and deletes it (pe's record of creating it outlived the tree's state).
    rc, out, err = pe(repo, "cleanup", "--feature=feat")
    assert rc == 0 and git(repo, "branch", "--list", "feat-1") == "", out + err
    assert not (repo / ".pe" / "stamps" / "feat-1.branch.json").exists()
    assert pe(repo, "execute", "--feature=feat")[0] == 0
