"""pe recover on repos left by kill -9 mid-init and mid-execute: classification, commands, nothing changed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pe.layout import Layout
from pe.tree import stamps
from tests.support import git, kill_group, pe, pe_popen, refs, snapshot, wait_for
from tests.support.cycle import PROJECT, agent_pids, agents_killed_after, make_repo, write_cycle_manifest

# A smudge filter that hangs while a flag file exists: it holds git's checkout of a tree open
# at a known point, so a test can kill -9 pe there instead of racing it.
SMUDGE = """import os, sys, time
from pathlib import Path
marks = Path(sys.argv[1])
marks.mkdir(exist_ok=True)
tmp = marks / f".tmp-{os.getpid()}"
tmp.write_text(str(os.getpgid(0)))
os.replace(tmp, marks / f"smudge-{os.getpid()}")
while (marks / "hold").exists():
    time.sleep(0.05)
sys.stdout.buffer.write(sys.stdin.buffer.read())
"""


def findings(out: str) -> dict[str, str]:
    """Tree -> finding, from recover's printed lines `  tree  finding: summary`."""
    found = {}
    for line in out.splitlines():
        parts = line.split()
        if line.startswith("  ") and parts and not line.strip().startswith("$") and ":" in line:
            found[parts[0]] = line.split(None, 1)[1].split(":", 1)[0]
    return found


def commands(out: str, tree: str) -> list[str]:
    lines = out.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.split()[:1] == [tree])
    cmds = []
    for ln in lines[start + 1:]:
        if not ln.strip().startswith("$"):
            break
        cmds.append(ln.strip()[2:].split("   #")[0])
    return cmds


def same(before: tuple[dict[str, str], str, str], after: tuple[dict[str, str], str, str]) -> None:
    changed = {k for k in before[0].keys() | after[0].keys() if before[0].get(k) != after[0].get(k)}
    assert not changed, f"recover changed {sorted(changed)}"
    assert before[1:] == after[1:]


def state_of(root: Path) -> tuple[dict[str, str], str, str]:
    """Everything recover must not change: files under .git, trees/ and .pe/, refs, worktree list."""
    files = snapshot(root / ".git", root / "trees", root / ".pe")
    # .pe/cache/ is the manifest loader's validation cache, not a record of any tree.
    files = {k: v for k, v in files.items() if not k.startswith(str(root / ".pe" / "cache"))}
    return files, refs(root), git(root, "worktree", "list", "--porcelain")


