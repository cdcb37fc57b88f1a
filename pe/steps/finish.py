"""The end of an attempt: commit what the agent left on its branch, stamp it, close its record.

Run by the pe that saw the attempt end, or by a later one that found its end file: the
same steps either way, each safe to run again after a kill -9 in the middle.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

from pe import git, gitfacts, proc
from pe.config.spec import Feature, TreeSpec
from pe.errors import ProcError, one_line
from pe.fsutil import append_text
from pe.layout import Layout
from pe.tree import stamps
from pe.tree.runrecord import RunRecord
from pe.util import now_iso


def settle_record(layout: Layout, feature: Feature, tree: TreeSpec) -> None:
    """Record as done a run whose stamp pe wrote but whose record a crash cut off.

    _finish writes the stamp (what makes the tree done) before the run record: a kill -9
    in between left `running` with a dead pid beside a done tree, for good, since a done
    tree's step never runs again. Call with the repository lock held.
    """
    path = layout.run_record(tree.name)
    record = RunRecord.load(path, tree.name)
    if record.state != "running" or record.still_running() or not stamps.agent_ok(layout, feature, tree):
        return
    stamp = stamps.read(layout, tree.name, stamps.AGENT) or {}
    close(record, "done", None, stamp.get("at"))
    record.save(path)


def close(record: RunRecord, state: str, reason: str | None, ended_at: str | None,
           checkpoint: str | None = None) -> None:
    """End the record's current attempt and add it to the history (once: a re-run finds it there)."""
    record.state, record.reason, record.ended_at = state, reason, ended_at
    record.pid = record.pid_start = None
    if record.ended_by is None:
        record.ended_by = "user" if state == "interrupted" else "agent"
    record.history = [h for h in record.history if h.get("attempt") != record.attempts]
    record.history.append({"attempt": record.attempts, "state": state, "exit": record.exit, "reason": reason,
                           "started_at": record.started_at, "ended_at": ended_at, "usage": record.usage,
                           "warnings": record.warnings, "duration_s": record.duration_s,
                           "ended_by": record.ended_by, "checkpoint": checkpoint})


def close_lost(record: RunRecord, last_sign_of_life: float | None = None) -> None:
    """An attempt recorded as running whose supervisor is gone without an end file: a machine
    crash, or a kill of pe and its supervisor. It goes into the history as lost, not as the agent's,
    with the time up to its last sign of life (the agent log's last change)."""
    from pe.util import parse_iso

    if record.state != "running" or record.attempts == 0:
        return
    started = parse_iso(record.started_at)
    if started is not None and last_sign_of_life is not None and last_sign_of_life >= started:
        record.duration_s = round(last_sign_of_life - started, 3)
    record.exit, record.ended_by = None, "pe-died"
    record.usage = {}
    close(record, "interrupted", "pe (and the agent's supervisor) stopped before the run ended", now_iso())


def detached_at_tip(layout: Layout, tree: TreeSpec) -> bool:
    tree_dir = layout.tree(tree.name)
    if gitfacts.not_pes(layout.root, tree_dir, tree.name) is None:
        return False  # on its branch (or not pe's at all: not_pes says so later)
    if gitfacts.not_pes(layout.root, tree_dir, tree.name, detached_ok=True) is not None:
        return False
    head = gitfacts.read(tree_dir, "rev-parse", "--verify", "--quiet", "HEAD", check=False).stdout.strip()
    return head != "" and head == gitfacts.branch_tip(layout.root, tree.name)


def attach(layout: Layout, tree: TreeSpec, record: RunRecord, record_path: Path) -> str | None:
    """Move the tree's branch to the detached HEAD a sandboxed run worked on; why not, or None."""
    tree_dir = layout.tree(tree.name)
    foreign = gitfacts.not_pes(layout.root, tree_dir, tree.name, detached_ok=True)
    base = stamps.tree_base(layout, tree.name)
    why = foreign or (git.attach(layout.root, tree_dir, tree.name, base) if base else "no recorded base commit")
    if why is None:
        record.detached = None
        record.save(record_path)
    return why


def _checkpoint(tree_dir: Path, message: str) -> tuple[str | None, list[str]]:
    """Commit what the agent left; (the commit or None, the nested repositories left out)."""
    try:
        return git.commit_all(tree_dir, message), []
    except ProcError:
        skipped = gitfacts.nested_repositories(tree_dir)
        if not skipped:
            raise
        return git.commit_all(tree_dir, message, skip=skipped), skipped


