"""pe.proc.quick: short read-only commands through posix_spawn. Real children, real process groups."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from pe import proc
from pe.proc import quick


def test_collect_gives_the_exit_status_and_all_of_a_large_output() -> None:
    # 2 MB: many times a pipe's buffer, so collect() must read while the child writes.
    code = "import sys; sys.stdout.buffer.write(b'x' * (2 << 20)); raise SystemExit(4)"
    status, out = proc.Quick([sys.executable, "-c", code], dict(os.environ), timeout=60).collect()
    assert status == 4
    assert out == b"x" * (2 << 20)


def test_the_child_has_its_own_process_group_and_no_stdin() -> None:
    code = "import os, sys; print(os.getpgid(0), os.getpid(), repr(sys.stdin.read()))"
    status, out = proc.Quick([sys.executable, "-c", code], dict(os.environ), timeout=60).collect()
    pgid, pid, stdin = out.decode().split()
    assert status == 0
    assert pgid == pid  # the group is its own: a kill of it reaches no one else
    assert stdin == "''"  # /dev/null, never pe's terminal


def test_a_timeout_kills_the_whole_group_and_keeps_what_was_printed(tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild"
    # The grandchild holds no copy of the pipe, so only a kill of the group ends it.
    script = f"sleep 300 >/dev/null & echo $! > {pidfile}; echo started; exec sleep 300"
    began = time.monotonic()
    status, out = proc.Quick(["sh", "-c", script], dict(os.environ), timeout=1).collect()
    assert status == -9
    assert out == b"started\n"
    assert time.monotonic() - began < 30
    grandchild = int(pidfile.read_text())
    for _ in range(100):  # (the kernel reaps it through init; give that a moment)
        try:
            os.kill(grandchild, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        os.kill(grandchild, signal.SIGKILL)
        pytest.fail("the timeout left the command's own child running")


def test_a_missing_program_is_an_oserror_and_leaves_no_descriptor_open() -> None:
    before = set(os.listdir("/proc/self/fd"))
    with pytest.raises(OSError):
        proc.Quick(["pe-no-such-program-x"], dict(os.environ), timeout=5)
    assert set(os.listdir("/proc/self/fd")) == before


@pytest.mark.skipif(not quick._own_group(), reason="the kernel has no autogroups: background keeps pe's priority")
def test_a_background_command_yields_the_core_to_pe() -> None:
    # pe sets the nice just after the spawn: the child waits up to 5 s for it to change, so a
    # slow parent cannot make the test pass or fail by chance.
    code = ("import os, time\nfor _ in range(500):\n    if os.getpriority(os.PRIO_PROCESS, 0): break\n"
            "    time.sleep(0.01)\nprint(os.getpriority(os.PRIO_PROCESS, 0))")
    assert proc.Quick([sys.executable, "-c", "import os; print(os.getpriority(os.PRIO_PROCESS, 0))"],
                      dict(os.environ), timeout=60).collect()[1] == b"0\n"
    status, out = proc.Quick([sys.executable, "-c", code], dict(os.environ), timeout=60, background=True).collect()
    assert (status, out) == (0, b"19\n")
