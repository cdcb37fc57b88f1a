"""Supervisors forked from pe's warm spawner (pe/supervisor/spawner.py): the same supervisor
handle.start started itself, and nothing of it lost when pe or the spawner goes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pe import proc, reap
from pe.layout import Layout
from pe.supervisor import handle, spawner
from pe.supervisor.files import Launch
from tests.support import wait_for


@pytest.fixture
def fresh() -> Iterator[spawner.Spawner]:
    """A spawner of this test's own (the module's SPAWNER lives as long as the test process)."""
    mine = spawner.Spawner()
    old, spawner.SPAWNER = spawner.SPAWNER, mine
    try:
        yield mine
    finally:
        spawner.SPAWNER = old
        mine._stop()


def _launch(layout: Layout, tree: str, script: str, attempt: int = 1) -> Launch:
    cwd = layout.root / "trees" / tree
    cwd.mkdir(parents=True, exist_ok=True)
    log = layout.agent_log(tree)
    log.parent.mkdir(parents=True, exist_ok=True)
    return Launch(attempt=attempt, argv=["sh", "-c", script], cwd=str(cwd), log=str(log),
                  end=str(layout.run_end(tree, attempt)), timeout=60)


def test_a_forked_supervisor_is_the_supervisor_handle_start_made_itself(tmp_path: Path,
                                                                          fresh: spawner.Spawner) -> None:
    layout = Layout(tmp_path)
    fresh.warm(tmp_path, os.environ)
    assert fresh._child is not None
    launch = _launch(layout, "t-1", 'echo "$PE_TEST_VAR $(pwd)"; echo to-stderr >&2; read x || echo no-stdin')
    attempt = handle.start(layout, launch, {**os.environ, "PE_TEST_VAR": "from-the-tree"}, "t-1")
    assert attempt.child is None and attempt.pid is not None  # forked: not a Popen of pe's
    assert (st := reap.stat(attempt.pid)) is not None and st.ppid == fresh._child.pid
    end = attempt.wait()
    assert end is not None and end.ended_by == "agent" and end.returncode == 0, end
    log = Path(launch.log).read_text()
    # The agent's environment and cwd are the request's, not the spawner's; stdin is /dev/null.
    assert f"from-the-tree {launch.cwd}\n" in log and "to-stderr\n" in log and "no-stdin\n" in log, log
    # The lock went with the supervisor: the spawner kept no copy that would hold it after the run.
    assert not handle.lock_held(layout, "t-1")
    assert fresh._child.poll() is None  # and the spawner still serves


def test_a_supervisor_is_in_a_session_of_its_own(tmp_path: Path, fresh: spawner.Spawner) -> None:
    layout = Layout(tmp_path)
    launch = _launch(layout, "t-1", "sleep 30")
    attempt = handle.start(layout, launch, dict(os.environ), "t-1")
    assert attempt.pid is not None
    assert os.getsid(attempt.pid) == attempt.pid == os.getpgid(attempt.pid)  # pe's stops signal this group
    assert handle.lock_held(layout, "t-1")
    attempt.stop()
    end = attempt.wait()
    assert end is not None and end.ended_by == "user", end


def test_the_supervisor_outlives_a_pe_killed_with_kill_9_and_the_spawner_goes_with_pe(tmp_path: Path) -> None:
    """kill -9 of pe: its spawner reads EOF and exits; the supervisor it forked runs the agent to its end."""
    layout = Layout(tmp_path)
    launch = _launch(layout, "t-1", "sleep 1; echo finished > done.txt")
    launch.save(tmp_path / "launch.json")
    script = textwrap.dedent(f"""
        import os, sys, time
        from pathlib import Path
        from pe.layout import Layout
        from pe.supervisor import handle, spawner
        from pe.supervisor.files import Launch
        layout = Layout(Path({str(tmp_path)!r}))
        attempt = handle.start(layout, Launch.load(Path({str(tmp_path / "launch.json")!r})), dict(os.environ), "t-1")
        print(attempt.pid, spawner.SPAWNER._child.pid, flush=True)
        time.sleep(60)
    """)
    pe = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert pe.stdout is not None
        supervisor, spawned_by = map(int, pe.stdout.readline().split())
    finally:
        pe.kill()
        pe.wait()
    wait_for(lambda: proc.process_start_ticks(spawned_by) is None, what="the spawner exiting with pe")
    end = Path(launch.end)
    wait_for(end.exists, timeout=30, what="the agent's end, written by its supervisor")
    assert json.loads(end.read_text())["returncode"] == 0
    assert (Path(launch.cwd) / "done.txt").read_text() == "finished\n"
    wait_for(lambda: not handle.lock_held(layout, "t-1"), what="the supervisor's exit")
    assert proc.process_start_ticks(supervisor) is None


def test_a_spawner_killed_by_an_agent_costs_nothing_pe_starts_the_next_supervisor_itself(
        tmp_path: Path, fresh: spawner.Spawner) -> None:
    layout = Layout(tmp_path)
    fresh.warm(tmp_path, os.environ)
    assert fresh._child is not None
    os.kill(fresh._child.pid, signal.SIGKILL)  # what an agent outside the sandbox can do
    fresh._child.wait()
    attempt = handle.start(layout, _launch(layout, "t-1", "echo ran"), dict(os.environ), "t-1")
    assert attempt.child is not None  # started by pe itself
    end = attempt.wait()
    assert end is not None and end.returncode == 0, end


def test_a_spawner_that_stops_answering_is_killed_and_the_tree_says_so(
        tmp_path: Path, fresh: spawner.Spawner, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stopped spawner could fork later: pe kills it rather than start a second supervisor."""
    layout = Layout(tmp_path)
    fresh.warm(tmp_path, os.environ)
    assert fresh._child is not None
    child = fresh._child
    assert fresh._wait_ready(fresh._sock)  # type: ignore[arg-type]  # it said it serves, then was stopped
    os.kill(child.pid, signal.SIGSTOP)
    monkeypatch.setattr(spawner, "REPLY_TIMEOUT_S", 0.5)
    fresh._sock.settimeout(0.5)  # type: ignore[union-attr]
    began = time.monotonic()
    with pytest.raises(handle.PeError, match="did not answer"):
        handle.start(layout, _launch(layout, "t-1", "echo ran > ran.txt"), dict(os.environ), "t-1")
    assert time.monotonic() - began < 30
    assert child.poll() == -signal.SIGKILL
    assert not (layout.root / "trees" / "t-1" / "ran.txt").exists()
    assert not handle.lock_held(layout, "t-1")


def test_a_spawner_that_never_says_it_serves_costs_nothing_pe_starts_the_supervisor_itself(
        tmp_path: Path, fresh: spawner.Spawner, monkeypatch: pytest.MonkeyPatch) -> None:
    """A spawner slow to start (a loaded machine, a stop) has been asked nothing yet: pe goes on alone."""
    layout = Layout(tmp_path)
    monkeypatch.setattr(spawner, "_BOOT", "import time; time.sleep(60)")  # it never gets to serve
    monkeypatch.setattr(spawner, "REPLY_TIMEOUT_S", 0.5)
    fresh.warm(tmp_path, os.environ)
    child = fresh._child
    assert child is not None
    attempt = handle.start(layout, _launch(layout, "t-1", "echo ran > ran.txt"), dict(os.environ), "t-1")
    assert attempt.child is not None  # started by pe itself
    end = attempt.wait()
    assert end is not None and end.returncode == 0, end
    assert (layout.root / "trees" / "t-1" / "ran.txt").read_text() == "ran\n"
    assert child.poll() == -signal.SIGKILL  # and the spawner is gone, not left to fork later
