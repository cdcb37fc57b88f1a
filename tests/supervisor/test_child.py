"""The supervisor process (pe/supervisor/child.py), started as pe starts it, with real signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import pe
from pe.supervisor import handle
from tests.support import wait_for

Boot = Callable[[Path], "subprocess.Popen[bytes]"]


@pytest.fixture
def boot() -> Iterator[Boot]:
    """Start a supervisor as handle.start does; whatever a failing test leaves is killed."""
    started: list[subprocess.Popen[bytes]] = []

    def start(launch: Path) -> subprocess.Popen[bytes]:
        child = subprocess.Popen([sys.executable, "-I", "-c", handle._BOOT, str(Path(pe.__file__).parent.parent),
                                  str(launch)], start_new_session=True)
        started.append(child)
        return child

    yield start
    for child in started:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()


def _waiting_on_the_fifo(pid: int) -> bool:
    try:
        where = Path(f"/proc/{pid}/wchan").read_text()  # opening a FIFO no writer has: wait_for_partner
    except OSError:
        return False
    return any(word in where for word in ("partner", "fifo", "pipe"))


def test_a_stop_that_lands_before_the_agent_starts_is_kept_and_the_agent_never_starts(tmp_path: Path, boot: Boot) -> None:
    """pe's deliberate stop (SIGTERM) can reach a supervisor that is still starting. It used to be
    ignored there, and the agent then ran a whole attempt pe had been told to stop."""
    started = tmp_path / "agent-started"
    end = tmp_path / "end-1.json"
    plan = {"attempt": 1, "argv": ["sh", "-c", f"touch {started}; sleep 30"], "cwd": str(tmp_path),
            "log": str(tmp_path / "agent.log"), "end": str(end), "timeout": 60}
    # The launch file is a FIFO: the supervisor blocks reading it, in the phase before its agent's
    # run takes signals, until the test has sent the stop.
    launch = tmp_path / "launch-1.json"
    os.mkfifo(launch)
    supervisor = boot(launch)
    wait_for(lambda: _waiting_on_the_fifo(supervisor.pid), what="the supervisor reading its launch file")
    os.kill(supervisor.pid, signal.SIGTERM)
    writer = threading.Thread(target=launch.write_text, args=(json.dumps(plan),))
    writer.start()
    assert supervisor.wait(timeout=30) == 0
    writer.join()
    recorded = json.loads(end.read_text())
    assert recorded["ended_by"] == "user" and recorded["signal"] == "SIGTERM", recorded
    assert not started.exists()


def test_sighup_before_the_agent_starts_is_not_a_stop(tmp_path: Path, boot: Boot) -> None:
    """A closed terminal is pe's, not the run's: the agent still runs its attempt."""
    end = tmp_path / "end-1.json"
    plan = {"attempt": 1, "argv": ["sh", "-c", "echo ran > ran.txt"], "cwd": str(tmp_path),
            "log": str(tmp_path / "agent.log"), "end": str(end), "timeout": 60}
    launch = tmp_path / "launch-1.json"
    os.mkfifo(launch)
    supervisor = boot(launch)
    wait_for(lambda: _waiting_on_the_fifo(supervisor.pid), what="the supervisor reading its launch file")
    os.kill(supervisor.pid, signal.SIGHUP)
    launch.write_text(json.dumps(plan))
    assert supervisor.wait(timeout=30) == 0
    recorded = json.loads(end.read_text())
    assert recorded["ended_by"] == "agent" and recorded["returncode"] == 0, recorded
    assert (tmp_path / "ran.txt").read_text() == "ran\n"
