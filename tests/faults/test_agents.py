"""Agents that misbehave: hang, exit 0 without RESULTS.md, die half-way through it, write outside their tree.

What pe guarantees: each fails alone (the others finish, nothing of theirs runs again);
a hung agent is killed with its whole group at its time limit; no RESULTS.md without
a stamp counts; resume runs exactly the trees that are not done.

What pe cannot guarantee: that an agent stays inside its tree. Agents run as the
user, with the user's permissions, and need their home directory, caches and tools;
pe has no portable sandbox that allows all that and denies the rest of the repository.
So it detects and reports instead (pe/tree/guard.py): the main checkout is compared before
and after every agent run, and every tree already finished is checked to still hold
exactly what pe committed; both come out as `pe: warning:` lines and in the run record.
And the work itself is safe: pe's checkpoint commits live in git's object store, so a
file deleted from a tree is still on its branch.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from tests.support import git, kill_group, pe_popen, pe_run, run_record, starts, wait_for, write_manifest
from tests.support import pe as cycle_pe
from tests.support.cycle import make_repo, write_cycle_manifest
from tests.support.faults import no_processes_left


def test_hang_no_results_half_results_each_fail_alone(repo: Path, agent_log: Path) -> None:
    write_manifest(repo, count=4, jobs=4, timeout=3)
    bad = {
        "PE_TEST_SLEEP_1": "3600",  # hangs: killed at the 3 s limit, grandchild and all
        "PE_TEST_NO_RESULTS": "2",  # exits 0, writes no RESULTS.md
        "PE_TEST_HALF_RESULTS": "3",  # writes half of RESULTS.md, then kill -9s itself
        "PE_TEST_CHILD": "1",  # every agent leaves a sleeping grandchild behind
    }
    start = time.monotonic()
    res = pe_run(repo, "execute", "--feature=feat", env=bad)
    assert res.returncode == 1, res.stdout + res.stderr
    assert time.monotonic() - start < 30
    assert run_record(repo, "feat-1")["reason"] == "timed out after 3s (process group killed)"
    assert run_record(repo, "feat-2")["reason"] == "the agent left no RESULTS.md"
    assert "exited with status -9" in run_record(repo, "feat-3")["reason"]
    assert run_record(repo, "feat-4")["state"] == "done"
    stamps = repo / ".pe" / "stamps"
    assert sorted(p.name for p in stamps.glob("*.agent.json")) == ["feat-4.agent.json"]
    # Every agent and every grandchild is gone, whether its agent hung, died or finished.
    no_processes_left(agent_log, timeout=5)
    # What the failed ones did is checkpointed on their branches all the same.
    assert "impl.txt" in git(repo / "trees" / "feat-2", "show", "--name-only", "--format=", "HEAD")
    half = (repo / "trees" / "feat-3" / "RESULTS.md").read_text()

    res = pe_run(repo, "resume", "--feature=feat", "--context=the model server is back")
    assert res.returncode == 0, res.stdout + res.stderr
    assert [starts(agent_log, f"feat-{i}") for i in (1, 2, 3, 4)] == [2, 2, 2, 1]
    aside = list((repo / ".pe" / "logs" / "feat-3").glob("RESULTS.incomplete-*.md"))
    assert [p.read_text() for p in aside] == [half]  # never counted, kept for the record
    for i in (1, 2, 3, 4):
        assert run_record(repo, f"feat-{i}")["state"] == "done"
        assert git(repo / "trees" / f"feat-{i}", "status", "--porcelain") == ""
    no_processes_left(agent_log, timeout=5)


def test_an_agent_writing_outside_its_tree_is_detected_and_reported(repo: Path, agent_log: Path) -> None:
    write_manifest(repo, count=2, jobs=1)
    main_head = git(repo, "rev-parse", "HEAD")
    # feat-2's agent runs after feat-1 finished, and deletes a file of the main checkout and
    # two of feat-1's: its implementation and its RESULTS.md.
    vandal = {"PE_TEST_VANDAL_2": os.pathsep.join(["../../README.md", "../feat-1/impl.txt", "../feat-1/RESULTS.md"])}
    res = pe_run(repo, "execute", "--feature=feat", env=vandal)
    assert res.returncode == 0, res.stdout + res.stderr
    warnings = [line for line in res.stderr.splitlines() if line.startswith("pe: warning: ")]
    assert warnings == [
        "pe: warning: feat-2: the main checkout changed while this agent ran: README.md deleted",
        "pe: warning: trees/feat-1 changed after its agent finished and pe committed the work "
        "(2 uncommitted change(s): RESULTS.md, impl.txt): another agent, or a person, wrote there",
    ]
    assert run_record(repo, "feat-2")["warnings"] == ["the main checkout changed while this agent ran: README.md deleted"]
    log = (repo / ".pe" / "logs" / "feat-2" / "agent.log").read_text()
    assert "=== pe: WARNING: the main checkout changed while this agent ran: README.md deleted" in log
    # pe wrote nothing of the vandal's into git: HEAD of main is where it was, feat-1's branch
    # still holds its files, and feat-2's checkpoint holds only feat-2's own work.
    assert git(repo, "rev-parse", "HEAD") == main_head
    assert git(repo, "show", "HEAD:README.md") == "project"
    assert {"impl.txt", "RESULTS.md"} <= set(git(repo, "ls-tree", "--name-only", "feat-1").splitlines())
    assert "README.md" in git(repo, "ls-tree", "--name-only", "feat-2").splitlines()
    # A finished tree whose RESULTS.md is gone is done no more: status says so, resume redoes it alone.
    status = json.loads(pe_run(repo, "status", "--feature=feat", "--json").stdout)
    assert [row["state"] for row in status] == ["stale", "done"]
    res = pe_run(repo, "resume", "--feature=feat")
    assert res.returncode == 0, res.stdout + res.stderr
    assert [starts(agent_log, "feat-1"), starts(agent_log, "feat-2")] == [2, 1]
    assert "pe: warning:" not in res.stderr  # nothing outside was touched this time
    assert run_record(repo, "feat-1")["state"] == "done" and (repo / "trees" / "feat-1" / "impl.txt").exists()


def test_parallel_agents_all_get_the_warning(repo: Path, agent_log: Path) -> None:
    """With agents running side by side pe cannot tell which one wrote: each run that overlapped says so."""
    write_manifest(repo, count=2, jobs=2)
    env = {"PE_TEST_SLEEP": "1", "PE_TEST_VANDAL_2": "../../README.md"}
    res = pe_run(repo, "execute", "--feature=feat", env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    for tree in ("feat-1", "feat-2"):
        assert run_record(repo, tree)["warnings"] == ["the main checkout changed while this agent ran: README.md deleted"]


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupt_during_compare_stops_its_checks(tmp_path: Path, sig: int, code: int) -> None:
    """compare runs its checks on threads: ^C used to wait for every one of them to end by itself."""
    root = make_repo(tmp_path)
    marks = tmp_path / "marks"
    marks.mkdir()
    hang = "import os, sys, time; open(os.path.join(sys.argv[1], os.environ['PE_TREE']), 'w').close(); time.sleep(300)"
    checks = {"hang": {"command": ["python", "-c", hang, str(marks)], "timeout": 600}}
    write_cycle_manifest(root, count=2, checks=checks)
    assert cycle_pe(root, "execute", "--feature=calc")[0] == 0
    compare = pe_popen(root, "compare", "--feature=calc")
    try:
        wait_for(lambda: len(list(marks.iterdir())) == 2, timeout=60, what="both checks to start")
        start = time.monotonic()
        compare.send_signal(sig)
        assert compare.wait(30) == code
        assert time.monotonic() - start < 15
    finally:
        kill_group(compare.pid)
    left = [p for p in os.listdir("/proc") if p.isdigit() and str(marks).encode() in _cmdline(p)]
    assert not left, left


def _cmdline(pid: str) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""
