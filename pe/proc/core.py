"""Short commands, the registry of live process groups, signals, and what tags a child as pe's."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from pe.errors import Interrupted, ProcError

KILL_GRACE_S = 5.0
FINISH_GRACE_S = 10.0
# A supervisor told to stop gives its agent KILL_GRACE_S, then reaps what the agent started.
SUPERVISOR_GRACE_S = KILL_GRACE_S + 5.0


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str
    stderr: str


class _Registry:
    """Process groups that are alive right now, killed as a whole on exit.

    A supervisor's group (pe/supervisor) is stopped like the others on SIGINT/SIGTERM,
    with the time it needs to stop its agent and record how the run ended, and is left
    alone on a detach (SIGHUP): the run goes on without pe.
    """

    def __init__(self) -> None:
        # Reentrant: SIGINT/SIGTERM's handler calls kill_all in the main thread, between any two
        # bytecodes, also while that thread is inside add() or discard() (every git call passes
        # through them). A plain Lock deadlocked there and pe never exited.
        self._lock = threading.RLock()
        self._groups: dict[int, bool] = {}  # pgid -> a supervisor's
        self.stopping = False
        self.detaching = False

    def add(self, pgid: int, supervisor: bool = False) -> None:
        with self._lock:
            if not self.stopping:
                self._groups[pgid] = supervisor
                return
            detaching = self.detaching
        # Started (or re-attached to) by another thread after kill_all looked: it must not live on,
        # except a supervisor on a detach; a supervisor on a stop is told to stop its agent.
        if not supervisor:
            _signal_group(pgid, signal.SIGKILL)
        elif not detaching:
            _signal_group(pgid, signal.SIGTERM)

    def discard(self, pgid: int) -> None:
        with self._lock:
            self._groups.pop(pgid, None)

    def kill_all(self, grace: float = KILL_GRACE_S, detach: bool = False) -> None:
        with self._lock:
            self.stopping = True
            self.detaching = self.detaching or detach
            groups = [g for g, sup in self._groups.items() if not (detach and sup)]
            supervisors = {g for g in groups if self._groups[g]}
        if supervisors:
            grace = max(grace, SUPERVISOR_GRACE_S)
        for pgid in groups:
            if pgid in supervisors:
                _signal_group(pgid, signal.SIGTERM)  # it stops its agent, then records how the run ended
            else:
                kill_group(pgid, grace=0)
        deadline = time.monotonic() + grace
        while groups and time.monotonic() < deadline:
            groups = [g for g in groups if group_alive(g)]
            time.sleep(0.05)
        for pgid in groups:
            _signal_group(pgid, signal.SIGKILL)


REGISTRY = _Registry()


class _CtrlC(KeyboardInterrupt):
    """What pe's handler raises for SIGINT where code wants a KeyboardInterrupt.

    Not KeyboardInterrupt itself: once one of those has left any exec()'d code (a dataclass
    or namedtuple being made by a lazy import, say), `python -m pe` dies by SIGINT at exit
    instead of returning pe's 130, even though pe caught it. CPython checks the exact type.
    """


@contextlib.contextmanager
def signals_stop_children(
    *, announce: bool = False, keyboard_interrupt: bool = False,
    detach_on: tuple[int, ...] = (signal.SIGHUP,),
) -> Iterator[None]:
    """While inside: SIGINT/SIGTERM first kill every registered child group, then unwind.

    The main thread gets Interrupted(signum), or KeyboardInterrupt for SIGINT when
    `keyboard_interrupt` (so that `except KeyboardInterrupt`, e.g. the end of
    `pe status --watch`, keeps working). Without this, SIGTERM would end pe at once
    and leave its children running, and ^C would wait for children in other threads.
    A signal in `detach_on` (SIGHUP: the terminal closed, ssh dropped) is a detach: every
    child but the supervisors is stopped, and the agents' runs go on without pe.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return
    received: list[int] = []
    dropped: list[int] = []

    def interruption(signum: int) -> BaseException:
        return _CtrlC() if keyboard_interrupt and signum == signal.SIGINT else Interrupted(signum)

    def handler(signum: int, frame: FrameType | None) -> None:
        # Ignore repeats while we shut down; the first one is being handled.
        for s in handled:
            signal.signal(s, signal.SIG_IGN)
        received.append(signum)
        detach = signum in detach_on
        if announce:
            doing = "detaching: the agents go on (pe wait picks them up)" if detach else "stopping every agent"
            # OSError: a closed terminal (SIGHUP) cannot take it. RuntimeError: the main thread was
            # inside a write to stderr ("reentrant call"); the stop matters more than the line.
            with contextlib.suppress(OSError, RuntimeError):
                sys.stderr.write(f"\npe: {signal.Signals(signum).name}: {doing}...\n")
        REGISTRY.kill_all(detach=detach)
        raise interruption(signum)

    # Python runs a handler between any two bytecodes, also inside a __del__ or a weakref
    # callback (every import runs one). An exception raised there is printed as "Exception
    # ignored" and dropped, and pe would carry on as if nothing happened, its children killed
    # and signals ignored. So a dropped interruption is not printed, and is raised again when
    # the block ends (nothing new starts meanwhile: see _Registry.add).
    previous_hook = sys.unraisablehook

    def unraisable(info: Any) -> None:
        if received and isinstance(info.exc_value, (KeyboardInterrupt, Interrupted)):
            dropped.append(received[0])
        else:
            previous_hook(info)

    handled = (signal.SIGINT, signal.SIGTERM, *[s for s in detach_on if s not in (signal.SIGINT, signal.SIGTERM)])
    old = {s: signal.signal(s, handler) for s in handled}
    sys.unraisablehook = unraisable
    try:
        yield
    finally:
        sys.unraisablehook = previous_hook
        for s, h in old.items():
            signal.signal(s, h)
    if dropped:
        raise interruption(dropped[0])


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def kill_group(pgid: int, grace: float = KILL_GRACE_S, reap: Callable[[], object] | None = None) -> None:
    """SIGTERM the whole group, then SIGKILL what is left after `grace`.

    `reap`: the caller's Popen.poll for the group leader. An unreaped leader is a
    zombie that still counts as a member, so without it the group looks alive
    for the whole grace period, however fast everything in it died.
    """
    _signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if reap is not None:
            reap()
        if not group_alive(pgid):
            return
        time.sleep(0.05)
    _signal_group(pgid, signal.SIGKILL)


