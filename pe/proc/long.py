"""Long children: an agent (or an install) logged to a file, with its time limits."""

from __future__ import annotations

import os
import select
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from pe.proc import core
from pe.proc.core import _tagged, kill_group


@dataclass(frozen=True)
class Exit:
    """How a long-running child ended."""

    returncode: int | None
    timed_out: bool
    interrupted: bool
    duration_s: float
    idle_s: float | None = None  # set when the idle watchdog killed it

    def describe(self) -> str:
        if self.interrupted:
            return "interrupted"
        if self.idle_s is not None:
            return f"killed after {self.idle_s:.0f}s without output or file changes"
        if self.timed_out:
            return f"timed out after {self.duration_s:.0f}s"
        return f"exit status {self.returncode}"


IDLE_POLL_S = 2.0


def _wait_exit(proc: subprocess.Popen[bytes], timeout: float) -> bool:
    """Wait up to `timeout` for `proc` to exit (and reap it); True if it did.

    Popen.wait(timeout) polls with sleeps of up to 50 ms, so an agent's exit was
    noticed 25 ms late on average, on every run. A pidfd (Linux 5.3+) wakes the
    moment the child exits; elsewhere, Popen.wait it is.
    """
    pidfd = None
    if hasattr(os, "pidfd_open") and proc.returncode is None:
        try:
            pidfd = os.pidfd_open(proc.pid)
        except OSError:
            pidfd = None  # an old kernel, or a seccomp filter: fall back
    if pidfd is not None:
        try:
            poller = select.poll()
            poller.register(pidfd, select.POLLIN)
            if not poller.poll(max(0, int(timeout * 1000))):
                return False
        finally:
            os.close(pidfd)
        proc.wait()
        return True
    try:
        proc.wait(timeout=timeout)
        return True
    except subprocess.TimeoutExpired:
        return False


def spawn_logged(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    log: IO[bytes],
    timeout: float,
    on_start: Callable[[int], None] | None = None,
    stdin_path: Path | None = None,
    idle_timeout: float | None = None,
    last_activity: Callable[[], float] | None = None,
) -> Exit:
    """Run a long child (an agent), output appended to `log`, killed at `timeout`.

    `on_start(pid)` is called once the child exists so the caller can record
    the pid before anything can crash. With `idle_timeout`, the group is also
    killed when neither the log nor `last_activity()` (a wall-clock time, e.g.
    the newest file change in the tree) moved for that long: hung agents (an
    unreachable model server) otherwise sit until the full timeout.
    """
    start = time.monotonic()
    stdin = stdin_path.open("rb") if stdin_path is not None else subprocess.DEVNULL
    from pe import reap  # here: status and a no-op resume start no agent

    run = reap.Run()  # what the agent starts outside its group: its cgroup, or what pe re-parents
    try:
        proc = subprocess.Popen(
            [str(a) for a in argv],
            cwd=cwd,
            env=run.tag(_tagged(env, finish=False)),
            stdin=stdin,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=run.preexec,  # None, or one write: see reap.Run.enter
        )
    except BaseException:
        run.end()
        raise
    finally:
        if stdin_path is not None:
            stdin.close()  # type: ignore[union-attr]
    timed_out = False
    idle_for: float | None = None
    try:
        core.REGISTRY.add(proc.pid)  # inside the try: a signal landing here still kills the group
        run.started(proc.pid)
        if on_start is not None:
            on_start(proc.pid)
        deadline = start + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            if _wait_exit(proc, min(remaining, IDLE_POLL_S) if idle_timeout else remaining):
                break
            if idle_timeout:
                newest = os.fstat(log.fileno()).st_mtime
                if last_activity is not None:
                    newest = max(newest, last_activity())
                quiet = time.time() - max(newest, time.time() - (time.monotonic() - start))
                if quiet >= idle_timeout:
                    idle_for = quiet
                    timed_out = True
                    break
        if timed_out:
            kill_group(proc.pid, reap=proc.poll)
            proc.wait()
    except BaseException:
        kill_group(proc.pid, grace=1, reap=proc.poll)
        proc.wait()
        raise
    finally:
        run.end(reap=proc.poll)  # the group (the leader may be gone, not its children) and all the run started
        core.REGISTRY.discard(proc.pid)
    interrupted = core.REGISTRY.stopping and not timed_out
    return Exit(proc.returncode, timed_out, interrupted, time.monotonic() - start, idle_for)


def start_supervisor(
    argv: Sequence[str], *, cwd: Path, env: Mapping[str, str], log: IO[bytes] | int, pass_fds: Sequence[int] = (),
) -> subprocess.Popen[bytes]:
    """Start an agent's supervisor (pe/supervisor), a process that must outlive pe.

    Its own session: the terminal's ^C and SIGHUP do not reach it. No PE_OWNER: the next
    pe must not stop it as something a dead pe left running (the agent it starts carries
    the supervisor's own, see core.claim). Registered, so that a deliberate stop of pe
    (SIGINT/SIGTERM) stops it too, and a detach (SIGHUP) does not.
    """
    child = subprocess.Popen(
        [str(a) for a in argv], cwd=cwd, env={k: v for k, v in env.items() if k != core.OWNER_VAR},
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        pass_fds=tuple(pass_fds),
    )
    core.REGISTRY.add(child.pid, supervisor=True)
    return child


def wait_gone(pid: int, start: int | None, timeout: float) -> bool:
    """Wait up to `timeout` for process `pid` (started at `start` ticks), pe's child or not, to end.

    True once it is gone. A pidfd wakes the moment it exits, whoever its parent is; where
    there is none, its /proc entry is polled.
    """
    pidfd = None
    if hasattr(os, "pidfd_open"):
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:
            pidfd = None  # gone already, an old kernel, or a seccomp filter
    try:
        # Checked after the pidfd exists: a pid reused since then cannot fool it.
        if core.process_start_ticks(pid) != start:
            return True
        if pidfd is not None:
            poller = select.poll()
            poller.register(pidfd, select.POLLIN)
            return bool(poller.poll(max(0, int(timeout * 1000)))) or core.process_start_ticks(pid) != start
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
            if core.process_start_ticks(pid) != start:
                return True
        return False
    finally:
        if pidfd is not None:
            os.close(pidfd)
