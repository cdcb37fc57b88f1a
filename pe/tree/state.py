"""One tree's state, derived from files only (stamps, run record, the tree dir).

Read-only and lock-free, so status works while execute runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pe.config.manifest import Feature, TreeSpec
from pe.fsutil import read_json
from pe.layout import Layout
from pe.steps import agent as agent_step
from pe.steps import setup as setup_step
from pe.steps import worktree as worktree_step
from pe.tree.runrecord import RunRecord

STATES = ("pending", "setting up", "setup failed", "ready", "running", "done", "failed", "interrupted", "stale")


def _zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def agent_alive(record: RunRecord) -> bool:
    """The recorded agent really runs: same pid and start time, and not a zombie.

    An agent whose pe was killed is reparented; where PID 1 does not reap
    (containers), it lingers as a zombie with its old start time.
    """
    return record.still_running() and record.pid is not None and not _zombie(record.pid)


def effective(record: RunRecord) -> str:
    """The record's state, with a `running` whose process is gone read as `interrupted`."""
    if record.state == "running" and not agent_alive(record):
        return "interrupted"
    return record.state


@dataclass(frozen=True)
class TreeState:
    tree: str
    state: str
    detail: str
    record: RunRecord


def of(layout: Layout, feature: Feature, tree: TreeSpec) -> TreeState:
    record = RunRecord.load(layout.run_record(tree.name), tree.name)
    if not worktree_step.is_done(layout, tree):
        if layout.stamp(tree.name, "creating").exists() and layout.tree(tree.name).exists():
            return TreeState(tree.name, "pending", "worktree half-created (init interrupted?)", record)
        return TreeState(tree.name, "pending", "no worktree yet", record)
    # The agent's outcome comes first: setup's own up-to-date check can turn false after
    # the agent finished (it edited a lockfile), and that must not make a done tree look new.
    if agent_step.stamp_ok(layout, feature, tree):
        return TreeState(tree.name, "done", "", record)
    state = effective(record)
    if state == "running":
        return TreeState(tree.name, "running", f"pid {record.pid}", record)
    setup = read_json(layout.stamp(tree.name, "setup"))
    if setup and setup.get("ok") is False:
        return TreeState(tree.name, "setup failed", str(setup.get("reason", "")), record)
    if read_json(layout.stamp(tree.name, "agent")) is not None:
        return TreeState(tree.name, "stale", "plan, strategy, agent or RESULTS.md changed since it finished", record)
    if state in ("failed", "interrupted"):
        return TreeState(tree.name, state, record.reason or record.exit or "", record)
    if setup_step.finished(layout, feature, tree) is None:
        return TreeState(tree.name, "setting up", "setup not finished", record)
    return TreeState(tree.name, "ready", "agent not started", record)
