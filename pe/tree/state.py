"""One tree's state, derived from files only (stamps, run record, the tree dir).

Read-only and lock-free, so status works while execute runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from pe.config.spec import Feature, TreeSpec
from pe.layout import Layout
from pe.tree import stamps
from pe.tree.runrecord import RunRecord

STATES = ("pending", "setting up", "setup failed", "ready", "running", "done", "failed", "interrupted", "stale")


@dataclass(frozen=True)
class TreeState:
    tree: str
    state: str
    detail: str
    record: RunRecord


def of(layout: Layout, feature: Feature, tree: TreeSpec) -> TreeState:
    record = RunRecord.load(layout.run_record(tree.name), tree.name)
    if not stamps.worktree_done(layout, tree.name):
        if stamps.exists(layout, tree.name, stamps.CREATING) and layout.tree(tree.name).exists():
            return TreeState(tree.name, "pending", "worktree half-created (init interrupted?)", record)
        if stamps.exists(layout, tree.name, stamps.WORKTREE) and layout.tree(tree.name).is_dir():
            # pe made this worktree and its .git is gone since: an agent deleted it.
            return TreeState(tree.name, "failed", record.reason or f"trees/{tree.name}/.git is gone", record)
        return TreeState(tree.name, "pending", "no worktree yet", record)
    # The agent's outcome comes first: setup's own up-to-date check can turn false after
    # the agent finished (it edited a lockfile), and that must not make a done tree look new.
    if stamps.agent_ok(layout, feature, tree):
        return TreeState(tree.name, "done", "", record)
    state = record.effective_state()
    if state == "running":
        return TreeState(tree.name, "running", f"pid {record.pid}", record)
    failure = stamps.setup_failure(layout, tree.name)
    if failure is not None:
        return TreeState(tree.name, "setup failed", failure, record)
    if stamps.agent_finished_once(layout, tree.name):
        return TreeState(tree.name, "stale", "plan, strategy, agent or RESULTS.md changed since it finished", record)
    if state in ("failed", "interrupted"):
        return TreeState(tree.name, state, record.reason or record.exit or "", record)
    if stamps.setup_finished(layout, feature, tree) is None:
        return TreeState(tree.name, "setting up", "setup not finished", record)
    return TreeState(tree.name, "ready", "agent not started", record)
