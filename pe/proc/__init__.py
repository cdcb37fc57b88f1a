"""The one place where pe starts processes.

Every child gets its own process group (start_new_session=True), an argv
list (never a shell), and a timeout. Groups are registered while they run so
that SIGINT/SIGTERM to pe can kill every one of them: a child in its own
session does not get the terminal's ^C, so nobody else would. An agent's run also
gets a cgroup or a subreaper (pe/reap.py): what it starts outside its group ends with it.

pe's own short bookkeeping commands (git) are the exception: on an interrupt
they are let finish, up to FINISH_GRACE_S, because a git killed mid-write
leaves an index.lock or a `locked initializing` worktree behind, and a
checkpoint commit cut off loses the agent's work from its branch.
"""

from pe.proc.core import (
    FINISH_GRACE_S,
    KILL_GRACE_S,
    OWNER_VAR,
    REGISTRY,
    ProcError,
    Result,
    Running,
    _Registry,
    claim,
    group_alive,
    kill_group,
    process_start_ticks,
    run,
    signals_stop_children,
    start,
)
from pe.proc.long import IDLE_POLL_S, Exit, _wait_exit, spawn_logged, start_supervisor, wait_gone
from pe.proc.quick import Quick

__all__ = [
    "FINISH_GRACE_S", "IDLE_POLL_S", "KILL_GRACE_S", "OWNER_VAR", "REGISTRY", "Exit", "ProcError", "Quick", "Result",
    "Running", "_Registry", "_wait_exit", "claim", "group_alive", "kill_group", "process_start_ticks", "run",
    "signals_stop_children", "spawn_logged", "start", "start_supervisor", "wait_gone",
]
