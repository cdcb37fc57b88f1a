"""pe cleanup: archive first (with a verified bundle), refuse unsaved work, restore from the archive."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.support import git, pe, refs, same, snapshot
from tests.support.cycle import executed, make_repo, write_cycle_manifest


@pytest.fixture
def done3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return executed(tmp_path, monkeypatch, variants={2: "slow", 3: "dep"})


def everything(root: Path) -> dict[str, str]:
    files = snapshot(root / ".git", root / "trees", root / ".pe", root / "reports")
    # .pe/cache/ is the manifest loader's validation cache, not a record of any tree.
    return {**{k: v for k, v in files.items() if "/.pe/cache/" not in k}, "refs": refs(root)}


def steps(out: str) -> list[str]:
    """The numbered step lines (and their indented detail), without the dry run's 'would '."""
    kept = []
    for line in out.splitlines():
        if line.startswith("  ") and not line.strip().startswith("->"):
            kept.append(line.replace(". would ", ". ", 1))
    return kept


def test_unsaved_work_is_refused_each_kind(done3: Path) -> None:
    root = done3
    (root / "trees/calc-1/mathlib.py").write_text("# uncommitted edit\n")
    (root / "trees/calc-2/scratch.txt").write_text("untracked work\n")
    assert (root / "trees/calc-3/.env").read_text() == "SECRET=main\n"  # carried over by setup
    (root / "trees/calc-3/.env").write_text("SECRET=edited-in-the-tree\n")
    before = everything(root)
    cases = {
        "calc-1": "1 uncommitted change(s): mathlib.py",
        "calc-2": "1 untracked file(s): scratch.txt",
        "calc-3": "ignored file(s) not carried over: .env (carried over from the main checkout, then changed",
    }
    for tree, words in cases.items():
        rc, _, err = pe(root, "cleanup", "--feature=calc", f"--tree={tree}")
        assert rc == 3 and words in err and "--force" in err and err.count("\n") == 1, err
    rc, _, err = pe(root, "cleanup", "--feature=calc")
    assert rc == 3 and all(words in err for words in cases.values())
    same(before, everything(root))  # nothing was changed, for any tree


def test_dry_run_prints_exactly_what_cleanup_does(done3: Path) -> None:
    root = done3
    before = everything(root)
    rc, dry, _ = pe(root, "cleanup", "--feature=calc", "--dry-run")
    assert rc == 0 and "dry run: nothing was changed" in dry
    same(before, everything(root))
    rc, real, err = pe(root, "cleanup", "--feature=calc", "--verbose")
    assert rc == 0, err
    assert steps(dry) == steps(real)
    assert "git bundle verify" in dry and "git worktree remove -- trees/calc-1" in dry


