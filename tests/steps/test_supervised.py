"""pe's own death costs no agent work: every agent runs under a supervisor that outlives pe.

Real pe processes, killed as a crash or a closed terminal would kill them; the scripted
agent's own side effects ($PE_TEST_RUNS) count how often an agent really started.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.support import agent_runs, git, pe_popen, pe_run, run_record, starts, wait_for, write_manifest

TREES = ["feat-1", "feat-2", "feat-3"]


def _ended(log: Path, tree: str) -> bool:
    return any(e["tree"] == tree and e["event"] == "end" for e in agent_runs(log))


def _all_started(log: Path, trees: list[str] = TREES) -> bool:
    return all(starts(log, t) >= 1 for t in trees)


def _supervisors_gone(root: Path, trees: list[str] = TREES) -> bool:
    from pe.layout import Layout
    from pe.supervisor import handle

    return not any(handle.lock_held(Layout(root), t) for t in trees)


def _check_done_once(root: Path, log: Path, trees: list[str] = TREES) -> None:
    for tree in trees:
        assert starts(log, tree) == 1, f"{tree}: the agent ran {starts(log, tree)} times"
        record = run_record(root, tree)
        assert record["state"] == "done", record
        assert record["attempts"] == 1 and [h["attempt"] for h in record["history"]] == [1]
        assert record["history"][0]["ended_by"] == "agent"
        assert (root / ".pe" / "stamps" / f"{tree}.agent.json").exists()
        # The work is committed on the tree's branch, as in an uninterrupted run.
        assert "impl.txt" in git(root, "ls-tree", "--name-only", tree)
        assert git(root / "trees" / tree, "status", "--porcelain") == ""


def _execute(repo: Path, log: Path, *extra: str, **env: str) -> subprocess.Popen[str]:
    return pe_popen(repo, "execute", "--feature=feat", "--plain", *extra,
                    env={"PE_TEST_RUNS": str(log), **env})


@pytest.fixture
def three(repo: Path) -> Path:
    write_manifest(repo, count=3, jobs=3)
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", "manifest")
    return repo


def test_kill_9_of_pe_while_three_agents_run_costs_no_agent_run(three: Path, agent_log: Path) -> None:
    pe = _execute(three, agent_log, PE_TEST_SLEEP="3")
    wait_for(lambda: _all_started(agent_log), what="three agents running")
    os.kill(pe.pid, signal.SIGKILL)
    pe.wait()
    # The agents live on, supervised; status sees them running, not "interrupted".
    out = pe_run(three, "status", "--feature=feat", "--json").stdout
    assert {row["tree"]: row["state"] for row in json.loads(out)} == dict.fromkeys(TREES, "running")
    res = pe_run(three, "resume", "--feature=feat", "--plain", env={"PE_TEST_RUNS": str(agent_log)})
    assert res.returncode == 0, res.stdout + res.stderr
    _check_done_once(three, agent_log)


def test_kill_9_while_one_agent_has_ended_and_two_still_run(three: Path, agent_log: Path) -> None:
    pe = _execute(three, agent_log, PE_TEST_SLEEP="4", PE_TEST_SLEEP_1="1")
    wait_for(lambda: _all_started(agent_log), what="three agents running")
    os.kill(pe.pid, signal.SIGKILL)
    pe.wait()
    wait_for(lambda: _ended(agent_log, "feat-1"), what="the first agent's end, with no pe there")
    res = pe_run(three, "resume", "--feature=feat", "--plain", env={"PE_TEST_RUNS": str(agent_log)})
    assert res.returncode == 0, res.stdout + res.stderr
    _check_done_once(three, agent_log)


def test_status_finishes_the_bookkeeping_of_an_agent_that_ended_while_pe_was_dead(
    three: Path, agent_log: Path,
) -> None:
    pe = _execute(three, agent_log, PE_TEST_SLEEP="1")
    wait_for(lambda: _all_started(agent_log), what="three agents running")
    os.kill(pe.pid, signal.SIGKILL)
    pe.wait()
    wait_for(lambda: _supervisors_gone(three), what="the supervisors' end")
    res = pe_run(three, "status", "--feature=feat", "--json")
    assert res.returncode == 0, res.stderr
    found = json.loads(res.stdout)
    assert {row["tree"]: row["state"] for row in found} == dict.fromkeys(TREES, "done")
    # The rows are of the trees as settling left them (its checkpoint commit), not as status found
    # them when it started (its `git status` of each tree starts before it settles: issue 18).
    assert all(row["commits"] >= 1 and row["uncommitted"] == 0 for row in found), found
    _check_done_once(three, agent_log)


def test_sighup_detaches_and_pe_wait_finishes_the_bookkeeping(three: Path, agent_log: Path) -> None:
    pe = _execute(three, agent_log, PE_TEST_SLEEP="2")
    wait_for(lambda: _all_started(agent_log), what="three agents running")
    os.kill(pe.pid, signal.SIGHUP)
    assert pe.wait(timeout=30) == 129
    assert not _supervisors_gone(three)  # the agents went on
    res = pe_run(three, "wait", "--feature=feat")
    assert res.returncode == 0, res.stdout + res.stderr
    _check_done_once(three, agent_log)


def test_detach_then_wait_with_a_timeout_then_wait_again(three: Path, agent_log: Path) -> None:
    res = pe_run(three, "execute", "--feature=feat", "--detach", env={"PE_TEST_SLEEP": "6"})
    assert res.returncode == 0, res.stdout + res.stderr
    for tree in TREES:
        assert f"{tree}: agent running" in res.stdout
        assert f"started agent:{tree}" in res.stdout and f"done    agent:{tree}" not in res.stdout
    assert "pe wait --feature=feat" in res.stdout
    start = time.monotonic()
    res = pe_run(three, "wait", "--feature=feat", "--timeout=2s")
    assert res.returncode == 2, res.stdout + res.stderr
    assert time.monotonic() - start < 30
    assert not _supervisors_gone(three)  # still running: a timeout of pe wait stops no agent
    res = pe_run(three, "wait", "--feature=feat")
    assert res.returncode == 0, res.stdout + res.stderr
    _check_done_once(three, agent_log)


def test_pe_wait_killed_as_claude_codes_bash_tool_kills_it_then_called_again(three: Path, agent_log: Path) -> None:
    """Claude Code's Bash tool ends a command at its timeout: SIGTERM to the process group, SIGKILL 1.5 s later."""
    assert pe_run(three, "execute", "--feature=feat", "--detach", env={"PE_TEST_SLEEP": "5"}).returncode == 0
    waiting = pe_popen(three, "wait", "--feature=feat")
    time.sleep(1.5)
    os.killpg(waiting.pid, signal.SIGTERM)
    time.sleep(1.5)
    with_group_gone = waiting.poll() is not None
    if not with_group_gone:
        os.killpg(waiting.pid, signal.SIGKILL)
    waiting.wait()
    assert not _supervisors_gone(three)  # the agents went on
    res = pe_run(three, "wait", "--feature=feat")
    assert res.returncode == 0, res.stdout + res.stderr
    _check_done_once(three, agent_log)