def process_start_ticks(pid: int) -> int | None:
    """Start time of a live `pid` in clock ticks since boot (Linux), to defeat pid reuse.

    None when there is no such process, or only its zombie (an init that does
    not reap, as in some containers, keeps killed agents as zombies).
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may contain spaces and parentheses: split after the last ')'.
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


# --- what a killed pe leaves running ------------------------------------------
#
# kill -9 of pe cannot take its children along: they are in sessions of their own.
# So every child carries PE_OWNER=<scope>|<pid>:<start ticks>|<kind> (scope: the
# repository's state dir, set by claim() when pe takes the repository lock), which
# its own children inherit. The next pe to take that lock finds them by it
# (pe/leftovers.py).

OWNER_VAR = "PE_OWNER"
_owner: str | None = None


def claim(scope: str | None) -> None:
    """Tag every child started from now on as this process's, in `scope` (None: stop tagging)."""
    global _owner
    _owner = None if scope is None else f"{scope}|{os.getpid()}:{process_start_ticks(os.getpid())}"


def _tagged(env: Mapping[str, str] | None, finish: bool) -> dict[str, str] | None:
    if _owner is None:
        return dict(env) if env is not None else None
    tagged = dict(env if env is not None else os.environ)
    tagged[OWNER_VAR] = f"{_owner}|{'finish' if finish else 'kill'}"
    return tagged


def run(
    argv: Sequence[str],
    *,
    cwd: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
    check: bool = True,
    stdin_text: str | None = None,
    finish_on_interrupt: bool = False,
) -> Result:
    """Run a short command, capture its output, kill its group on timeout.

    `finish_on_interrupt`: pe's own bookkeeping (git). It is not registered for
    the signal handlers' kill, and an interrupt in this thread waits up to
    FINISH_GRACE_S for it to finish before killing it (see the module doc).
    """
    return start(argv, cwd=cwd, env=env, timeout=timeout, check=check, stdin_text=stdin_text,
                 finish_on_interrupt=finish_on_interrupt).wait()


def start(
    argv: Sequence[str],
    *,
    cwd: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
    check: bool = True,
    stdin_text: str | None = None,
    finish_on_interrupt: bool = False,
) -> Running:
    """run() without waiting: several short commands side by side with no thread each (threads
    fight over the GIL at every file read; issue 18). Running.wait() collects it."""
    argv = [str(a) for a in argv]
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env=_tagged(env, finish=finish_on_interrupt),
        stdin=subprocess.PIPE if stdin_text is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A file name that is not UTF-8 (Latin-1, in a tree or the base) must not make a git listing
        # raise: its bytes survive as surrogates, and os.fsencode turns them back into the name.
        errors="surrogateescape",
        start_new_session=True,
    )
    try:
        if not finish_on_interrupt:
            REGISTRY.add(proc.pid)  # inside the try: a signal landing here still kills the child
    except BaseException:
        kill_group(proc.pid, grace=1, reap=proc.poll)
        proc.wait()
        REGISTRY.discard(proc.pid)
        raise
    return Running(proc, argv, timeout, check, stdin_text, finish_on_interrupt)


class Running:
    """A short command start() began; wait() is run()'s end: output, exit status, the timeout's kill."""

    def __init__(self, proc: subprocess.Popen[str], argv: list[str], timeout: float, check: bool,
                 stdin_text: str | None, finish_on_interrupt: bool) -> None:
        self.proc, self.argv, self.timeout, self.check = proc, argv, timeout, check
        self.stdin_text, self.finish_on_interrupt = stdin_text, finish_on_interrupt

    def wait(self) -> Result:
        proc, timeout = self.proc, self.timeout
        try:
            out, err = proc.communicate(self.stdin_text, timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_group(proc.pid, grace=1, reap=proc.poll)
            out, err = proc.communicate()
            raise ProcError(self.argv, -9, out, f"timed out after {timeout:g}s\n{err}") from None
        except BaseException:
            if self.finish_on_interrupt:
                with contextlib.suppress(BaseException):
                    proc.communicate(timeout=min(timeout, FINISH_GRACE_S))
            kill_group(proc.pid, grace=1, reap=proc.poll)
            proc.wait()
            raise
        finally:
            REGISTRY.discard(proc.pid)
        if self.check and proc.returncode != 0:
            raise ProcError(self.argv, proc.returncode, out, err)
        return Result(proc.returncode, out, err)
