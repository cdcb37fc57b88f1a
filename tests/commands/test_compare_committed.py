"""pe compare judges the commit pe adopt takes (its branch's tip, checked out clean), and adopt refuses a
tree whose branch moved since (issue 13)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.support import git, pe
from tests.support.cycle import CHECKS, make_repo, write_cycle_manifest
from tests.support.cycle_agent import GOOD


def trees(root: Path) -> dict[str, dict]:  # type: ignore[type-arg]
    return {t["tree"]: t for t in json.loads((root / "reports/calc/evidence.json").read_text())["trees"]}


def two_good(tmp_path: Path) -> Path:
    root = make_repo(tmp_path)
    write_cycle_manifest(root, count=2, checks={"test": CHECKS["test"]})
    assert pe(root, "execute", "--feature=calc")[0] == 0
    return root


def test_a_tree_that_passes_only_with_files_it_did_not_commit_is_not_recommended(tmp_path: Path) -> None:
    root = two_good(tmp_path)
    one = root / "trees/calc-1"
    # calc-1's commit imports a module that exists only as an ignored file in its working tree: its
    # files pass the tests, the commit adopt would bring into main does not. And it is the smaller change.
    (one / "fastfib.py").write_text(GOOD)
    (one / "mathlib.py").write_text("from fastfib import fib  # noqa: F401\n")
    with (one / ".gitignore").open("a") as fh:
        fh.write("fastfib.py\n")
    git(one, "add", "mathlib.py", ".gitignore")
    git(one, "commit", "--quiet", "-m", "fib from an ignored module")
    (one / "stray.txt").write_text("uncommitted, not judged\n")

    rc, out, err = pe(root, "compare", "--feature=calc")
    assert rc == 0, err
    assert "recommended: calc-2" in out
    found = trees(root)
    assert not found["calc-1"]["eligible"] and "check test FAILED" in found["calc-1"]["why_not"][0]
    assert found["calc-2"]["eligible"]
    for tree in ("calc-1", "calc-2"):
        # The judged commit is the branch's tip, recorded; its checkout is gone again.
        tip = git(root, "rev-parse", f"refs/heads/{tree}")
        assert found[tree]["head"] == tip and found[tree]["checkout"]["commit"] == tip
    assert "ModuleNotFoundError" in (root / ".pe/checks/calc-1/test.log").read_text()
    assert not (root / ".pe/judged").exists() or not any((root / ".pe/judged").iterdir())
    assert "judged" not in git(root, "worktree", "list")
    # The checks wrote nothing into the trees.
    assert git(one, "status", "--porcelain").splitlines() == ["?? stray.txt"]


def test_adopt_refuses_a_tree_whose_branch_moved_since_compare(tmp_path: Path) -> None:
    root = two_good(tmp_path)
    rc, _, err = pe(root, "compare", "--feature=calc")
    assert rc == 0, err
    best = json.loads((root / "reports/calc/evidence.json").read_text())["recommended"]
    tree = root / "trees" / best
    judged = git(root, "rev-parse", f"refs/heads/{best}")
    (tree / "later.txt").write_text("committed after compare\n")
    git(tree, "add", "later.txt")
    git(tree, "commit", "--quiet", "-m", "after compare")
    main = git(root, "rev-parse", "main")

    rc, _, err = pe(root, "adopt", "--feature=calc", f"--tree={best}")
    assert rc == 3 and err.count("\n") == 1, err
    assert "branch moved since the last pe compare judged it" in err and judged[:12] in err and "--force" in err
    assert git(root, "rev-parse", "main") == main

    assert pe(root, "compare", "--feature=calc")[0] == 0  # judged again: adopt goes ahead
    rc, _, err = pe(root, "adopt", "--feature=calc", f"--tree={best}")
    assert rc == 0, err
    assert "later.txt" in git(root, "ls-tree", "--name-only", "main").split()


def test_adopt_force_takes_a_tree_that_moved(tmp_path: Path) -> None:
    root = two_good(tmp_path)
    assert pe(root, "compare", "--feature=calc")[0] == 0
    tree = root / "trees/calc-1"
    (tree / "later.txt").write_text("after\n")
    git(tree, "add", "later.txt")
    git(tree, "commit", "--quiet", "-m", "after compare")
    rc, _, err = pe(root, "adopt", "--feature=calc", "--tree=calc-1", "--force")
    assert rc == 0, err
    assert json.loads((root / "reports/calc/ADOPTED.json").read_text())["forced"] is True


def test_a_killed_compares_checkout_is_removed_by_the_next(tmp_path: Path) -> None:
    root = two_good(tmp_path)
    stale = root / ".pe/judged/calc-1"
    stale.parent.mkdir(parents=True)
    git(root, "worktree", "add", "--quiet", "--detach", str(stale), "main")
    (stale / "leftover.txt").write_text("from a killed compare\n")
    gone = root / ".pe/judged/calc-2"  # registered with git, its directory deleted by hand
    git(root, "worktree", "add", "--quiet", "--detach", str(gone), "main")
    shutil.rmtree(gone)
    rc, _, err = pe(root, "compare", "--feature=calc")
    assert rc == 0, err
    assert all(t["eligible"] for t in trees(root).values())
    assert not stale.exists() and "judged" not in git(root, "worktree", "list")


# What a check sees of its interpreter: `python` is the .venv's, linked in from the tree.
WHICH_PYTHON = ["python", "-c", "import os, sys; print('prefix', sys.prefix); print('cwd', os.getcwd()); "
                "print('env', os.environ['PE_ENV_FILE'])"]


def test_the_checkout_gets_the_trees_install_output_and_env_file(tmp_path: Path) -> None:
    from tests.support.cycle import PROJECT

    # A requirements.txt that installs nothing: setup makes the tree's .venv without the network.
    root = make_repo(tmp_path, {**PROJECT, "requirements.txt": "# nothing to install\n"})
    write_cycle_manifest(root, count=1, checks={"which": WHICH_PYTHON}, setup={"install": "auto"})
    assert pe(root, "execute", "--feature=calc")[0] == 0
    venv = root / "trees/calc-1/.venv"
    assert (venv / "bin/python").exists()
    rc, _, err = pe(root, "compare", "--feature=calc")
    assert rc == 0, err
    out = (root / ".pe/checks/calc-1/which.log").read_text()
    judged = root / ".pe/judged/calc-1"
    assert f"prefix {judged}/.venv" in out and f"cwd {judged}" in out and f"env {judged}/.pe.env" in out
    checkout = trees(root)["calc-1"]["checkout"]
    assert checkout["linked"] == [".venv"] and checkout["seconds"] < 30
    assert (venv / "bin/python").exists()  # removing the checkout left the tree's install alone
    assert not judged.exists()