def _limit(total: int) -> int:
    return max(2, total // 2)  # more files gone than this: the tree was emptied, not edited


SAMPLE = 256  # files of the branch looked at first, picked at random (see wiped)


def _gone(base: str, names: list[str]) -> int:
    """How many of `names` (relative to `base`, which ends in a separator) do not exist. One lstat
    per file, by string: a Path and os.path.lexists per file cost 163 ms a tree on 20,000 files."""
    lstat, count = os.lstat, 0
    for name in names:
        try:
            lstat(base + name)
        except OSError:
            count += 1
    return count


def wiped(tree_dir: Path) -> str | None:
    """Why committing the tree now would delete most of its branch, or None.

    A checkpoint commits what the agent left, deletions included; a tree emptied behind
    pe's back (re-created without its files, wiped by a sibling agent's `git worktree
    remove --force`) would make that a commit deleting the codebase, which `pe adopt`
    then carries to main. No agent's plan deletes most of a project, so pe refuses.

    A big tree is first judged on SAMPLE of its files picked at random: when at most a tenth
    of them are gone, more than half of the tree cannot be (the odds that a tree missing half
    its files shows 25 or fewer of 256 at random are below 1e-30), and the tree is committed.
    Anything else is counted in full. Counting 20,000 files took 10,000 lstats a tree, with
    the GIL held: 8 trees finishing together on 2 cores waited 200 ms for it (issue 18).
    """
    listed = gitfacts.read(tree_dir, "ls-tree", "-r", "-z", "--name-only", "HEAD", check=False)
    files = [f for f in listed.stdout.split("\0") if f] if listed.returncode == 0 else []
    base = os.fspath(tree_dir) + os.sep
    if len(files) > 4 * SAMPLE and _gone(base, random.sample(files, SAMPLE)) <= SAMPLE // 10:
        return None
    missing, total = _gone(base, files), len(files)
    if missing <= _limit(total):
        return None
    return (f"pe did not commit: {missing} of the {total} files of the branch are gone from "
            f"trees/{tree_dir.name} (was it emptied or re-created?); if the agent meant it, commit "
            f"in the tree by hand and resume")


def finish(
    layout: Layout, feature: Feature, tree: TreeSpec, record: RunRecord, record_path: Path,
    ended: proc.Exit | None, reason: str | None,
) -> str | None:
    tree_dir = layout.tree(tree.name)
    commit: str | None = None
    # Verify before committing: the agent may have taken the tree off its branch, and a
    # commit then lands wherever its HEAD points (main, with the user's unsaved work).
    foreign = gitfacts.not_pes(layout.root, tree_dir, tree.name, detached_ok=record.detached is not None)
    if foreign is not None:
        reason = f"{foreign}; nothing was committed (the agent's files are still in trees/{tree.name})"
        append_text(layout.agent_log(tree.name), f"\n=== pe: {reason}\n")
    else:
        # Checkpoint whatever the agent left, success or not: the branch must hold the work.
        verdict = "done" if reason is None else "incomplete"
        git.clear_stale_locks(tree_dir)  # the agent's own git, killed with its group at a timeout
        message = f"pe: {tree.name} ({tree.strategy.name}) attempt {record.attempts}, {verdict}"
        skipped: list[str] = []
        try:
            refused = wiped(tree_dir)
            if refused is not None:
                reason = refused
                append_text(layout.agent_log(tree.name), f"\n=== pe: {refused}\n")
            else:
                commit, skipped = _checkpoint(tree_dir, message)
        except (ProcError, OSError) as exc:
            # The record must still be closed: a run left `running` with a dead pid is never settled.
            reason = f"pe could not commit the agent's work: {one_line(exc, any_os_error=True) or exc}"
        if skipped:
            warning = f"not committed, a git repository of its own inside the tree: {', '.join(skipped)}"
            record.warnings.append(warning)
            append_text(layout.agent_log(tree.name), f"\n=== pe: WARNING: {warning}\n")
        if record.detached is not None:
            why = attach(layout, tree, record, record_path)
            if why is not None:
                reason = f"{why} (the agent's work is at the tree's HEAD)"
        if reason is None:
            head = commit or git.out(tree_dir, "rev-parse", "HEAD")
            stamps.write_agent(layout, feature, tree, head)
            base, cache_dir = stamps.tree_base(layout, tree.name), layout.facts_cache
            if base is not None and cache_dir is not None:
                gitfacts.learn_committed(tree_dir, base, head, cache_dir)
    interrupted = ended is not None and ended.interrupted
    close(record, "done" if reason is None else ("interrupted" if interrupted else "failed"), reason,
          now_iso(), checkpoint=commit)
    record.save(record_path)
    return reason
