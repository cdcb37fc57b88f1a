"""execute and resume end to end: real git, the scripted agent as a real child process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pe.main import main
from tests.support import agent_runs, git, pe_cmd, pe_run, run_record, starts, wait_for, write_manifest


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes.
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_three_agents_run_at_the_same_time(repo: Path, agent_log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_manifest(repo, count=3, jobs=3)
    monkeypatch.setenv("PE_TEST_SLEEP", "1.5")
    assert main(["execute", "--feature=feat", f"--dir={repo}"]) == 0
    events = agent_runs(agent_log)
    first_end = min(e["t"] for e in events if e["event"] == "end")
    last_start = max(e["t"] for e in events if e["event"] == "start")
    # Overlap shown by the agents' own clocks: every agent started before any finished.
    assert last_start < first_end
    for i in (1, 2, 3):
        tree = repo / "trees" / f"feat-{i}"
        assert (tree / "impl.txt").read_text().startswith(f"feat-{i}")
        # The branch holds the implementation: pe committed what the agent left.
        assert git(tree, "status", "--porcelain") == ""
        assert "impl.txt" in git(tree, "show", "--name-only", "--format=", "HEAD")
        assert run_record(repo, f"feat-{i}")["state"] == "done"


def test_jobs_limits_concurrency(repo: Path, agent_log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_manifest(repo, count=2, jobs=1)
    monkeypatch.setenv("PE_TEST_SLEEP", "0.5")
    assert main(["execute", "--feature=feat", f"--dir={repo}"]) == 0
    ev = sorted(agent_runs(agent_log), key=lambda e: e["t"])
    assert [e["event"] for e in ev] == ["start", "end", "start", "end"]


def test_resume_is_a_no_op_when_done_and_reruns_exactly_changed_trees(
    repo: Path, agent_log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = write_manifest(repo, count=3)
    assert main(["execute", "--feature=feat", f"--dir={repo}"]) == 0
    assert main(["resume", "--feature=feat", f"--dir={repo}"]) == 0
    assert [starts(agent_log, f"feat-{i}") for i in (1, 2, 3)] == [1, 1, 1]
    # One tree's strategy changes: only that tree runs again.
    manifest.write_text(manifest.read_text() + "implementations: {'2': {strategy: innovative}}\n")
    assert main(["execute", "--feature=feat", f"--dir={repo}"]) == 0
    assert [starts(agent_log, f"feat-{i}") for i in (1, 2, 3)] == [1, 2, 1]
    # The plan changes: every tree runs again.
    (repo / "specs" / "plan.md").write_text("# Plan v2\n")
    assert main(["execute", "--feature=feat", f"--dir={repo}"]) == 0
    assert [starts(agent_log, f"feat-{i}") for i in (1, 2, 3)] == [2, 3, 2]
    # --context does not invalidate finished work.
    assert main(["resume", "--feature=feat", "--context=anything", f"--dir={repo}"]) == 0
    assert [starts(agent_log, f"feat-{i}") for i in (1, 2, 3)] == [2, 3, 2]


def test_a_no_op_resume_reads_files_only(repo: Path, agent_log: Path) -> None:
    """All trees done: resume prints what it would and exits, without doit's graph or the history
    database (issue 18: 1.8x the time of `pe status` on 30 trees, 12 ms per tree). It still takes
    the lock, which repairs what a killed pe left (tests/faults/test_adopt_crash.py, test_compare_crash.py)."""
    write_manifest(repo, count=3)
    assert pe_run(repo, "execute", "--feature=feat", "--plain").returncode == 0
    state = repo / ".pe"
    before = {p: p.stat().st_mtime_ns for p in state.rglob("*") if p.is_file()}
    probe = ("import sys; from pe.main import main; rc = main(sys.argv[1:]); "
             "print('imported:', sorted(m for m in ('doit', 'sqlite3', 'pe.engine.graph', 'pe.agents') "
             "if m in sys.modules)); raise SystemExit(rc)")
    res = subprocess.run([sys.executable, "-c", probe, "resume", "--feature=feat", "--plain"], cwd=repo,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "imported: []" in res.stdout, res.stdout
    for tree in ("feat-1", "feat-2", "feat-3"):
        assert f"ok     agent:{tree} (up to date)" in res.stdout
    assert "feat-3" in res.stdout.split("nothing left to run", 1)[1]  # the table of trees
    after = {p: p.stat().st_mtime_ns for p in state.rglob("*") if p.is_file()}
    assert after == before  # nothing written: no history synced, no record touched
    assert [starts(agent_log, f"feat-{i}") for i in (1, 2, 3)] == [1, 1, 1]
    # A tree that is not done takes the whole path again.
    (repo / "trees/feat-2/RESULTS.md").write_text("changed by hand\n")
    res = pe_run(repo, "resume", "--feature=feat", "--plain", env={"PE_TEST_RUNS": str(agent_log)})
    assert res.returncode == 0 and "nothing left to run" not in res.stdout, res.stdout + res.stderr
    assert [starts(agent_log, f"feat-{i}") for i in (1, 2, 3)] == [1, 2, 1]


def test_failures_do_not_stop_other_trees(repo: Path, agent_log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_manifest(repo, count=3)
    monkeypatch.setenv("PE_TEST_FAIL", "1")
    monkeypatch.setenv("PE_TEST_NO_RESULTS", "2")
    assert main(["execute", "--feature=feat", f"--dir={repo}"]) == 1
    assert run_record(repo, "feat-1")["reason"] == "agent exited with status 1"
    assert run_record(repo, "feat-2")["reason"] == "the agent left no RESULTS.md"
    assert run_record(repo, "feat-3")["state"] == "done"
    # The failed trees' work is still on their branches.
    assert "impl.txt" in git(repo / "trees" / "feat-1", "show", "--name-only", "--format=", "HEAD")
    monkeypatch.delenv("PE_TEST_FAIL")
    monkeypatch.delenv("PE_TEST_NO_RESULTS")
    assert main(["resume", "--feature=feat", "--context=fixed the flake", f"--dir={repo}"]) == 0
    assert [starts(agent_log, f"feat-{i}") for i in (1, 2, 3)] == [2, 2, 1]
    resumed = [r for r in agent_runs(agent_log) if r["tree"] == "feat-1" and r["event"] == "start"][-1]
    prompt = Path(resumed["prompt"][0]).read_text()
    assert "fixed the flake" in prompt and "Strategy: SIMPLE" in prompt and "PROGRESS.md as it stands" in prompt
    progress = (repo / "trees" / "feat-1" / "PROGRESS.md").read_text()
    assert "## Observed by pe" in progress and "agent exited with status 1" in progress


def test_half_written_results_never_count(repo: Path, agent_log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_manifest(repo, count=1)
    monkeypatch.setenv("PE_TEST_HALF_RESULTS", "1")
    assert main(["execute", "--feature=feat", f"--dir={repo}"]) == 1
    tree = repo / "trees" / "feat-1"
    assert "exited with status -9" in run_record(repo, "feat-1")["reason"]
    assert not (repo / ".pe" / "stamps" / "feat-1.agent.json").exists()
    monkeypatch.delenv("PE_TEST_HALF_RESULTS")
    assert main(["execute", "--feature=feat", f"--dir={repo}"]) == 0
    aside = list((repo / ".pe" / "logs" / "feat-1").glob("RESULTS.incomplete-*.md"))
    assert len(aside) == 1 and aside[0].read_text() == "## Approach Summary\n\nhalf\n"
    assert "Testing Strategy" in (tree / "RESULTS.md").read_text()


def test_timeout_kills_the_whole_group(repo: Path, agent_log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_manifest(repo, count=1, timeout=2)
    monkeypatch.setenv("PE_TEST_SLEEP", "60")
    monkeypatch.setenv("PE_TEST_CHILD", "1")
    assert main(["execute", "--feature=feat", f"--dir={repo}"]) == 1
    rec = run_record(repo, "feat-1")
    assert rec["reason"] == "timed out after 2s (process group killed)"
    agent_pid = agent_runs(agent_log)[0]["pid"]
    child_pid = int((repo / "trees" / "feat-1" / "child.pid").read_text())
    assert not alive(agent_pid) and not alive(child_pid)


def test_second_execute_is_refused_with_the_holder_named(repo: Path, agent_log: Path) -> None:
    write_manifest(repo, count=1)
    first = subprocess.Popen(pe_cmd("execute", "--feature=feat"), cwd=repo, env={**os.environ, "PE_TEST_SLEEP": "5"},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: starts(agent_log, "feat-1") == 1, timeout=30)
        second = pe_run(repo, "execute", "--feature=feat")
        assert second.returncode == 3
        assert f"pid {first.pid} (pe execute --feature=feat" in second.stderr
        assert second.stderr.count("\n") == 1
        assert "status" not in second.stdout
        # Read-only commands still work while execute runs.
        status = pe_run(repo, "status", "--feature=feat")
        assert status.returncode == 0 and "running" in status.stdout
    finally:
        assert first.wait(60) == 0
    # --wait queues behind the holder instead of failing.
    assert pe_run(repo, "execute", "--feature=feat", "--wait").returncode == 0


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_stops_every_agent(repo: Path, agent_log: Path, sig: int, code: int) -> None:
    write_manifest(repo, count=3)
    env = {**os.environ, "PE_TEST_SLEEP": "60", "PE_TEST_CHILD": "1"}
    pe = subprocess.Popen(pe_cmd("execute", "--feature=feat"), cwd=repo, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: all(starts(agent_log, f"feat-{i}") == 1 for i in (1, 2, 3)), timeout=30)
    wait_for(lambda: all((repo / "trees" / f"feat-{i}" / "child.pid").exists() for i in (1, 2, 3)), timeout=30)
    pe.send_signal(sig)
    assert pe.wait(30) == code
    pids = [r["pid"] for r in agent_runs(agent_log)]
    pids += [int((repo / "trees" / f"feat-{i}" / "child.pid").read_text()) for i in (1, 2, 3)]
    wait_for(lambda: not any(alive(p) for p in pids), timeout=10)
    for i in (1, 2, 3):
        assert run_record(repo, f"feat-{i}")["state"] == "interrupted"


def test_kill_9_then_resume_finishes_each_tree_exactly_once(repo: Path, agent_log: Path) -> None:
    write_manifest(repo, count=3)
    env = {**os.environ, "PE_TEST_SLEEP_2": "4", "PE_TEST_SLEEP_3": "4"}
    pe = subprocess.Popen(pe_cmd("execute", "--feature=feat"), cwd=repo, env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    stamp = repo / ".pe" / "stamps" / "feat-1.agent.json"
    wait_for(lambda: stamp.exists() and starts(agent_log, "feat-2") == 1 and starts(agent_log, "feat-3") == 1, timeout=30)
    pe.kill()
    pe.wait()
    orphans = [r["pid"] for r in agent_runs(agent_log) if r["tree"] != "feat-1"]
    assert any(alive(p) for p in orphans)  # kill -9 cannot take the agents along...
    res = pe_run(repo, "resume", "--feature=feat", "--context=pe was killed")
    assert res.returncode == 0, res.stdout + res.stderr
    assert not any(alive(p) for p in orphans)
    # ...nor stop them: they run on under their supervisors, and resume waits for them.
    assert [starts(agent_log, f"feat-{i}") for i in (1, 2, 3)] == [1, 1, 1]
    for i in (1, 2, 3):
        assert run_record(repo, f"feat-{i}")["state"] == "done"
    # doit's database kept every success, including feat-1's from the killed run.
    import sqlite3

    with sqlite3.connect(repo / ".pe" / "doit.sqlite3") as db:
        saved = {row[0] for row in db.execute("select task_id from doit")}
    assert {"agent:feat-1", "agent:feat-2", "agent:feat-3"} <= saved
    # And nothing is left half-registered in git.
    listing = git(repo, "worktree", "list", "--porcelain")
    assert not [line for line in listing.splitlines() if line.startswith(("locked", "prunable"))]


def test_idle_watchdog_kills_a_silent_agent(repo: Path, agent_log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (repo / "features").mkdir()
    (repo / "features" / "feat.yaml").write_text(
        "feature: feat\nplan: specs/plan.md\ncount: 1\ntimeout: 5m\nsandbox: none\n"
        "agent: {preset: command, command: [python, tools/agent.py], idle_timeout: 3}\n"
    )
    monkeypatch.setenv("PE_TEST_SLEEP", "120")
    monkeypatch.setenv("PE_TEST_CHILD", "1")
    start = time.monotonic()
    assert main(["execute", "--feature=feat", f"--dir={repo}"]) == 1
    assert time.monotonic() - start < 30  # not the 5-minute timeout
    reason = run_record(repo, "feat-1")["reason"]
    assert reason.startswith("killed after ") and reason.endswith("s without output or file changes (process group killed)")
    child_pid = int((repo / "trees" / "feat-1" / "child.pid").read_text())
    assert not alive(agent_runs(agent_log)[0]["pid"]) and not alive(child_pid)
