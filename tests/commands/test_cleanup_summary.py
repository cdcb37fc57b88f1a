"""pe cleanup's one line per tree (issue 17), from the steps pe/lifecycle/removal.py carries out."""

from __future__ import annotations

import pytest

from pe.commands.cleanup import _Summary
from pe.lifecycle.removal import INDENT, Step, TreePlan

ARCHIVE = (f"archive into reports/f/f-2/:\n{INDENT}RESULTS.md <- trees/f-2/RESULTS.md\n"
           f"{INDENT}f-2.bundle <- branch f-2 (0123456789ab, commits since 89abcdef0123), then git bundle verify")


def _run(steps: list[tuple[str, list[str]]], capsys: pytest.CaptureFixture[str]) -> str:
    printer = _Summary("f")
    printer.tree(TreePlan("f-2"))
    for i, (text, notes) in enumerate(steps, 1):
        printer.step(i, Step(text, lambda: None))
        for note in notes:
            printer.note(note)
    printer.finish()
    return capsys.readouterr().out


def test_a_branch_deleted_for_its_verified_bundle_names_the_bundle(capsys: pytest.CaptureFixture[str]) -> None:
    out = _run([(ARCHIVE, ["bundle verified"]), ("git worktree remove -- trees/f-2", []),
                ("git worktree prune", []),
                ("git branch -D -- f-2 (0123456789ab) if its bundle verified, else keep it", []),
                ("release the ports of f-2 and forget its setup", []), ("forget f-2: stamps, run record", [])], capsys)
    assert out == ("f-2: archived to reports/f/f-2/, removed trees/f-2, "
                   "deleted branch f-2: in verified bundle reports/f/f-2/f-2.bundle\n")


def test_a_bundle_that_did_not_verify_keeps_the_branch_and_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    out = _run([(ARCHIVE, ["bundle NOT verified (error: bad object): the branch will be kept"]),
                ("git worktree remove -- trees/f-2", []),
                ("git branch -D -- f-2 (0123456789ab) if its bundle verified, else keep it",
                 ["kept branch f-2: not adopted, not merged, and its bundle did not verify"])], capsys)
    assert out == ("f-2: archived to reports/f/f-2/ (bundle NOT verified (error: bad object): the branch will be "
                   "kept), removed trees/f-2, kept branch f-2: not adopted, not merged, and its bundle did not verify\n")


def test_a_step_that_fails_is_named_where_cleanup_stopped(capsys: pytest.CaptureFixture[str]) -> None:
    printer = _Summary("f")
    plan = TreePlan("f-2")
    printer.tree(plan)
    printer.step(1, Step(ARCHIVE, lambda: None))
    printer.note("bundle verified")
    printer.step(2, Step("git worktree remove -- trees/f-2", lambda: None))
    printer.stopped(plan, 2)
    out, err = capsys.readouterr()
    assert out == "f-2: archived to reports/f/f-2/\n"
    assert err.startswith("pe: cleanup stopped at f-2 step 2 (git worktree remove -- trees/f-2); ")
