"""Commands racing on one repository: eight trees at once, two executes, execute and cleanup, status meanwhile."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support import agent_runs, git, pe_cmd, pe_run, refs, same, snapshot, wait_for, write_manifest
from tests.support.faults import git_admin_problems, no_processes_left

STATES = {"pending", "not set up", "setting up", "setup failed", "ready", "running", "done", "failed", "interrupted", "stale"}


def starts(log: Path) -> dict[str, int]:  # every tree's count at once, unlike tests.support.starts
    out: dict[str, int] = {}
    for e in agent_runs(log):
        if e["event"] == "start":
            out[e["tree"]] = out.get(e["tree"], 0) + 1
    return out


@contextmanager
def status_polling(root: Path) -> Iterator[list[subprocess.CompletedProcess[str]]]:
    """`pe status --json` in a loop on another thread until the block ends; every result kept."""
    results: list[subprocess.CompletedProcess[str]] = []
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            results.append(pe_run(root, "status", "--json"))

    thread = threading.Thread(target=loop)
    thread.start()
    try:
        yield results
    finally:
        stop.set()
        thread.join(60)


def check_status_results(results: list[subprocess.CompletedProcess[str]]) -> None:
    assert results, "status never ran"
    for res in results:
        assert res.returncode == 0 and not res.stderr, res.stderr
        for row in json.loads(res.stdout):
            assert row["state"] in STATES and row["error"] is None, row


ROUNDS = [pytest.param(n, marks=[pytest.mark.slow] if n >= 2 else [], id=f"round-{n}") for n in range(25)]


@pytest.mark.parametrize("n", ROUNDS)
def test_eight_trees_created_at_once(repo: Path, n: int) -> None:
    """The git race (notes: git-worktree.md) handled, 25 rounds in the long form, with `pe status`
    reading `git worktree list` all the while (a reader can trip over a half-made entry too)."""
    write_manifest(repo, count=8, jobs=8)
    with status_polling(repo) as results:
        res = pe_run(repo, "init", "--feature=feat")
    assert res.returncode == 0, res.stdout + res.stderr
    check_status_results(results)
    listing = git(repo, "worktree", "list", "--porcelain")
    assert listing.count("branch refs/heads/feat-") == 8 and not git_admin_problems(repo)
    for i in range(1, 9):
        assert (repo / "trees" / f"feat-{i}" / "README.md").exists()
        assert git(repo / "trees" / f"feat-{i}", "status", "--porcelain") == ""


def test_two_executes_at_the_same_instant(repo: Path, agent_log: Path) -> None:
    """Exactly one takes the lock; the other exits 3 naming it; every tree runs once."""
    write_manifest(repo, count=3)
    env = {"PE_TEST_SLEEP": "1"}
    procs = [subprocess.Popen(pe_cmd("execute", "--feature=feat"), cwd=repo, text=True, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env={**os.environ, **env}) for _ in range(2)]
    outs = [(p.wait(60), *p.communicate()) for p in procs]
    codes = sorted(rc for rc, _, _ in outs)
    assert codes == [0, 3], outs
    refused = next(err for rc, _, err in outs if rc == 3)
    winner = next(p.pid for p, (rc, _, _) in zip(procs, outs, strict=True) if rc == 0)
    assert refused.count("\n") == 1 and f"pid {winner} (pe execute --feature=feat" in refused, refused
    assert starts(agent_log) == {"feat-1": 1, "feat-2": 1, "feat-3": 1}
    # --wait queues the second behind the first: it finds everything done and runs nothing.
    procs = [subprocess.Popen(pe_cmd("execute", "--feature=feat", "--wait"), cwd=repo, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL) for _ in range(2)]
    assert [p.wait(60) for p in procs] == [0, 0]
    assert starts(agent_log) == {"feat-1": 1, "feat-2": 1, "feat-3": 1}
    no_processes_left(agent_log)


def test_cleanup_during_execute_is_refused_and_changes_nothing(repo: Path, agent_log: Path) -> None:
    write_manifest(repo, count=2)
    assert pe_run(repo, "execute", "--feature=feat").returncode == 0
    # A second round of work is going on (the plan changed) when cleanup is asked for.
    (repo / "specs" / "plan.md").write_text("# Plan v2\n")
    execute = subprocess.Popen(pe_cmd("execute", "--feature=feat"), cwd=repo, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PE_TEST_SLEEP": "2"})
    try:
        wait_for(lambda: starts(agent_log) == {"feat-1": 2, "feat-2": 2}, timeout=30, what="the second round", poll=0.01)
        before = snapshot(repo / "reports"), refs(repo), git(repo, "worktree", "list", "--porcelain")
        res = pe_run(repo, "cleanup", "--feature=feat")
        assert res.returncode == 3 and res.stderr.count("\n") == 1, res.stderr
        assert f"pid {execute.pid} (pe execute --feature=feat" in res.stderr
        after = snapshot(repo / "reports"), refs(repo), git(repo, "worktree", "list", "--porcelain")
        same(before[0], after[0])
        assert before[1:] == after[1:]
    finally:
        assert execute.wait(60) == 0, execute.communicate()
    assert pe_run(repo, "cleanup", "--feature=feat").returncode == 0
    assert git(repo, "branch", "--list", "feat-*") == "" and not (repo / "trees" / "feat-1").exists()
    no_processes_left(agent_log)


def test_status_during_execute_works_and_writes_nothing(repo: Path, agent_log: Path) -> None:
    write_manifest(repo, count=3, jobs=3)
    with status_polling(repo) as results:
        res = pe_run(repo, "execute", "--feature=feat", env={"PE_TEST_SLEEP": "1"})
    assert res.returncode == 0, res.stdout + res.stderr
    check_status_results(results)
    assert any(row["state"] == "running" for r in results for row in json.loads(r.stdout))
    # Read-only: on the finished repository, status changes no file in git, the trees or .pe/.
    shutil.rmtree(repo / ".pe" / "cache", ignore_errors=True)  # the manifest loader's own cache
    before = snapshot(repo / ".git", repo / "trees", repo / ".pe"), refs(repo)
    assert pe_run(repo, "status", "--json").returncode == 0
    assert pe_run(repo, "status").returncode == 0
    shutil.rmtree(repo / ".pe" / "cache", ignore_errors=True)
    after = snapshot(repo / ".git", repo / "trees", repo / ".pe"), refs(repo)
    same(before[0], after[0])
    assert before[1] == after[1]
