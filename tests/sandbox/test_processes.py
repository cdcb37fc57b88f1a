"""Processes: nothing the sandboxed command starts outlives it, setsid daemons and double forks included."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path

from pe import proc
from pe.sandbox import Policy, wrap
from tests.sandbox.inside import run_in

# Starts a setsid daemon and a double-forked one, each appending to its log every 0.2 s,
# waits until both have written twice (so both surely run), then does "$1" (exit, or hang).
SCRIPT = """\
setsid sh -c 'while :; do date >> setsid-{token}.log; sleep 0.2; done' &
( sh -c 'while :; do date >> forked-{token}.log; sleep 0.2; done' & ) &
i=0
while [ $i -lt 200 ]; do
  if [ "$(cat setsid-{token}.log 2>/dev/null | wc -l)" -ge 2 ] && [ "$(cat forked-{token}.log 2>/dev/null | wc -l)" -ge 2 ]; then
    [ "$1" = hang ] && sleep 600
    exit 0
  fi
  sleep 0.05; i=$((i + 1))
done
exit 1
"""


def running_with(token: str) -> list[int]:
    """Pids of the live processes whose command line names `token`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if token.encode() in cmdline and state not in ("Z", "X"):
            found.append(int(entry.name))
    return found


def daemons(tmp_path: Path) -> tuple[Policy, str, list[Path]]:
    token = uuid.uuid4().hex
    (tmp_path / "daemons.sh").write_text(SCRIPT.format(token=token))
    logs = [tmp_path / f"setsid-{token}.log", tmp_path / f"forked-{token}.log"]
    return Policy(writable=(tmp_path,), cwd=tmp_path), token, logs


def assert_gone(token: str, logs: list[Path]) -> None:
    assert running_with(token) == []
    sizes = [log.stat().st_size for log in logs]
    assert all(sizes)  # they did run
    time.sleep(0.7)  # three of their periods
    assert [log.stat().st_size for log in logs] == sizes
    assert running_with(token) == []


def test_daemons_die_when_the_sandboxed_command_exits(bwrap: None, tmp_path: Path) -> None:
    policy, token, logs = daemons(tmp_path)

    done = run_in(policy, "sh", "daemons.sh", "exit")

    assert done.returncode == 0, done.stderr
    assert_gone(token, logs)


def test_pes_launcher_killing_bwrap_kills_everything_inside(bwrap: None, tmp_path: Path) -> None:
    # As the agent step will run it: spawn_logged, which SIGTERMs bwrap's process group at
    # the timeout. The command is in a session of its own inside (--new-session), out of that
    # group's reach: it is bwrap's death (--die-with-parent, the PID namespace) that ends it.
    policy, token, logs = daemons(tmp_path)
    with (tmp_path / "log").open("ab") as log:
        started = time.monotonic()
        ended = proc.spawn_logged(wrap(["sh", "daemons.sh", "hang"], policy), cwd=tmp_path, env=dict(os.environ),
                                  log=log, timeout=3)

    assert ended.timed_out
    assert time.monotonic() - started < 3 + proc.KILL_GRACE_S
    assert_gone(token, logs)


def test_the_check_sees_the_daemons_an_unsandboxed_command_leaves(tmp_path: Path) -> None:
    # Without the sandbox both daemons outlive the script: the checks above can fail.
    _, token, _logs = daemons(tmp_path)
    try:
        subprocess.run(["sh", "daemons.sh", "exit"], cwd=tmp_path, check=True, start_new_session=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert len(running_with(token)) == 2
    finally:
        for pid in running_with(token):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_the_sandbox_dies_with_the_thread_that_started_it(bwrap: None, tmp_path: Path) -> None:
    # --die-with-parent is the parent *thread*'s death (PR_SET_PDEATHSIG): the launcher must
    # wait for bwrap in the thread that started it, as pe.proc's do.
    box: list[subprocess.Popen[bytes]] = []
    ready = tmp_path / "ready"

    def start_then_leave() -> None:
        argv = wrap(["sh", "-c", f"touch {ready}; sleep 60"], Policy(writable=(tmp_path,), cwd=tmp_path))
        box.append(subprocess.Popen(argv, start_new_session=True))
        deadline = time.monotonic() + 30
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.01)

    starter = threading.Thread(target=start_then_leave)
    starter.start()
    starter.join()
    assert ready.exists()
    assert box[0].wait(timeout=10) == -signal.SIGKILL