def test_the_supervisor_enforces_the_timeout_while_pe_is_dead(repo: Path, agent_log: Path) -> None:
    write_manifest(repo, count=1, timeout="3s")
    pe = pe_popen(repo, "execute", "--feature=feat", "--plain",
                  env={"PE_TEST_RUNS": str(agent_log), "PE_TEST_SLEEP": "120"})
    wait_for(lambda: _all_started(agent_log, ["feat-1"]), what="the agent running")
    os.kill(pe.pid, signal.SIGKILL)
    pe.wait()
    wait_for(lambda: _supervisors_gone(repo, ["feat-1"]), timeout=30, what="the timeout, enforced without pe")
    end = json.loads((repo / ".pe" / "supervise" / "feat-1" / "end-1.json").read_text())
    assert end["ended_by"] == "timeout" and end["timed_out"] is True
    assert not _ended(agent_log, "feat-1")  # killed mid-sleep, not finished
    res = pe_run(repo, "status", "--feature=feat", "--json")
    row = json.loads(res.stdout)[0]
    assert row["state"] == "failed", row
    assert run_record(repo, "feat-1")["history"][0]["ended_by"] == "timeout"


def test_pe_stop_stops_a_detached_agent_and_resume_continues_it(three: Path, agent_log: Path) -> None:
    env = {"PE_TEST_RUNS": str(agent_log), "PE_TEST_SLEEP": "60"}
    assert pe_run(three, "execute", "--feature=feat", "--detach", env=env).returncode == 0
    wait_for(lambda: _all_started(agent_log), what="three agents running")
    res = pe_run(three, "stop", "--feature=feat", "--tree=feat-2")
    assert res.returncode == 0 and "feat-2: stopped (interrupted)" in res.stdout, res.stdout + res.stderr
    record = run_record(three, "feat-2")
    assert record["state"] == "interrupted" and record["history"][-1]["ended_by"] == "user"
    agent = next(e["pid"] for e in agent_runs(agent_log) if e["tree"] == "feat-2")
    assert not Path(f"/proc/{agent}").exists()
    assert not _supervisors_gone(three, ["feat-1", "feat-3"])  # the others go on
    assert pe_run(three, "stop", "--feature=feat").returncode == 0
    assert _supervisors_gone(three)
    # The resume prompt says how the last attempt ended.
    res = pe_run(three, "resume", "--feature=feat", "--plain", env={"PE_TEST_RUNS": str(agent_log)})
    assert res.returncode == 0, res.stdout + res.stderr
    prompt = (three / ".pe" / "prompts" / "feat-2.md").read_text()
    assert "How the last attempt ended: the user stopped it" in prompt


