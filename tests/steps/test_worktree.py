"""worktree:<tree>: creation, idempotence, and repair of what killed runs leave."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pe import git as pegit
from pe.config import manifest
from pe.errors import PeError
from pe.layout import Layout
from pe.main import main
from pe.steps import worktree
from tests.support import git, write_manifest


def _feature(repo: Path, count: int = 2) -> manifest.Feature:
    write_manifest(repo, count=count)
    return manifest.load(Layout(repo), "feat")


def test_creates_trees_on_their_branches_and_excludes_pe_dirs(repo: Path) -> None:
    assert main(["init", "--feature=feat", "--plan=specs/plan.md", "--count=2", f"--dir={repo}"]) == 0
    for i in (1, 2):
        tree = repo / "trees" / f"feat-{i}"
        assert git(tree, "rev-parse", "--abbrev-ref", "HEAD") == f"feat-{i}"
        assert (tree / "specs" / "plan.md").read_text().startswith("# Plan")
    exclude = (repo / ".git" / "info" / "exclude").read_text()
    assert "/trees/" in exclude and "/.pe/" in exclude
    # features/ holds the new manifest; trees/ and .pe/ are invisible to git status.
    assert git(repo, "status", "--porcelain") == "?? features/"
    manifest_text = (repo / "features" / "feat.yaml").read_text()
    assert manifest_text.startswith("# yaml-language-server: $schema=.schema/feature.schema.json")
    assert (repo / "features" / ".schema" / "feature.schema.json").exists()
    assert "\nagent: claude\n" in manifest_text  # the default agent of a new manifest


def test_creating_again_is_a_no_op(repo: Path) -> None:
    feature = _feature(repo)
    layout = Layout(repo)
    base = pegit.resolve_commit(repo, "HEAD")
    assert base
    assert worktree.ensure(layout, feature.trees[0], base) == "created"
    (repo / "trees" / "feat-1" / "work.txt").write_text("agent work")
    assert worktree.ensure(layout, feature.trees[0], base) == "exists"
    assert (repo / "trees" / "feat-1" / "work.txt").read_text() == "agent work"


def test_repairs_locked_initializing_prunable_and_branch_without_tree(repo: Path) -> None:
    feature = _feature(repo, count=3)
    layout = Layout(repo)
    base = pegit.resolve_commit(repo, "HEAD")
    assert base
    # 1: what a kill -9 of `git worktree add` leaves: a registered entry locked "initializing".
    git(repo, "worktree", "add", "--no-checkout", "-b", "feat-1", "--", "trees/feat-1", base)
    git(repo, "worktree", "lock", "--reason", "initializing", "--", "trees/feat-1")
    # 2: a tree whose directory was deleted by hand: prunable.
    git(repo, "worktree", "add", "-b", "feat-2", "--", "trees/feat-2", base)
    shutil.rmtree(repo / "trees" / "feat-2")
    # 3: a branch left without its tree (the add race), with pe's marker from before the add.
    git(repo, "branch", "feat-3", base)
    layout.stamp("feat-3", "creating").parent.mkdir(parents=True, exist_ok=True)
    layout.stamp("feat-3", "creating").write_text("{}")
    for tree in feature.trees:
        worktree.ensure(layout, tree, base)
    listing = git(repo, "worktree", "list", "--porcelain")
    assert not [line for line in listing.splitlines() if line.startswith(("locked", "prunable"))]
    for i in (1, 2, 3):
        assert git(repo / "trees" / f"feat-{i}", "rev-parse", "--abbrev-ref", "HEAD") == f"feat-{i}"
        assert (repo / "trees" / f"feat-{i}" / "README.md").exists()


def test_foreign_directory_is_refused_before_anything_runs(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _feature(repo)
    (repo / "trees" / "feat-2").mkdir(parents=True)
    (repo / "trees" / "feat-2" / "mine.txt").write_text("not pe's")
    assert main(["init", "--feature=feat", f"--dir={repo}"]) == 3
    assert capsys.readouterr().err == (
        "pe: error: trees/feat-2 exists and is not a git worktree; move it away or pick another feature name\n"
    )
    assert not (repo / "trees" / "feat-1").exists() and not (repo / ".pe").exists()
    assert (repo / "trees" / "feat-2" / "mine.txt").read_text() == "not pe's"


def test_half_created_directory_is_quarantined_not_deleted(repo: Path) -> None:
    feature = _feature(repo, count=1)
    layout = Layout(repo)
    base = pegit.resolve_commit(repo, "HEAD")
    assert base
    # What SIGTERM to `git worktree add` can leave: files, no registration, our marker.
    (repo / "trees" / "feat-1").mkdir(parents=True)
    (repo / "trees" / "feat-1" / "partial.txt").write_text("x")
    layout.stamp("feat-1", "creating").parent.mkdir(parents=True)
    layout.stamp("feat-1", "creating").write_text("{}")
    did = worktree.ensure(layout, feature.trees[0], base)
    assert did.startswith("moved a half-created directory to .pe/quarantine/feat-1-")
    moved = list((repo / ".pe" / "quarantine").iterdir())
    assert (moved[0] / "partial.txt").read_text() == "x"


def test_mutations_outside_the_lock_are_a_bug(repo: Path) -> None:
    with pytest.raises(RuntimeError, match="outside mutation_lock"):
        pegit.prune(repo)


def test_layout_refuses_paths_outside_trees(repo: Path) -> None:
    with pytest.raises(PeError):
        Layout(repo).tree("../escape")


def test_eight_trees_at_once_never_race(repo: Path) -> None:
    """Parallel `git worktree add` fails intermittently inside git; pe serialises the bookkeeping."""
    write_manifest(repo, count=8, jobs=8)
    for _ in range(3):
        assert main(["init", "--feature=feat", f"--dir={repo}"]) == 0
        listing = git(repo, "worktree", "list", "--porcelain")
        assert listing.count("branch refs/heads/feat-") == 8
        for i in range(1, 9):
            git(repo, "worktree", "remove", "--force", "--", f"trees/feat-{i}")
            git(repo, "branch", "-D", "--", f"feat-{i}")
        shutil.rmtree(repo / ".pe")


def test_a_users_branch_of_the_same_name_is_refused(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _feature(repo)
    git(repo, "branch", "feat-2")
    assert main(["init", "--feature=feat", f"--dir={repo}"]) == 3
    assert capsys.readouterr().err == (
        "pe: error: a branch named feat-2 already exists and pe did not create it; "
        "pick another feature name, or delete or rename that branch\n"
    )
    assert not (repo / "trees").exists()


def test_a_checkout_killed_mid_way_is_finished(repo: Path) -> None:
    feature = _feature(repo, count=1)
    layout = Layout(repo)
    base = pegit.resolve_commit(repo, "HEAD")
    assert base
    # What kill -9 during the checkout leaves: registered, not populated, index.lock held.
    layout.stamp("feat-1", "creating").parent.mkdir(parents=True)
    layout.stamp("feat-1", "creating").write_text("{}")
    git(repo, "worktree", "add", "--no-checkout", "-b", "feat-1", "--", "trees/feat-1", base)
    (repo / ".git" / "worktrees" / "feat-1" / "index.lock").write_text("")
    worktree.ensure(layout, feature.trees[0], base)
    assert (repo / "trees" / "feat-1" / "README.md").exists()
    assert git(repo / "trees" / "feat-1", "status", "--porcelain") == ""
