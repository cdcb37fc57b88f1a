"""Per-tree run records (.pe/runs/<tree>.json): what happened to each agent run.

Written atomically at every state change, so status, recover and resume can
tell a finished run from one that was killed while running.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pe import proc
from pe.fsutil import read_json, write_json_atomic

if TYPE_CHECKING:
    from pe.layout import Layout

# Who ended an attempt. Only the first three count against the agent (compare's pros and cons):
ENDED_BY = {
    "agent": "the agent exited by itself (done or failed)",
    "timeout": "the wall-clock timeout stopped it",
    "idle": "the idle timeout stopped it",
    "user": "the user stopped it (Ctrl-C or SIGTERM to pe, pe stop)",
    "pe-died": "pe and the agent's supervisor died with it running (a machine crash, a kill): its figures are partial",
    "pe": "pe stopped it for a reason of its own",
}
AGENT_ENDINGS = frozenset({"agent", "timeout", "idle"})


@dataclass
class RunRecord:
    tree: str
    state: str = "pending"  # pending | running | done | failed | interrupted
    attempts: int = 0
    pid: int | None = None  # the attempt's supervisor (pe/supervisor); an older pe's: the agent itself
    pid_start: int | None = None
    started_at: str | None = None
    ended_at: str | None = None
    duration_s: float | None = None
    exit: str | None = None
    reason: str | None = None
    session_id: str | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # of the last run: what it changed outside its tree
    sandbox: str | None = None  # where the last run ran: "bwrap" or "none"
    ended_by: str | None = None  # of the last attempt: a key of ENDED_BY
    detached: str | None = None  # the branch tip pe detached the tree's HEAD from, until it attaches it again
    # Every attempt that ended, oldest first: {"attempt", "state", "exit", "reason", "started_at",
    # "ended_at", "duration_s", "usage", "warnings", "ended_by"}. ended_by says who ended it (ENDED_BY);
    # records of an older pe have neither duration_s nor ended_by.
    history: list[dict[str, Any]] = field(default_factory=list)
    # --runner=dask (pe/engine/dask_runner.py): the newest attempt sent to a Dask cluster, {"key", "scheduler",
    # "attempt", "stage": dispatched | landing | landed, "worker": the address it ran on}; None: never sent.
    remote: dict[str, Any] | None = None

    @classmethod
    def load(cls, path: Path, tree: str) -> RunRecord:
        data = read_json(path)
        if not data:
            return cls(tree=tree)
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def save(self, path: Path) -> None:
        write_json_atomic(path, asdict(self))

    def still_running(self) -> bool:
        """True if the recorded agent process is alive: same pid, same start time, not a zombie.

        An agent whose pe was killed is reparented; where PID 1 does not reap (containers)
        it lingers as a zombie with its old start time, which process_start_ticks reads as gone.
        """
        if self.state != "running" or self.pid is None or self.pid_start is None:
            return False  # no start time: the process was gone before pe could read it (None == None is no proof)
        return proc.process_start_ticks(self.pid) == self.pid_start

    def effective_state(self) -> str:
        """The state, with a `running` whose process is gone read as `interrupted` (it was killed).

        The one definition of a run's state: status, recover, resume and cleanup all read this.
        """
        if self.state == "running" and not self.still_running():
            return "interrupted"
        return self.state


def needs_settling(layout: Layout, trees: list[str]) -> bool:
    """True if some attempt of `trees` may have ended with no pe there (cheap: one record read per tree).

    Here and not beside pe.steps.agent.settle: status asks it of every feature, and importing the
    agent step (the sandbox, the checkpoint) only to ask cost ~5 ms of every status (issue 18).
    """
    for tree in trees:
        record = RunRecord.load(layout.run_record(tree), tree)
        if record.state == "running" and not record.still_running() and layout.run_end(tree, record.attempts).exists():
            return True
    return False