def test_the_resume_prompt_says_what_pe_did_since_the_last_run(repo: Path, agent_log: Path) -> None:
    write_manifest(repo, count=1)
    res = pe_run(repo, "execute", "--feature=feat", "--plain",
                 env={"PE_TEST_RUNS": str(agent_log), "PE_TEST_HALF_RESULTS": "1"})
    assert res.returncode == 1, res.stdout + res.stderr
    checkpoint = run_record(repo, "feat-1")["history"][-1]["checkpoint"]
    assert checkpoint and git(repo, "rev-parse", "feat-1") == checkpoint
    assert pe_run(repo, "resume", "--feature=feat", "--plain", env={"PE_TEST_RUNS": str(agent_log)}).returncode == 0
    prompt = (repo / ".pe" / "prompts" / "feat-1.md").read_text()
    assert f"pe committed what the last attempt left uncommitted, as {checkpoint[:12]}" in prompt
    assert "pe moved the incomplete RESULTS.md out of the tree, to .pe/logs/feat-1/RESULTS.incomplete-" in prompt


def test_a_checkpoint_never_commits_the_deletion_of_the_codebase(repo: Path, agent_log: Path) -> None:
    """A tree emptied behind pe's back (a sibling agent's `git worktree remove --force`): the
    checkpoint would record every file of the base as deleted, and adopt would carry that to main."""
    files = {f"src/m{i}.py": f"x = {i}\n" for i in range(8)}
    for rel, text in files.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", "code")
    write_manifest(repo, count=1)
    doomed = os.pathsep.join(["src", "README.md", "specs"])
    res = pe_run(repo, "execute", "--feature=feat", "--plain",
                 env={"PE_TEST_RUNS": str(agent_log), "PE_TEST_VANDAL_1": doomed})
    assert res.returncode == 1, res.stdout + res.stderr
    assert "pe did not commit: " in run_record(repo, "feat-1")["reason"]
    assert git(repo, "rev-parse", "feat-1") == git(repo, "rev-parse", "main")  # the branch holds the base still
    assert not (repo / ".pe" / "stamps" / "feat-1.agent.json").exists()