def test_cleanup_archives_everything_and_it_restores(done3: Path) -> None:
    root = done3
    (root / "trees/calc-1/mathlib.py").write_text("# uncommitted edit\n")
    (root / "trees/calc-2/scratch.txt").write_text("untracked work\n")
    tips = {t: git(root, "rev-parse", t) for t in ("calc-1", "calc-2", "calc-3")}
    results = {t: (root / f"trees/{t}/RESULTS.md").read_text() for t in tips}
    rc, out, err = pe(root, "cleanup", "--feature=calc", "--force")
    assert rc == 0, err
    # One line per tree of what was done (issue 17); --verbose and --dry-run show the steps.
    assert [line.split(": ", 1)[0] for line in out.splitlines()[:3]] == ["calc-1", "calc-2", "calc-3"]
    for tree in ("calc-1", "calc-2", "calc-3"):
        assert f"{tree}: archived to reports/calc/{tree}/, removed trees/{tree}, deleted branch {tree}: " \
               f"in verified bundle reports/calc/{tree}/{tree}.bundle\n" in out

    # Gone: trees, branches, pe's state of them, doit's records, their ports.
    assert not any((root / "trees").iterdir())
    assert git(root, "worktree", "list", "--porcelain").count("worktree ") == 1
    assert git(root, "branch", "--list", "calc-*") == ""
    assert not list((root / ".pe/stamps").glob("calc-*")) and not list((root / ".pe/runs").glob("calc-*"))
    assert not (root / ".pe/logs/calc-1").exists()
    with sqlite3.connect(root / ".pe/doit.sqlite3") as db:
        left = [r[0] for r in db.execute("select task_id from doit") if "calc-" in r[0]]
    assert left == []
    ports = json.loads((root / ".pe/ports.json").read_text()) if (root / ".pe/ports.json").exists() else {}
    assert not any(k.startswith("calc-") for k in ports.get("leases", {}))

    # Kept: every RESULTS.md, log, run record, and a bundle that restores each branch exactly.
    for tree, sha in tips.items():
        archive = root / "reports/calc" / tree
        assert (archive / "RESULTS.md").read_text() == results[tree]
        assert (archive / "logs/agent.log").exists() and (archive / "run.json").exists()
        assert "git fetch reports/calc/" in (archive / "ARCHIVE.md").read_text()
        git(root, "fetch", "--quiet", str(archive / f"{tree}.bundle"), f"{tree}:{tree}")
        assert git(root, "rev-parse", tree) == sha
    clone = root.parent / "clone"
    subprocess.run(["git", "clone", "--quiet", str(root), str(clone)], check=True)
    git(clone, "fetch", "--quiet", str(root / "reports/calc/calc-2/calc-2.bundle"), "calc-2:calc-2")
    assert git(clone, "rev-parse", "calc-2") == tips["calc-2"]
    # --force archived the unsaved work too: a patch that applies, a tarball with the file.
    git(root, "worktree", "add", "--quiet", str(root / "trees/calc-1"), "calc-1")
    git(root / "trees/calc-1", "apply", str(root / "reports/calc/calc-1/uncommitted.patch"))
    assert (root / "trees/calc-1/mathlib.py").read_text() == "# uncommitted edit\n"
    with tarfile.open(root / "reports/calc/calc-2/untracked.tar.gz") as tar:
        assert tar.getnames() == ["scratch.txt"]


def test_branch_rules_adopted_merged_kept(done3: Path) -> None:
    root = done3
    assert pe(root, "adopt", "--feature=calc", "--tree=calc-1", "--merge")[0] == 0
    rc, dry, _ = pe(root, "cleanup", "--feature=calc", "--dry-run")
    assert "git branch -D -- calc-1" in dry and "adopted into main" in dry
    assert f"git branch -D -- calc-2 ({git(root, 'rev-parse', 'calc-2')[:12]}) if its bundle verified, else keep it" \
        in dry
    rc, out, err = pe(root, "cleanup", "--feature=calc", "--tree=calc-2", "--keep-branches")
    assert rc == 0, err
    assert "kept branch calc-2" in out and git(root, "branch", "--list", "calc-2").strip() == "calc-2"
    assert (root / "reports/calc/calc-2/calc-2.bundle").exists()
    # Run again for what is left: the kept branch is still archived and now deleted (bundle verified).
    rc, out, err = pe(root, "cleanup", "--feature=calc")
    assert rc == 0, err
    assert git(root, "branch", "--list", "calc-*") == ""
    rc, _, err = pe(root, "cleanup", "--feature=calc")
    assert rc == 3 and "nothing to clean up" in err


def test_bad_tree_names(done3: Path) -> None:
    root = done3
    for tree, words in (("other-1", "not a tree of calc"), ("calc-9", "no such tree"),
                        ("--x", "not a tree of calc")):
        rc, _, err = pe(root, "cleanup", "--feature=calc", f"--tree={tree}")
        assert rc == 3 and words in err and err.count("\n") == 1


def test_what_compare_checks_leave_is_not_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_repo(tmp_path)
    lint = ["python", "-c", "open('lint-report.txt', 'w').write('ok')"]
    write_cycle_manifest(root, count=1, checks={"lint": lint})
    assert pe(root, "execute", "--feature=calc")[0] == 0
    (root / "trees/calc-1/mine.txt").write_text("the user's own file\n")
    assert pe(root, "compare", "--feature=calc")[0] == 0
    # Checks run in a clean checkout of the branch tip (.pe/judged/), not in the tree.
    assert not (root / "trees/calc-1/lint-report.txt").exists()
    rc, _, err = pe(root, "cleanup", "--feature=calc")
    assert rc == 3 and "mine.txt" in err and "lint-report.txt" not in err
    (root / "trees/calc-1/mine.txt").unlink()
    rc, _, err = pe(root, "cleanup", "--feature=calc")
    assert rc == 0, err
