"""Short read-only commands started with os.posix_spawn, for pe's hot loops (issue 18).

`pe status` starts one `git status` per tree. Through subprocess.Popen and communicate() each
costs pe ~0.5 ms of its own CPU (pipes, a selector, a thread hand-off per read); here ~0.15 ms.
That CPU is taken from the one core the rest of `pe status` runs on while the gits run on the
other: on 30 trees, 16 ms against 4.5 ms.

The rules of pe.proc hold: an argv list (never a shell), its own process group (setpgroup), a
timeout that kills the group. What this does not do, it does not offer: no cwd (git takes -C), no
stdin (/dev/null), stderr discarded (a caller that needs git's message asks again through
pe.proc.run). Like pe's other git bookkeeping (finish_on_interrupt) it is not in the signal
handlers' registry: a read-only git is let finish.
"""

from __future__ import annotations

import contextlib
import functools
import os
import select
import signal
import time
from collections.abc import Mapping, Sequence

_CHUNK = 1 << 16


class Quick:
    """One running command: collect() gives its exit status and everything it printed."""

    def __init__(self, argv: Sequence[str], env: Mapping[str, str], timeout: float, *,
                 background: bool = False) -> None:
        self.argv = list(argv)
        self._deadline = time.monotonic() + timeout
        read, write = os.pipe()
        try:
            # posix_spawnp: PATH searched as subprocess searches it
            self.pid = os.posix_spawnp(self.argv[0], self.argv, env, file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_DUP2, write, 1),
                (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0),
            ], setpgroup=0)
        except BaseException:
            os.close(read)
            raise
        finally:
            os.close(write)
        self._out = read
        if background and _own_group():
            # It must not take the core pe runs on: at nice 19 it yields to pe and to nothing else,
            # for it shares pe's scheduling group (one per session, see _own_group). What it can
            # take from pe's core is what pe leaves idle. (~12 ms of 160 in `pe status`, 30 trees.)
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, self.pid, 19)

    def collect(self) -> tuple[int, bytes]:
        """(exit status, stdout); a command past its timeout is killed with its group: (-9, what it printed)."""
        chunks: list[bytes] = []
        poller = select.poll()
        poller.register(self._out, select.POLLIN)
        killed = False
        try:
            while True:
                left = self._deadline - time.monotonic()
                if left <= 0 or not poller.poll(left * 1000):
                    _kill(self.pid)
                    killed = True
                    break
                chunk = os.read(self._out, _CHUNK)
                if not chunk:
                    break
                chunks.append(chunk)
        finally:
            os.close(self._out)
            _, status = os.waitpid(self.pid, 0)
        return (-9 if killed else os.waitstatus_to_exitcode(status)), b"".join(chunks)


@functools.cache
def _own_group() -> bool:
    """Whether the kernel schedules each session as one group (autogroup), so that a nice child of pe's,
    which stays in pe's session (setpgroup, not setsid), competes only with pe's session. Without
    autogroups, nice would make it yield to every process on the machine: it then keeps pe's priority."""
    try:
        with open("/proc/sys/kernel/sched_autogroup_enabled", "rb") as f:
            return f.read().strip() == b"1"
    except OSError:
        return False


def _kill(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # (ended on its own just now)