def test_an_agent_that_kills_its_supervisor_is_stopped_before_its_tree_is_committed(repo: Path) -> None:
    """Without the sandbox an agent can see its parent. Killing it must not leave the agent writing
    into a tree pe then commits and records."""
    script = "kill -9 $PPID; sleep 3; echo late > late.txt"
    write_manifest(repo, count=1, agent={"preset": "command", "command": ["sh", "-c", script]})
    res = pe_run(repo, "execute", "--feature=feat", "--plain")
    assert res.returncode == 1, res.stdout + res.stderr
    record = run_record(repo, "feat-1")
    assert record["state"] == "failed" and "supervisor ended without recording" in record["reason"], record
    time.sleep(4)
    assert not (repo / "trees" / "feat-1" / "late.txt").exists()  # the agent was stopped, not left running


def test_an_agent_that_deletes_its_supervisors_lock_is_still_waited_for(repo: Path, tmp_path: Path) -> None:
    """The lock's file is only a name: a later pe also asks whether the supervisor's process lives."""
    marks = tmp_path / "starts"
    script = f"echo start >> {marks}; rm -f ../../.pe/supervise/feat-1/lock; sleep 4; echo late > late.txt; exit 1"
    write_manifest(repo, count=1, agent={"preset": "command", "command": ["sh", "-c", script]})
    pe = pe_popen(repo, "execute", "--feature=feat", "--plain")
    wait_for(lambda: marks.exists() and not (repo / ".pe/supervise/feat-1/lock").exists(), what="the lock gone")
    os.kill(pe.pid, signal.SIGKILL)
    pe.wait()
    res = pe_run(repo, "resume", "--feature=feat", "--plain", env={"PE_TEST_SLEEP": "0"})
    assert marks.read_text().count("start") >= 1
    record = run_record(repo, "feat-1")
    assert record["history"][0]["ended_by"] == "agent", record  # waited for, not taken for lost
    assert "late.txt" in git(repo, "ls-tree", "--name-only", "feat-1"), res.stdout  # committed after its end


def test_a_base_with_a_file_name_that_is_not_utf8_runs_and_commits(repo: Path, agent_log: Path) -> None:
    (repo / os.fsdecode(b"caf\xe9.txt")).write_text("latin-1 name\n")
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", "a latin-1 file name")
    write_manifest(repo, count=1)
    res = pe_run(repo, "execute", "--feature=feat", "--plain", env={"PE_TEST_RUNS": str(agent_log)})
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Traceback" not in res.stderr
    assert run_record(repo, "feat-1")["state"] == "done"


def test_a_supervisor_gone_before_pe_read_its_start_time_is_not_waited_for(repo: Path, agent_log: Path) -> None:
    """A stop that lands as pe starts a supervisor can end it before pe reads its start time: the
    record then says running, with a pid and no start. A later pe took the dead pid's unknown start
    for the same unknown start (None == None) and waited on that attempt forever."""
    write_manifest(repo, count=1)
    env = {"PE_TEST_RUNS": str(agent_log), "PE_TEST_SLEEP": "60"}
    assert pe_run(repo, "execute", "--feature=feat", "--detach", env=env).returncode == 0
    wait_for(lambda: _all_started(agent_log, ["feat-1"]), what="the agent running")
    record_path = repo / ".pe" / "runs" / "feat-1.json"
    record = json.loads(record_path.read_text())
    agent = next(e["pid"] for e in agent_runs(agent_log) if e["tree"] == "feat-1")
    for pid in (record["pid"], agent):  # the supervisor and its agent die, as in a crash
        os.killpg(pid, signal.SIGKILL)
    wait_for(lambda: _supervisors_gone(repo, ["feat-1"]), what="the supervisor gone")
    record["pid_start"] = None  # what pe records when the supervisor was gone before it looked
    record_path.write_text(json.dumps(record))
    status = json.loads(pe_run(repo, "status", "--feature=feat", "--json").stdout)[0]
    assert status["state"] != "running", status
    res = pe_run(repo, "resume", "--feature=feat", "--plain", timeout=60, env={"PE_TEST_RUNS": str(agent_log)})
    assert res.returncode == 0, res.stdout + res.stderr
    record = run_record(repo, "feat-1")
    assert record["state"] == "done" and record["attempts"] == 2, record
    assert starts(agent_log, "feat-1") == 2
