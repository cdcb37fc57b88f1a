"""pe's side of a supervised attempt: start it, find it again, wait for it, stop it."""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pe
from pe import proc
from pe.errors import PeError
from pe.layout import Layout
from pe.supervisor import spawner
from pe.supervisor.files import End, Launch
from pe.util import now_iso

# The supervisor imports the pe that started it, from where that one lives, and nothing from
# the working directory or PYTHON* variables (-I): a tree's own `pe/` must not stand in for it.
_BOOT = ("import sys; sys.path.insert(0, sys.argv[1]); from pe.supervisor.child import main; "
         "raise SystemExit(main(sys.argv[2:]))")
POLL_S = 0.25


def lock_held(layout: Layout, tree: str) -> bool:
    """True while a supervisor of `tree` lives (it holds the tree's supervisor lock)."""
    try:
        fd = os.open(layout.supervisor_lock(tree), os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


@dataclass
class Attempt:
    """A supervised attempt: running (its supervisor alive) or ended."""

    layout: Layout
    tree: str
    launch: Launch
    pid: int | None = None  # the supervisor
    pid_start: int | None = None
    child: subprocess.Popen[bytes] | None = None  # when this pe started it

    @property
    def number(self) -> int:
        return self.launch.attempt

    def _alive(self) -> tuple[int, int] | None:
        """(pid, start) of the supervisor while its process lives. Without its start time (it was
        gone before pe could read it) nothing says a process by that pid is it: a dead pid's None
        once equalled the unknown start, and the next pe waited forever on a supervisor long gone."""
        if self.pid is None or self.pid_start is None or proc.process_start_ticks(self.pid) != self.pid_start:
            return None
        return self.pid, self.pid_start

    def running(self) -> bool:
        # The lock, or the supervisor's own process: an agent outside the sandbox can delete the lock's file.
        if self.child is not None and self.child.poll() is None:
            return True
        return self._alive() is not None or lock_held(self.layout, self.tree)

    def end(self) -> End | None:
        return End.load(self.layout.run_end(self.tree, self.number))

    def wait(self, deadline: float | None = None, give_up: Callable[[], bool] = lambda: False) -> End | None:
        """Wait for the attempt to end: its End, or None at `deadline` or once `give_up()`.

        A supervisor that ended without an end file (killed, a full disk) ends the attempt
        as `pe-died`: the run's figures are lost, its files are not.
        """
        if self.child is None and (live := self._alive()) is not None:
            proc.REGISTRY.add(live[0], supervisor=True)  # re-attached: a deliberate stop of pe stops it too
        try:
            while self.running():
                if give_up() or (deadline is not None and time.monotonic() >= deadline):
                    return None
                step = POLL_S if deadline is None else max(0.0, min(POLL_S, deadline - time.monotonic()))
                if self.child is not None:
                    proc._wait_exit(self.child, step)
                elif (live := self._alive()) is not None:
                    proc.wait_gone(*live, step)
                else:
                    time.sleep(step)
        finally:
            if self.pid is not None:
                proc.REGISTRY.discard(self.pid)
        if self.child is not None:
            self.child.wait()
        end = self.end()
        if end is None:
            # Killed (by the agent itself, say: without the sandbox it can see its parent). What the
            # run started carries the dead supervisor's PE_OWNER: stop it before anyone commits the tree.
            if self.launch.scope:
                from pe.leftovers import reap_orphans

                reap_orphans(self.launch.scope)
            end = End(self.number, "pe-died", now_iso(), 0.0,
                      error="the agent's supervisor ended without recording how the run ended")
        return end

    def stop(self) -> None:
        """Ask the supervisor to stop its agent (it records the end as stopped by the user)."""
        if (live := self._alive()) is not None:  # never a pid since reused by another's process
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(live[0], signal.SIGTERM)


def start(layout: Layout, launch: Launch, env: Mapping[str, str], tree: str) -> Attempt:
    """Write the launch file and start its supervisor, which takes over the tree's supervisor lock."""
    lock = layout.supervisor_lock(tree)
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PeError(f"trees/{tree}: an agent already runs there, under its supervisor") from None
        path = layout.launch_file(tree, launch.attempt)
        Path(launch.end).unlink(missing_ok=True)  # a stale one, of a round cleanup forgot
        launch.save(path)
        env = {k: v for k, v in env.items() if k != proc.OWNER_VAR}  # see proc.start_supervisor
        try:
            pid = spawner.SPAWNER.spawn([str(path)], cwd=layout.root, env=env, log=launch.log, lock=fd)
        except spawner.Unsure as exc:
            raise PeError(f"trees/{tree}: {exc}; the next pe finds the agent if it started") from None
        if pid is not None:  # forked by pe's warm spawner; registered as start_supervisor registers its own
            proc.REGISTRY.add(pid, supervisor=True)
            return Attempt(layout, tree, launch, pid, proc.process_start_ticks(pid))
        with open(launch.log, "ab") as log:
            child = proc.start_supervisor(
                [sys.executable, "-I", "-c", _BOOT, str(Path(pe.__file__).parent.parent), str(path), str(fd)],
                cwd=layout.root, env=env, log=log, pass_fds=(fd,),
            )
    finally:
        os.close(fd)  # the supervisor holds the lock now (the same open file)
    return Attempt(layout, tree, launch, child.pid, proc.process_start_ticks(child.pid), child)


def newest(layout: Layout, tree: str, pid: int | None = None, pid_start: int | None = None) -> Attempt | None:
    """The tree's newest supervised attempt, running or ended; None where none was ever launched."""
    folder = layout.supervision(tree)
    try:
        numbers = [int(p.name[7:-5]) for p in folder.iterdir()
                   if p.name.startswith("launch-") and p.name.endswith(".json") and p.name[7:-5].isdigit()]
    except OSError:
        return None
    for number in sorted(numbers, reverse=True):
        launch = Launch.load(layout.launch_file(tree, number))
        if launch is not None:
            return Attempt(layout, tree, launch, pid, pid_start)
    return None
