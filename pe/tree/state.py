"""One tree's state, derived from files only (stamps, run record, the tree dir).

Read-only and lock-free, so status works while execute runs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from pe import proc
from pe.config.spec import Feature, TreeSpec
from pe.layout import Layout
from pe.tree import stamps
from pe.tree.runrecord import RunRecord

STATES = ("pending", "not set up", "setting up", "setup failed", "ready", "running", "done", "failed", "interrupted",
          "stale")


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
    remote = record.remote or {}
    if record.state == "running" and remote.get("stage") == "dispatched" and _lock_holder_alive(layout):
        # --runner=dask: no local process to ask, but the pe that dispatched it waits for it (it
        # holds the lock). Without that pe it reads as interrupted, and resume fetches its result.
        return TreeState(tree.name, "running", f"on the Dask cluster at {remote.get('scheduler') or '?'}", record)
    failure = stamps.setup_failure(layout, tree.name)
    if failure is not None:
        return TreeState(tree.name, "setup failed", failure, record)
    if stamps.agent_finished_once(layout, tree.name):
        return TreeState(tree.name, "stale", "plan, strategy, agent or RESULTS.md changed since it finished", record)
    if state in ("failed", "interrupted"):
        return TreeState(tree.name, state, record.reason or record.exit or "", record)
    if stamps.setup_finished(layout, feature, tree) is None:
        return _unready(layout, feature, tree, record)
    return TreeState(tree.name, "ready", "agent not started", record)


# How far back the setup log is read for its last "=== pe: setup" and how it ended
# (pe/steps/setup.py writes both): installs can write a lot in between.
_LOG_TAIL = 256 * 1024


def _unready(layout: Layout, feature: Feature, tree: TreeSpec, record: RunRecord) -> TreeState:
    """A worktree without a current setup: "setting up" only while a setup of it really runs (issue 17)."""
    unfinished = _log_unfinished(layout, tree.name)
    if unfinished and _lock_holder_alive(layout):
        return TreeState(tree.name, "setting up", "setup running", record)
    resume = f"pe init --feature={feature.name}"
    if unfinished:
        detail = f"setup was interrupted: {resume} sets it up again"
    elif stamps.exists(layout, tree.name, stamps.SETUP):
        detail = f"its setup: section or env file changed since it was set up; {resume} sets it up again"
    else:
        detail = f"{resume} sets it up"
    return TreeState(tree.name, "not set up", detail, record)


def _log_unfinished(layout: Layout, tree: str) -> bool:
    """Whether the tree's setup log ends inside a setup (started, neither done nor failed)."""
    try:
        with layout.setup_log(tree).open("rb") as fh:
            size = fh.seek(0, 2)
            fh.seek(max(0, size - _LOG_TAIL))
            text = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return False
    start = text.rfind("=== pe: setup of ")
    end = max(text.rfind("] setup done"), text.rfind("] setup FAILED"))
    if start < 0 and end < 0:
        return size > _LOG_TAIL  # a long setup's start is further back
    return start > end


def _lock_holder_alive(layout: Layout) -> bool:
    """A pe command holds the repository lock (its holder file names a live process); no lock taken."""
    info_path = layout.lock_file.with_name(layout.lock_file.name + ".json")
    try:
        pid = int(json.loads(info_path.read_text())["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return proc.process_start_ticks(pid) is not None
