"""proc: the one place processes start. Real children, real process groups."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pe import proc


def test_wait_exit_reports_a_live_child_then_reaps_it_when_it_exits(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        assert proc._wait_exit(child, 0.2) is False
        assert child.returncode is None
        assert child.stdin is not None
        child.stdin.close()  # the child reads EOF and exits
        assert proc._wait_exit(child, 30) is True
        assert child.returncode == 0  # reaped: no zombie left behind
    finally:
        child.kill()
        child.wait()


def test_spawn_logged_passes_the_exit_status_and_output_through(tmp_path: Path) -> None:
    log_path = tmp_path / "agent.log"
    with log_path.open("ab") as log:
        ended = proc.spawn_logged([sys.executable, "-c", "print('hello'); raise SystemExit(3)"],
                                  cwd=tmp_path, env=dict(os.environ), log=log, timeout=60)
    assert (ended.returncode, ended.timed_out, ended.interrupted) == (3, False, False)
    assert log_path.read_text() == "hello\n"


def test_spawn_logged_kills_the_whole_group_at_its_timeout(tmp_path: Path) -> None:
    # The agent starts a grandchild that would outlive it, then hangs.
    script = ("import subprocess, sys, time\n"
              "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
              "print(p.pid, flush=True)\n"
              "time.sleep(600)\n")
    log_path = tmp_path / "agent.log"
    with log_path.open("ab") as log:
        ended = proc.spawn_logged([sys.executable, "-c", script], cwd=tmp_path, env=dict(os.environ), log=log,
                                  timeout=2)
    assert ended.timed_out and ended.returncode is not None and ended.returncode < 0
    grandchild = int(log_path.read_text().split()[0])
    assert proc.process_start_ticks(grandchild) is None  # gone, or only a zombie awaiting its reaper


def test_spawn_logged_kills_an_agent_that_goes_quiet(tmp_path: Path) -> None:
    log_path = tmp_path / "agent.log"
    with log_path.open("ab") as log:
        ended = proc.spawn_logged([sys.executable, "-c", "import time; time.sleep(600)"], cwd=tmp_path,
                                  env=dict(os.environ), log=log, timeout=600, idle_timeout=1,
                                  last_activity=lambda: 0.0)
    assert ended.timed_out and ended.idle_s is not None and ended.idle_s >= 1
    assert "without output or file changes" in ended.describe()


def test_a_supervisor_met_after_a_detach_lives_and_after_a_stop_is_told_to_stop() -> None:
    """pe wait's workers re-attach to supervisors; one that does so after the signal must not kill it."""
    def sleeper() -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)

    detached, stopped = proc._Registry(), proc._Registry()
    detached.kill_all(grace=0, detach=True)
    stopped.kill_all(grace=0)
    a, b = sleeper(), sleeper()
    try:
        detached.add(a.pid, supervisor=True)
        stopped.add(b.pid, supervisor=True)
        assert b.wait(timeout=10) == -signal.SIGTERM  # told to stop, as a supervisor is on Ctrl-C
        time.sleep(0.2)
        assert a.poll() is None  # a detach leaves supervisors running
    finally:
        for p in (a, b):
            p.kill()
            p.wait()


def test_output_that_is_not_utf8_is_read_not_raised(tmp_path: Path) -> None:
    """git lists a Latin-1 file name as its raw bytes: pe must read it, and name the same file again."""
    name = os.fsdecode(b"caf\xe9.txt")
    (tmp_path / name).write_text("x")
    out = proc.run(["ls", "--", str(tmp_path)]).stdout
    assert name in out.splitlines() and (tmp_path / out.splitlines()[0]).exists()


def test_a_signal_that_lands_while_pe_registers_a_child_stops_pe_not_hangs_it() -> None:
    """A SIGTERM met while the main thread is inside the registry (every git call adds and
    discards its group) ran the handler's kill_all on the lock the main thread held: pe hung
    forever (a cleanup fault trial, SIGTERM 20 ms in, never exited)."""
    code = (
        "import os, signal, sys\n"
        "from pe import proc\n"
        "from pe.errors import Interrupted\n"
        "try:\n"
        "    with proc.signals_stop_children():\n"
        "        with proc.REGISTRY._lock:  # as in add() or discard(), between two bytecodes\n"
        "            os.kill(os.getpid(), signal.SIGTERM)\n"
        "            for _ in range(10**6): pass\n"
        "except Interrupted:\n"
        "    sys.exit(143)\n"
    )
    child = subprocess.run([sys.executable, "-c", code], timeout=30, capture_output=True, text=True)
    assert child.returncode == 143, child.stderr


def test_started_commands_run_side_by_side_and_wait_gives_what_run_gives(tmp_path: Path) -> None:
    # Two children that each wait for the other's file: only side by side can both finish.
    a, b = tmp_path / "a", tmp_path / "b"
    wait_then = "import pathlib, sys, time; pathlib.Path(sys.argv[1]).touch(); " \
                "deadline = time.time() + 20\nwhile not pathlib.Path(sys.argv[2]).exists() and time.time() < deadline: " \
                "time.sleep(0.01)\nprint('saw', sys.argv[2]); sys.exit(3)"
    first = proc.start([sys.executable, "-c", wait_then, a, b], check=False)
    second = proc.start([sys.executable, "-c", wait_then, b, a], check=False)
    assert [first.wait(), second.wait()] == [proc.Result(3, f"saw {b}\n", ""), proc.Result(3, f"saw {a}\n", "")]
    ran = proc.run([sys.executable, "-c", wait_then, a, b], check=False)
    assert ran == proc.Result(3, f"saw {b}\n", "")
    failing = proc.start([sys.executable, "-c", "import sys; sys.exit(4)"])
    with pytest.raises(proc.ProcError) as failed:  # check=True: at wait(), as run() raises
        failing.wait()
    assert failed.value.returncode == 4


def test_a_started_command_is_killed_with_its_group_at_its_timeout(tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild.pid"
    script = f"import subprocess, sys, time; p = subprocess.Popen(['sleep', '60']); " \
             f"open({str(pidfile)!r}, 'w').write(str(p.pid)); time.sleep(60)"
    running = proc.start([sys.executable, "-c", script], timeout=1.5)
    with pytest.raises(proc.ProcError, match="timed out"):
        running.wait()
    grandchild = int(pidfile.read_text())
    deadline = time.monotonic() + 10
    while proc.process_start_ticks(grandchild) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.process_start_ticks(grandchild) is None  # the whole group went, not only the child
