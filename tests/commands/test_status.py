"""pe status on trees in every state, a running agent and a crashed one included: real git, real agents."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import kill_group, pe, pe_popen, wait_for
from tests.support.cycle import agent_pids, agents_killed_after, make_repo, set_usage, write_cycle_manifest
from tests.support.gitcalls import calls, counting_git

# The --json fields, as documented in the README (the order is the rows' order).
JSON_FIELDS = [
    "feature", "tree", "index", "path", "branch", "strategy", "agent", "model", "state", "detail", "pid",
    "attempts", "started_at", "ended_at", "elapsed_s", "base_sha", "commits", "files_changed", "insertions",
    "deletions", "uncommitted", "completion", "input_tokens", "output_tokens", "turns", "cost_usd",
    "last_activity", "last_activity_age_s", "error", "warnings", "sandbox",
    "agent_time_s", "agent_failures", "history", "adoption", "adopted", "archive", "worker",
]


def rows(root: Path) -> dict[str, dict]:
    rc, out, err = pe(root, "status", "--json")
    assert rc == 0, err
    data = json.loads(out)
    assert all(list(r) == JSON_FIELDS for r in data)
    return {r["tree"]: r for r in data}


def test_every_state_running_and_crashed(tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    marks = tmp_path / "marks"
    write_cycle_manifest(root, count=5)
    write_cycle_manifest(root, "idle", count=2)
    write_cycle_manifest(root, "later", count=1)
    write_cycle_manifest(root, "gate", count=1, setup={"install": "none", "verify": ["python", "-c", "raise SystemExit(3)"]})
    assert pe(root, "doit", "run", "setup:idle-1", "worktree:idle-2")[0] == 0
    assert pe(root, "init", "--feature=gate")[0] == 1  # its build gate fails
    env = {"CYCLE_MARKS": str(marks), "CYCLE_MODE_2": "fail", "CYCLE_MODE_3": "hang", "CYCLE_MODE_5": "noresults"}
    proc = pe_popen(root, "execute", "--feature=calc", env=env)
    with agents_killed_after(marks):
        try:
            wait_for(lambda: (marks / "started-calc-3").exists(), what="calc-3's agent to start working")
            for tree in ("calc-1", "calc-2", "calc-4", "calc-5"):
                wait_for(lambda tree=tree: json.loads((root / f".pe/runs/{tree}.json").read_text())["state"]
                         in ("done", "failed") if (root / f".pe/runs/{tree}.json").exists() else False,
                         what=f"{tree} to end")
            set_usage(root, "calc-1", {"input_tokens": 12000, "output_tokens": 345, "turns": 7, "cost_usd": 0.042})
            (root / "trees/calc-4/RESULTS.md").write_text("# edited by hand after it finished\n")
            running = rows(root)
            stat = Path(f"/proc/{agent_pids(marks)['calc-3']}/stat").read_text()
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            rc, table, _ = pe(root, "status")
            assert rc == 0
        finally:
            # A machine crash: pe, the agent and its supervisor die at once, nobody records anything.
            supervisors = [json.loads(p.read_text()).get("pid") for p in (root / ".pe/runs").glob("calc-*.json")]
            kill_group(proc.pid)
            for pid in [*agent_pids(marks).values(), *filter(None, supervisors)]:
                kill_group(pid)
            proc.wait(timeout=30)
        crashed = rows(root)

    agent_pid = agent_pids(marks)["calc-3"]
    states = {t: r["state"] for t, r in running.items()}
    assert states == {
        "calc-1": "done", "calc-2": "failed", "calc-3": "running", "calc-4": "stale", "calc-5": "failed",
        "idle-1": "ready", "idle-2": "not set up", "later-1": "pending", "gate-1": "setup failed",
    }
    # The pid pe shows is the agent's supervisor's (pe/supervisor), the agent's parent.
    assert running["calc-3"]["pid"] == parent != agent_pid and f"pid {parent}" in table
    assert running["calc-3"]["elapsed_s"] is not None and running["calc-3"]["uncommitted"] >= 2
    assert running["calc-3"]["completion"] == 0.5  # 2 of its 4 checklist items
    assert "exited with status 1" in running["calc-2"]["detail"]
    assert "RESULTS.md" in running["calc-5"]["detail"]
    assert "exit" in running["gate-1"]["detail"] or "verify" in running["gate-1"]["detail"]
    done = running["calc-1"]
    assert (done["commits"], done["files_changed"], done["uncommitted"], done["completion"]) == (1, 2, 0, 1.0)
    assert done["insertions"] > 0 and done["last_activity"] and done["base_sha"]
    assert (done["input_tokens"], done["output_tokens"], done["turns"], done["cost_usd"]) == (12000, 345, 7, 0.042)
    assert "12.3k / $0.042" in table
    for word in ("setup failed", "stale", "not set up", "pending", "ready"):
        assert word in table

    # After the crash: the dead `running` agent is interrupted; its uncommitted work is visible.
    assert crashed["calc-3"]["state"] == "interrupted" and crashed["calc-3"]["pid"] is None
    assert crashed["calc-3"]["uncommitted"] >= 2
    assert crashed["calc-1"]["state"] == "done"


def test_refresh_progress_keeps_the_agents_words(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_repo(tmp_path)
    write_cycle_manifest(root, count=2)
    monkeypatch.setenv("CYCLE_MODE_2", "fail")
    assert pe(root, "execute", "--feature=calc")[0] == 1
    before = (root / "trees/calc-1/PROGRESS.md").read_text()
    rc, _, err = pe(root, "status", "--refresh-progress")
    assert rc == 0 and "refreshed trees/calc-2/PROGRESS.md" in err
    text = (root / "trees/calc-2/PROGRESS.md").read_text()
    assert "Agent note: kept." in text and "## Observed by pe" in text and "failing on purpose" in text
    assert (root / "trees/calc-1/PROGRESS.md").read_text() == before  # done trees are left alone


def test_watch_redraws_until_interrupted(tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    write_cycle_manifest(root, count=1)
    proc = pe_popen(root, "status", "--watch", "0.2")
    assert proc.stdout is not None
    frames = 0
    deadline = time.monotonic() + 30
    while frames < 2 and time.monotonic() < deadline:
        if proc.stdout.readline().startswith("--- "):
            frames += 1
    os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(timeout=30) == 0
    assert frames == 2


def test_bad_input_is_one_line(tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    write_cycle_manifest(root, count=1)
    rc, _, err = pe(root, "status", "--feature=../x")
    assert rc == 3 and err.count("\n") == 1 and "invalid feature name" in err
    rc, _, err = pe(root, "status", "--watch", "0")
    assert rc == 3 and "--watch" in err
    (root / "features" / "broken.yaml").write_text("feature: broken\ncount: many\n")
    rc, out, err = pe(root, "status")
    assert rc == 3 and "broken.yaml" in err and "calc-1" in out  # one bad manifest hides no other feature


def test_status_asks_git_once_per_tree_when_the_commit_facts_are_known(tmp_path: Path) -> None:
    """Its cost is one `git status` per tree (started before anything else is read, issue 18): the
    commits and diffstat of a tree are cached by its commit pair, so a second status asks no more."""
    root = make_repo(tmp_path)
    write_cycle_manifest(root, count=4, jobs=4)
    assert pe(root, "init", "--feature=calc")[0] == 0
    tree = root / "trees" / "calc-2"
    (tree / "impl.py").write_text("x = 1\n")
    subprocess.run(["git", "-C", str(tree), "add", "impl.py"], check=True)
    subprocess.run(["git", "-C", str(tree), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "work"],
                   check=True)
    (tree / "scratch.txt").write_text("uncommitted\n")
    first = rows(root)  # (asks for the commit facts, and caches them)
    env, log = counting_git(tmp_path)
    res = subprocess.run([sys.executable, "-m", "pe", "status", "--json"], cwd=root, capture_output=True, text=True,
                         env={**os.environ, **env})
    assert res.returncode == 0, res.stderr
    again = {r["tree"]: r for r in json.loads(res.stdout)}
    strip = ("last_activity_age_s",)
    assert [{k: v for k, v in r.items() if k not in strip} for r in again.values()] == \
           [{k: v for k, v in r.items() if k not in strip} for r in first.values()]
    assert (again["calc-2"]["commits"], again["calc-2"]["files_changed"], again["calc-2"]["uncommitted"]) == (1, 1, 1)
    for name in again:
        here = root / "trees" / name
        assert (calls(log, here, "status"), calls(log, here, "log"), calls(log, here, "diff")) == (1, 0, 0), \
            log.read_text()


def test_status_runs_no_fsmonitor_in_pes_own_trees(tmp_path: Path) -> None:
    """core.fsmonitor is a program git runs on `git status`; in a tree it may be an agent's. pe's
    scans of its trees run none, as pe's other commands in a tree (git.NO_HOOKS) run none."""
    root = make_repo(tmp_path)
    write_cycle_manifest(root, count=2)
    assert pe(root, "init", "--feature=calc")[0] == 0
    marker = tmp_path / "fsmonitor-ran"
    hook = tmp_path / "fsmonitor.sh"
    hook.write_text(f"#!/bin/sh\ntouch {marker}\n")
    hook.chmod(0o755)
    subprocess.run(["git", "-C", str(root), "config", "core.fsmonitor", str(hook)], check=True)
    subprocess.run(["git", "-C", str(root / "trees" / "calc-1"), "status"], capture_output=True, check=True)
    assert marker.exists()  # (git runs it in the trees: they share the repository's config)
    marker.unlink()
    (root / "trees" / "calc-2" / "new.txt").write_text("uncommitted\n")
    found = rows(root)
    assert found["calc-2"]["uncommitted"] == 1  # (the scans ran, and saw the tree)
    assert not marker.exists()


def test_status_runs_no_git_in_a_directory_of_trees_that_pe_did_not_make(tmp_path: Path) -> None:
    """`git status` runs a repository's own hooks (core.fsmonitor): a repository someone put in
    trees/ must not get pe to run its code. pe's scans start before the manifests are read
    (issue 18), so they go by pe's worktree stamps, not by what trees/ holds."""
    root = make_repo(tmp_path)
    write_cycle_manifest(root, count=1)
    assert pe(root, "init", "--feature=calc")[0] == 0
    marker = tmp_path / "hook-ran"
    planted = root / "trees" / "calc-7"
    subprocess.run(["git", "init", "-q", str(planted)], check=True)
    hook = tmp_path / "fsmonitor.sh"
    hook.write_text(f"#!/bin/sh\ntouch {marker}\n")
    hook.chmod(0o755)
    subprocess.run(["git", "-C", str(planted), "config", "core.fsmonitor", str(hook)], check=True)
    subprocess.run(["git", "-C", str(planted), "status"], capture_output=True, check=True)
    assert marker.exists()  # (the planted repository's hook does run on a git status)
    marker.unlink()
    found = rows(root)
    assert list(found) == ["calc-1"] and not marker.exists()
