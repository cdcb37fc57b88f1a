"""pe cleanup deletes nothing it has not archived, and no branch it did not create.

Each test is a way a user's work was lost: a nested repository of an agent's, ignored files
--force promised to archive, the archive of an earlier round of the same feature name, and
branches of the user's that are named like a tree.
"""

from __future__ import annotations

import re
import subprocess
import tarfile
from pathlib import Path

import pytest

from pe.layout import Layout
from pe.lifecycle import removal
from tests.support import git, pe, same, snapshot
from tests.support.cycle import executed


def _nested_repo(tree: Path, rel: str, *, dirty: bool) -> str:
    """An agent's `git init rel` with two commits (and, if `dirty`, an uncommitted edit and an untracked
    file); its HEAD."""
    sub = tree / rel
    sub.mkdir(parents=True)
    git(sub, "init", "-q")
    (sub / "a.txt").write_text("first\n")
    git(sub, "add", "a.txt")
    git(sub, "commit", "-q", "-m", "nested one")
    (sub / "a.txt").write_text("second\n")
    git(sub, "commit", "-q", "-am", "nested two")
    if dirty:
        (sub / "a.txt").write_text("edited, not committed\n")
        (sub / "new.txt").write_text("untracked in the nested repository\n")
    return git(sub, "rev-parse", "HEAD")


def _archived_files(reports: Path) -> dict[str, bytes]:
    """Every file in every tarball under `reports`, by its name inside the tarball."""
    found: dict[str, bytes] = {}
    for tarball in reports.rglob("*.tar.gz"):
        with tarfile.open(tarball) as tar:
            for member in tar.getmembers():
                data = tar.extractfile(member) if member.isfile() else None
                if data is not None:
                    found[member.name] = data.read()
    return found


def _bundles_holding(root: Path, commit: str) -> list[Path]:
    return [b for b in (root / "reports").rglob("*.bundle")
            if commit in git(root, "bundle", "list-heads", str(b))]


def _assert_nested_archived(root: Path, head: str, *, dirty: bool) -> None:
    bundles = _bundles_holding(root, head)
    assert bundles, "no bundle holds the nested repository's commits"
    clone = root.parent / "nested-clone"
    subprocess.run(["git", "clone", "--quiet", str(bundles[0]), str(clone)], check=True)
    assert git(clone, "log", "--format=%s") == "nested two\nnested one"
    if dirty:
        files = _archived_files(root / "reports")
        assert b"edited, not committed\n" in files.values()
        assert b"untracked in the nested repository\n" in files.values()


def test_a_nested_repository_the_branch_records_is_archived_before_the_tree_goes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = executed(tmp_path, monkeypatch, count=1)
    tree = root / "trees/calc-1"
    head = _nested_repo(tree, "vendor/lib", dirty=False)
    # The agent committed it too: the branch holds a gitlink, and git refuses to remove the tree.
    git(tree, "add", "vendor/lib")
    git(tree, "commit", "-q", "-m", "the agent's nested repository")
    for _ in range(2):  # a user re-runs a cleanup that stopped
        rc, out, err = pe(root, "cleanup", "--feature=calc")
        if rc == 0:
            break
    assert rc == 0, out + err
    assert not tree.exists()
    _assert_nested_archived(root, head, dirty=False)


