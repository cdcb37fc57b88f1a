"""The supervisor process: run one attempt of an agent to its end, whatever happens to pe.

Started by handle.start as `python -I -c ... <launch file> <lock fd>`, in a session of
its own, with the agent's environment as its own. It must not die with pe, so it
ignores SIGHUP; SIGINT/SIGTERM (pe's deliberate stop, `pe stop`) stop the agent.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from pe import proc
from pe.errors import Interrupted
from pe.fsutil import newest_mtime
from pe.supervisor.files import End, Launch
from pe.util import now_iso


def _ended_by(ended: proc.Exit) -> str:
    if ended.interrupted:
        return "user"
    if ended.idle_s is not None:
        return "idle"
    return "timeout" if ended.timed_out else "agent"


def supervise(launch: Launch) -> End:
    """Run the agent as `launch` says; how it ended."""
    start = time.monotonic()
    cwd = Path(launch.cwd)
    # The agent's PE_OWNER names this supervisor: it is a leftover for the next pe only
    # once the supervisor is gone (a kill -9 of it), never while the run is supervised.
    proc.claim(launch.scope)
    try:
        with proc.signals_stop_children(detach_on=()), open(launch.log, "ab") as log:
            if _stops:  # pe's stop came while this process was starting: the agent never starts
                raise Interrupted(_stops[0])
            ended = proc.spawn_logged(
                launch.argv, cwd=cwd, env=dict(os.environ), log=log, timeout=launch.timeout,
                stdin_path=Path(launch.stdin) if launch.stdin else None, idle_timeout=launch.idle_timeout,
                last_activity=lambda: newest_mtime(cwd),
            )
    except Interrupted as exc:
        return End(launch.attempt, "user", now_iso(), round(time.monotonic() - start, 3),
                   signal=signal.Signals(exc.signum).name, ended_ts=time.time())
    except OSError as exc:  # the program is missing, the tree is gone: no agent ran
        return End(launch.attempt, "agent", now_iso(), round(time.monotonic() - start, 3), returncode=127,
                   error=f"{launch.argv[0]}: {exc.strerror or exc}", ended_ts=time.time())
    return End(launch.attempt, _ended_by(ended), now_iso(), round(ended.duration_s, 3), ended.returncode,
               ended.timed_out, ended.idle_s, ended_ts=time.time())


_stops: list[int] = []  # SIGINT/SIGTERM received before the agent's run could take them


def remember_stop(signum: int, frame: object) -> None:
    """Remember a stop, do nothing else. Not SIG_IGN: that would be inherited by the agent through exec.

    A stop (pe's deliberate one, on Ctrl-C) that lands before the agent starts is not dropped: the
    agent then never starts, and the end says the user stopped it. Before, it was ignored and the
    agent ran a whole attempt that pe had been told to stop."""
    if signum != signal.SIGHUP:
        _stops.append(signum)


def main(args: list[str]) -> int:
    # The terminal that closes is pe's, not the run's. And outside the agent's run (before it
    # starts, after it ended) a stop must not kill the supervisor before it has written the end:
    # supervise() handles SIGINT/SIGTERM while the agent runs, and puts these back when it is done.
    for sig in (signal.SIGHUP, signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, remember_stop)
    launch = Launch.load(Path(args[0]))
    if launch is None:
        print(f"pe supervisor: cannot read {args[0]}", file=sys.stderr)
        return 2
    end = supervise(launch)
    # The lock (args[1], held since pe took it for us) is released only when this process
    # exits: after the end file exists, so whoever sees the lock free finds the end file.
    end.save(Path(launch.end))
    return 0
