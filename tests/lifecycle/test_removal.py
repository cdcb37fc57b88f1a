"""The removal planner, called with typed arguments: the steps pe cleanup prints, refusals, and carrying a plan out."""

from __future__ import annotations

from pathlib import Path

import pytest

from pe.errors import PeError
from pe.layout import Layout
from pe.lifecycle import recovery, removal
from pe.lifecycle.removal import Step, TreePlan
from tests.support import git, pe, refs, same, snapshot
from tests.support.cycle import executed


@pytest.fixture
def done2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return executed(tmp_path, monkeypatch, count=2)


def everything(root: Path) -> dict[str, str]:
    files = snapshot(root / ".git", root / "trees", root / ".pe", root / "reports")
    return {**{k: v for k, v in files.items() if "/.pe/cache/" not in k}, "refs": refs(root)}


def shown(plans: list[TreePlan]) -> list[str]:
    """The plans as a dry run prints them."""
    text = "\n".join(f"{p.tree}:\n" + "\n".join(f"  {i}. would {s.text}" for i, s in enumerate(p.steps, 1))
                     for p in plans)
    return text.splitlines()


class Recorder:
    def __init__(self) -> None:
        self.seen: list[str] = []

    def tree(self, plan: TreePlan) -> None:
        self.seen.append(f"tree {plan.tree}")

    def step(self, number: int, step: Step) -> None:
        self.seen.append(f"step {number} {step.text}")

    def note(self, text: str) -> None:
        self.seen.append(f"note {text}")

    def stopped(self, plan: TreePlan, number: int) -> None:
        self.seen.append(f"stopped {plan.tree} {number}")


def test_the_planner_plans_the_steps_cleanup_prints(done2: Path) -> None:
    root, layout = done2, Layout(done2)
    rc, dry, err = pe(root, "cleanup", "--feature=calc", "--dry-run")
    assert rc == 0, err
    before = everything(root)
    names = removal.trees(layout, "calc", [])
    assert names == ["calc-1", "calc-2"]
    plans = removal.plan(layout, "calc", names, force=False, keep_branches=False)
    same(before, everything(root))  # planning changes nothing
    assert shown(plans) == dry.splitlines()[:-1] and dry.splitlines()[-1] == "dry run: nothing was changed"
    # The order is the safety: the archive (its bundle verified) before anything is removed.
    for p in plans:
        tip = git(root, "rev-parse", p.tree)
        assert p.refused is None
        assert [s.text.split("\n")[0] for s in p.steps] == [
            f"archive into reports/calc/{p.tree}/:",
            f"git worktree remove -- trees/{p.tree}",
            "git worktree prune",
            f"git branch -D -- {p.tree} ({tip[:12]}) if its bundle verified, else keep it",
            f"release the ports of {p.tree} and forget its setup",
            f"forget {p.tree}: stamps, run record, prompt, logs, check logs, "
            f"doit records worktree:/setup:/agent:{p.tree}",
        ]
        assert "then git bundle verify" in p.steps[0].text


def test_unsaved_work_is_refused_before_anything_and_archived_with_force(done2: Path) -> None:
    root, layout = done2, Layout(done2)
    (root / "trees/calc-1/mathlib.py").write_text("# uncommitted edit\n")
    before = everything(root)
    with pytest.raises(PeError, match=r"^refusing to clean up \(nothing was changed\): trees/calc-1: "
                                      r"1 uncommitted change\(s\): mathlib.py"):
        removal.plan(layout, "calc", ["calc-1", "calc-2"], force=False, keep_branches=False)
    refused = removal.plan_tree(layout, "calc", "calc-1", force=False, keep_branches=False,
                                keep_ref=removal.keep_ref(layout, "calc"), scan=recovery.scan(layout))
    assert refused.steps == [] and refused.refused is not None and "mathlib.py" in refused.refused
    same(before, everything(root))
    forced = removal.plan(layout, "calc", ["calc-1"], force=True, keep_branches=True)[0]
    texts = [s.text for s in forced.steps]
    assert texts[0].startswith("archive into reports/calc/calc-1/:") and "uncommitted.patch" in texts[0]
    assert texts[1] == "git worktree remove --force -- trees/calc-1"
    assert texts[3].startswith("keep branch calc-1 (") and texts[3].endswith("): --keep-branches")


def test_carrying_out_a_plan_removes_the_trees_after_verified_bundles(done2: Path) -> None:
    root, layout = done2, Layout(done2)
    tips = {t: git(root, "rev-parse", t) for t in ("calc-1", "calc-2")}
    plans = removal.plan(layout, "calc", removal.trees(layout, "calc", ["calc-1,calc-2"]),
                         force=False, keep_branches=False)
    seen = Recorder()
    removal.carry_out(plans, seen, dry_run=False)
    assert [s for s in seen.seen if s.startswith("note")] == ["note bundle verified"] * 2
    assert git(root, "branch", "--list", "calc-*") == "" and not any((root / "trees").iterdir())
    for tree, tip in tips.items():
        git(root, "fetch", "--quiet", str(root / f"reports/calc/{tree}/{tree}.bundle"), f"{tree}:{tree}")
        assert git(root, "rev-parse", tree) == tip


def test_carry_out_stops_at_the_first_failure_and_says_where() -> None:
    done: list[str] = []

    def fail() -> None:
        raise PeError("disk on fire")

    plans = [TreePlan("calc-1", [Step("one", lambda: done.append("one")), Step("two", fail),
                                 Step("three", lambda: done.append("three"))]),
             TreePlan("calc-2", [Step("four", lambda: done.append("four"))])]
    dry = Recorder()
    removal.carry_out(plans, dry, dry_run=True)
    assert done == [] and dry.seen == ["tree calc-1", "step 1 one", "step 2 two", "step 3 three",
                                       "tree calc-2", "step 1 four"]
    real = Recorder()
    with pytest.raises(PeError, match="disk on fire"):
        removal.carry_out(plans, real, dry_run=False)
    assert done == ["one"] and real.seen == ["tree calc-1", "step 1 one", "step 2 two", "stopped calc-1 2"]