def test_an_untracked_nested_repository_is_archived_by_force(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = executed(tmp_path, monkeypatch, count=1)
    head = _nested_repo(root / "trees/calc-1", "scaffold", dirty=True)
    rc, _, err = pe(root, "cleanup", "--feature=calc")
    assert rc == 3 and "scaffold/" in err
    rc, out, err = pe(root, "cleanup", "--feature=calc", "--force")
    assert rc == 0, out + err
    assert not (root / "trees/calc-1").exists()
    _assert_nested_archived(root, head, dirty=True)


def test_force_archives_the_ignored_files_it_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = executed(tmp_path, monkeypatch, count=1)
    tree = root / "trees/calc-1"
    assert (tree / ".env").read_text() == "SECRET=main\n"  # carried over by setup
    (tree / ".env").write_text("SECRET=edited-in-the-tree\n")
    rc, _, err = pe(root, "cleanup", "--feature=calc")
    assert rc == 3 and ".env (carried over from the main checkout, then changed" in err
    rc, out, err = pe(root, "cleanup", "--feature=calc", "--force")
    assert rc == 0, out + err
    assert not tree.exists()
    assert _archived_files(root / "reports/calc")[".env"] == b"SECRET=edited-in-the-tree\n"
    # setup's own output (its env file) is not work: it is not archived.
    assert ".pe.env" not in _archived_files(root / "reports/calc")


@pytest.mark.parametrize("first_by", ["this pe", "an earlier pe"])
def test_a_second_round_of_a_feature_name_keeps_the_first_rounds_archive(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, first_by: str) -> None:
    root = executed(tmp_path, monkeypatch, count=1)
    tip1 = git(root, "rev-parse", "calc-1")
    rc, out, err = pe(root, "cleanup", "--feature=calc")
    assert rc == 0, out + err
    first = root / "reports/calc/calc-1"
    assert tip1 in git(root, "bundle", "list-heads", str(first / "calc-1.bundle"))
    if first_by == "an earlier pe":
        (first / "round.json").unlink(missing_ok=True)  # an earlier pe wrote no round record
    before = snapshot(first)

    monkeypatch.setenv("CYCLE_VARIANT", "slow")  # the second round's implementation differs
    rc, out, err = pe(root, "execute", "--feature=calc")
    assert rc == 0, out + err
    tip2 = git(root, "rev-parse", "calc-1")
    assert tip2 != tip1
    # A cleanup stopped after its archive step, then run again: one archive for the round, not two.
    layout = Layout(root)
    plan = removal.plan(layout, "calc", ["calc-1"], force=False, keep_branches=False)[0]
    plan.steps[0].act()
    rc, out, err = pe(root, "cleanup", "--feature=calc")
    assert rc == 0, out + err

    same(before, snapshot(first))  # the first round's archive, untouched
    later = sorted(d for d in (root / "reports/calc").iterdir() if d.is_dir() and d.name != "calc-1")
    assert len(later) == 1 and re.fullmatch(r"calc-1\.\d{8}-\d{6}", later[0].name), later
    assert tip2 in git(root, "bundle", "list-heads", str(later[0] / "calc-1.bundle"))
    assert f"git fetch reports/calc/{later[0].name}/calc-1.bundle" in (later[0] / "ARCHIVE.md").read_text()
    index = (root / "reports/calc/ARCHIVE.md").read_text()
    assert "calc-1/" in index and f"{later[0].name}/" in index
    assert tip1[:12] in index and tip2[:12] in index


def test_a_cleanup_an_earlier_pe_began_is_finished_in_the_same_archive(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = executed(tmp_path, monkeypatch, count=1)
    layout = Layout(root)
    (root / ".pe/stamps/calc-1.branch.json").unlink(missing_ok=True)  # an earlier pe's tree: no branch record
    removal.plan(layout, "calc", ["calc-1"], force=False, keep_branches=False)[0].steps[0].act()
    (root / "reports/calc/calc-1/round.json").unlink(missing_ok=True)  # as an earlier pe left it: no round record
    rc, out, err = pe(root, "cleanup", "--feature=calc")
    assert rc == 0, out + err
    assert [d.name for d in (root / "reports/calc").iterdir() if d.is_dir()] == ["calc-1"]


def _user_commit(root: Path, parent: str | None, message: str) -> str:
    """A commit of the user's, made without touching the main checkout."""
    tree = git(root, "rev-parse", "main^{tree}")
    return git(root, "commit-tree", *(["-p", parent] if parent else []), "-m", message, tree)


def test_cleanup_deletes_only_the_branches_pe_created(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = executed(tmp_path, monkeypatch, count=1)
    # The user's own branches, named like trees of the feature: one at main, one with a commit.
    git(root, "branch", "calc-2", "main")
    git(root, "branch", "calc-5", _user_commit(root, "main", "the user's work"))
    tips = {b: git(root, "rev-parse", b) for b in ("calc-2", "calc-5")}
    rc, out, err = pe(root, "cleanup", "--feature=calc")
    assert rc == 0, out + err
    assert git(root, "branch", "--list", "calc-1") == ""
    assert {b: git(root, "rev-parse", b) for b in tips} == tips
    for branch in tips:
        said = [line for line in out.splitlines() if f"branch {branch}" in line]
        assert len(said) == 1 and "pe did not create it" in said[0], out
        assert not (root / "reports/calc" / branch).exists()


def test_a_branch_an_earlier_pe_made_is_deleted_one_put_in_its_place_is_not(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = executed(tmp_path, monkeypatch, count=2)
    for record in (root / ".pe/stamps").glob("calc-*.branch.json"):
        record.unlink()  # an earlier pe recorded no branch
    # calc-2's tree and branch removed by hand, and a branch of the user's made in its place.
    git(root, "worktree", "remove", "--force", "--", "trees/calc-2")
    git(root, "branch", "-D", "calc-2")
    theirs = _user_commit(root, None, "the user's unrelated history")
    git(root, "branch", "calc-2", theirs)
    rc, out, err = pe(root, "cleanup", "--feature=calc")
    assert rc == 0, out + err
    assert git(root, "branch", "--list", "calc-1") == ""
    assert git(root, "rev-parse", "calc-2") == theirs
    assert "pe did not create it" in out


def test_a_cleanup_killed_while_claiming_its_archive_finishes_it_there(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A kill -9 inside the first write of round.json leaves its temp file alone in the directory:
    that holds no archive, and the next cleanup archives there, not in a second round's directory."""
    root = executed(tmp_path, monkeypatch, count=1)
    first = root / "reports/calc/calc-1"
    first.mkdir(parents=True)
    (first / ".round.json.x1y2z3.tmp").write_text('{"round": "')
    rc, out, err = pe(root, "cleanup", "--feature=calc")
    assert rc == 0, out + err
    assert (first / "calc-1.bundle").exists()
    assert [d.name for d in (root / "reports/calc").iterdir() if d.is_dir()] == ["calc-1"]
    assert not list(first.glob(".*.tmp"))