def test_recover_after_kill_mid_init(tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    files = {**PROJECT, ".gitattributes": "*.slow filter=slow\n", "data.slow": "held at checkout\n"}
    root = make_repo(tmp_path, files)
    script = tmp_path / "smudge.py"
    script.write_text(SMUDGE)
    git(root, "config", "filter.slow.smudge", f"{sys.executable} {script} {marks}")
    marks.mkdir()
    (marks / "hold").write_text("")
    write_cycle_manifest(root, count=4, jobs=3)
    proc = pe_popen(root, "init", "--feature=calc")
    try:
        wait_for(lambda: len(list(marks.glob("smudge-*"))) == 3, what="three checkouts to reach the filter")
    finally:
        # kill -9 of pe and of the checkouts it started (in their own sessions), like a power cut.
        kill_group(proc.pid)
        for mark in marks.glob("smudge-*"):
            kill_group(int(mark.read_text()))
        proc.wait(timeout=30)
    # And what pe leaves when killed inside `git worktree add` itself: its `creating` marker
    # (written just before the add), the branch, and the entry locked "initializing". The add
    # pe runs is --no-checkout and over in milliseconds, so a full add is held and killed instead.
    stamps.write(Layout(root), "calc-4", stamps.CREATING, {"since": "killed mid-add"})
    add = subprocess.Popen(["git", "worktree", "add", "-b", "calc-4", "--", str(root / "trees/calc-4"), "main"],
                           cwd=root, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: len(list(marks.glob("smudge-*"))) == 4, what="the plain add to reach the filter")
    kill_group(add.pid)
    add.wait(timeout=30)
    for mark in marks.glob("smudge-*"):
        kill_group(int(mark.read_text()))
    (marks / "hold").unlink()
    assert "locked initializing" in git(root, "worktree", "list", "--porcelain")

    before = state_of(root)
    rc, out, err = pe(root, "recover")
    assert rc == 0, err
    same(before, state_of(root))

    found = findings(out)
    assert found == {"calc-1": "half-created worktree", "calc-2": "half-created worktree",
                     "calc-3": "half-created worktree", "calc-4": "locked initializing entry"}, out
    # A checkout killed mid-way leaves its index.lock, which would stop every later git command there.
    for i in (1, 2, 3):
        lock = f".git/worktrees/calc-{i}/index.lock"
        assert (root / lock).exists()
        assert commands(out, f"calc-{i}") == [f"rm -f -- {lock}", "pe resume --feature=calc"]
    assert commands(out, "calc-4") == ["pe resume --feature=calc"]
    for cmd in (commands(out, f"calc-{i}")[0] for i in (1, 2, 3)):
        subprocess.run(cmd.split(), cwd=root, check=True)
    report = (root / "reports/calc/RECOVERY.md").read_text()
    assert "## calc-4: locked initializing entry" in report and "pe resume --feature=calc" in report

    # The recommended command really repairs it: every tree ends up whole, the locked entry gone.
    rc, out, err = pe(root, "resume", "--feature=calc")
    assert rc == 0, out + err
    rc, out, _ = pe(root, "recover")
    assert set(findings(out).values()) == {"done"}
    assert "initializing" not in git(root, "worktree", "list", "--porcelain")
    for i in range(1, 5):
        assert (root / f"trees/calc-{i}/data.slow").read_text() == "held at checkout\n"


def test_recover_after_kill_mid_execute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_repo(tmp_path)
    marks = tmp_path / "marks"
    write_cycle_manifest(root, count=4)
    env = {"CYCLE_MARKS": str(marks), "CYCLE_MODE_2": "hang", "CYCLE_MODE_3": "fail",
           # calc-4 must still run at the "crash": an agent that ends first is settled by recover,
           # as documented, and then recover would not be read-only here.
           "CYCLE_MODE_4": "hang"}
    proc = pe_popen(root, "execute", "--feature=calc", env=env)
    with agents_killed_after(marks):
        wait_for(lambda: (marks / "started-calc-2").exists() and (root / ".pe/stamps/calc-1.agent.json").exists()
                 and (root / ".pe/runs/calc-3.json").exists()
                 and json.loads((root / ".pe/runs/calc-3.json").read_text())["state"] == "failed"
                 and (marks / "started-calc-4").exists(), what="calc-1 done, calc-3 failed, calc-2/4 working")
        # A machine crash: pe, the agents and their supervisors die at once.
        supervisors = [json.loads(p.read_text()).get("pid") for p in (root / ".pe/runs").glob("calc-*.json")]
        kill_group(proc.pid)
        for pid in [*agent_pids(marks).values(), *filter(None, supervisors)]:
            kill_group(pid)
        proc.wait(timeout=30)
    # More of what crashes and hands leave: a tree deleted by hand (prunable entry), a stray
    # directory in trees/, and a tree branch with no tree.
    subprocess.run(["rm", "-rf", str(root / "trees/calc-4")], check=True)
    (root / "trees/calc-7").mkdir()
    (root / "trees/calc-7/notes.txt").write_text("someone's work\n")
    git(root, "branch", "calc-5", "main")

    before = state_of(root)
    rc, out, err = pe(root, "recover", "--feature=calc")
    assert rc == 0, err
    same(before, state_of(root))

    assert findings(out) == {
        "calc-1": "done", "calc-2": "crashed with uncommitted work", "calc-3": "resumable",
        "calc-4": "prunable entry", "calc-5": "branch without a tree", "calc-7": "orphaned directory",
    }, out
    assert commands(out, "calc-1") == ["pe compare --feature=calc"]
    assert commands(out, "calc-2") == ["pe resume --feature=calc"]
    assert commands(out, "calc-3") == ["pe resume --feature=calc"]
    assert commands(out, "calc-4") == ["git worktree repair <where/you/moved/calc-4>", "pe resume --feature=calc"]
    assert commands(out, "calc-5") == ["pe cleanup --feature=calc --tree=calc-5"]
    assert commands(out, "calc-7") == ["pe cleanup --feature=calc --tree=calc-7"]

    report = (root / "reports/calc/RECOVERY.md").read_text()
    assert "uncommitted entries: " in report and "agent runs: 1; last: interrupted" in report
    preview = (root / "reports/calc/recovery/calc-2.PROGRESS.md").read_text()
    assert "Agent note: kept." in preview and "## Observed by pe" in preview and "mathlib.py" in preview
    assert not (root / "trees/calc-2/PROGRESS.md").read_text().count("Observed by pe")  # the tree is untouched

    # Following the commands: resume finishes calc-2 with its crashed work kept, recreates calc-4.
    monkeypatch.setenv("CYCLE_MARKS", str(marks))
    rc, out, _ = pe(root, "resume", "--feature=calc")
    assert rc == 0, out
    assert "good" in git(root, "show", "calc-2:notes/performance.txt")
    assert pe(root, "cleanup", "--feature=calc", "--tree=calc-7")[0] == 0
    assert not (root / "trees/calc-7").exists()
    moved = list((root / ".pe/quarantine").glob("calc-7-*/notes.txt"))
    assert moved and moved[0].read_text() == "someone's work\n"
    rc, out, _ = pe(root, "recover", "--feature=calc")
    assert findings(out) == {"calc-1": "done", "calc-2": "done", "calc-3": "done", "calc-4": "done",
                             "calc-5": "branch without a tree"}


def test_recover_with_nothing_and_bad_names(tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    rc, out, _ = pe(root, "recover")
    assert rc == 0 and "nothing to recover" in out
    rc, _, err = pe(root, "recover", "--feature=-x")
    assert rc == 3 and "invalid feature name" in err
    assert os.listdir(root / ".git/refs/heads") == ["main"]
