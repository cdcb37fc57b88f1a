"""pe adopt: squash, merge and rebase on real branches; a conflict leaves the target as it was."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support import git, pe, snapshot
from tests.support.cycle import executed
from tests.support.cycle_agent import GOOD, SLOW


@pytest.fixture
def done3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """calc-1 good, calc-2 slow (same file, different code), calc-3 good plus a dependency."""
    return executed(tmp_path, monkeypatch, variants={2: "slow", 3: "dep"})


def tip(root: Path, ref: str) -> str:
    return git(root, "rev-parse", ref)


def test_squash_into_the_checked_out_base(done3: Path) -> None:
    root = done3
    before = tip(root, "main")
    rc, out, err = pe(root, "adopt", "--feature=calc", "--tree=calc-1")
    assert rc == 0, err
    new = tip(root, "main")
    assert git(root, "rev-parse", "main^") == before and git(root, "rev-list", "--count", "--merges", "main") == "0"
    assert git(root, "log", "-1", "--format=%s", "main") == "calc: adopt calc-1 (simple strategy)"
    assert "A good fib for the simple strategy." in git(root, "log", "-1", "--format=%b", "main")
    # The main checkout follows the branch, clean; pe's bookkeeping files were not adopted.
    assert (root / "mathlib.py").read_text() == GOOD
    assert git(root, "status", "--porcelain", "--untracked-files=no") == ""
    files = git(root, "ls-tree", "-r", "--name-only", "main").split()
    assert "notes/simple.txt" in files and "RESULTS.md" not in files and "PROGRESS.md" not in files
    record = json.loads((root / "reports/calc/ADOPTED.json").read_text())
    assert (record["tree"], record["strategy"], record["into"], record["mode"], record["commit"]) == \
        ("calc-1", "simple", "main", "squash", new)
    assert record["tree_tip"] == tip(root, "calc-1")
    history = (root / "reports/history.jsonl").read_text().splitlines()
    assert json.loads(history[-1])["strategy"] == "simple"
    assert "next: pe cleanup --feature=calc" in out


def test_merge_into_a_branch_not_checked_out(done3: Path) -> None:
    root = done3
    git(root, "branch", "develop", "main")
    main_before = tip(root, "main")
    rc, _, err = pe(root, "adopt", "--feature=calc", "--tree=calc-3", "--merge", "--into=develop")
    assert rc == 0, err
    parents = git(root, "log", "-1", "--format=%P", "develop").split()
    assert parents == [main_before, tip(root, "calc-3")]
    assert "requests>=2.31" in git(root, "show", "develop:requirements.txt")
    assert "RESULTS.md" not in git(root, "ls-tree", "--name-only", "develop").split()
    assert tip(root, "main") == main_before  # only the target moved


def test_rebase_replays_the_commits(done3: Path) -> None:
    root = done3
    git(root, "branch", "linear", "main")
    rc, _, err = pe(root, "adopt", "--feature=calc", "--tree=calc-2", "--rebase", "--into=linear")
    assert rc == 0, err
    assert git(root, "rev-list", "--count", "--merges", "linear") == "0"
    assert git(root, "show", "linear:mathlib.py") + "\n" == SLOW
    assert git(root, "log", "-1", "--format=%s", "linear") == git(root, "log", "-1", "--format=%s", "calc-2")
    assert "RESULTS.md" not in git(root, "ls-tree", "--name-only", "linear").split()
    assert not list((root / ".pe" / "adopt").iterdir())  # the temporary worktree is gone
    assert "adopt" not in git(root, "worktree", "list")


@pytest.mark.parametrize("mode", ["--squash", "--merge", "--rebase"])
def test_a_conflict_leaves_the_target_as_it_was(done3: Path, mode: str) -> None:
    root = done3
    assert pe(root, "adopt", "--feature=calc", "--tree=calc-1")[0] == 0
    before = tip(root, "main"), snapshot(root / "mathlib.py"), git(root, "status", "--porcelain")
    rc, _, err = pe(root, "adopt", "--feature=calc", "--tree=calc-2", mode)
    assert rc == 3 and "conflict" in err and "mathlib.py" in err and "nothing was changed" in err
    assert (tip(root, "main"), snapshot(root / "mathlib.py"), git(root, "status", "--porcelain")) == before
    assert not (root / ".git" / "MERGE_HEAD").exists() and not (root / ".git" / "CHERRY_PICK_HEAD").exists()
    assert json.loads((root / "reports/calc/ADOPTED.json").read_text())["tree"] == "calc-1"
    assert "adopt" not in git(root, "worktree", "list")


def test_refusals(done3: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = done3
    main_before = tip(root, "main")
    (root / "bench.py").write_text("# edited, not committed\n")
    rc, _, err = pe(root, "adopt", "--feature=calc", "--tree=calc-1")
    assert rc == 3 and "uncommitted changes (bench.py)" in err
    git(root, "checkout", "--", "bench.py")
    (root / "trees/calc-1/extra.txt").write_text("not committed\n")
    rc, _, err = pe(root, "adopt", "--feature=calc", "--tree=calc-1")
    assert rc == 3 and "uncommitted entries" in err and "--force" in err
    for argv, words in ((["--tree=other-1"], "not a tree of calc"), (["--tree=calc-9"], "no branch calc-9"),
                        (["--tree=calc-1", "--into=-x"], "not a valid branch name"),
                        (["--tree=calc-1", "--into=nosuch"], "no branch named 'nosuch'"),
                        (["--tree=calc-1", "--squash", "--merge"], "not allowed with")):
        rc, _, err = pe(root, "adopt", "--feature=calc", *argv)
        assert rc == 3 and words in err and err.count("\n") == 1, err
    assert tip(root, "main") == main_before
    # A tree that failed its checks in the last compare, or is not done, needs --force.
    evidence = {"recommended": "calc-3", "trees": [{"tree": "calc-2", "state": "done", "eligible": False,
                                                     "why_not": ["check test FAILED"]}]}
    (root / "reports/calc").mkdir(parents=True, exist_ok=True)
    (root / "reports/calc/evidence.json").write_text(json.dumps(evidence))
    rc, _, err = pe(root, "adopt", "--feature=calc", "--tree=calc-2")
    assert rc == 3 and "failed its checks in the last pe compare: check test FAILED" in err
    assert pe(root, "adopt", "--feature=calc", "--tree=calc-2", "--force")[0] == 0
    assert json.loads((root / "reports/calc/ADOPTED.json").read_text())["forced"] is True
