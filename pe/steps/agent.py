"""agent:<tree>: run the tree's coding agent until RESULTS.md is complete.

Completion is a stamp pe writes atomically, only after the agent exited
successfully and RESULTS.md has every required section. The stamp holds the
hash of the tree's configuration and of RESULTS.md; both are re-checked on
every run, so an edited plan, strategy or RESULTS.md re-runs exactly that tree.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from pe import git, gitfacts, proc, sandbox
from pe.config.spec import Feature, TreeSpec
from pe.errors import ProcError, one_line
from pe.fsutil import append_text, newest_mtime, read_regular_text, write_atomic
from pe.layout import Layout
from pe.tree import stamps
from pe.tree.results import check_results
from pe.tree.runrecord import RunRecord
from pe.treesetup import envfile
from pe.util import now_iso

if TYPE_CHECKING:
    from pe.agents import Preset
    from pe.agents.base import Outcome, RunContext

# The presets, the prompt and the outside-write guard load when an agent runs:
# doit's up-to-date check (stamp_ok), status and a no-op resume import this module
# on every run and need none of them.


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
    _close(record, "done", None, stamp.get("at"))
    record.save(path)


def _close(record: RunRecord, state: str, reason: str | None, ended_at: str | None) -> None:
    """End the record's current attempt and add it to the history."""
    record.state, record.reason, record.ended_at = state, reason, ended_at
    record.pid = record.pid_start = None
    record.history.append({"attempt": record.attempts, "state": state, "exit": record.exit, "reason": reason,
                           "started_at": record.started_at, "ended_at": ended_at, "usage": record.usage,
                           "warnings": record.warnings})


def _set_aside_incomplete(layout: Layout, tree: TreeSpec) -> Path | None:
    """Move a RESULTS.md that no valid stamp vouches for out of the tree."""
    results = layout.results(tree.name)
    if not results.exists():
        return None
    dest = layout.set_aside(tree.name)
    dest.parent.mkdir(parents=True, exist_ok=True)
    # A move, not a rename: .pe/ may be on another file system than the tree (EXDEV).
    shutil.move(results, dest)
    return dest


def _kill_leftover(record: RunRecord) -> None:
    """An agent from a pe that was kill -9'd may still run: stop its group first."""
    if record.still_running() and record.pid is not None:
        proc.kill_group(record.pid)


BACKOFF_S = (5.0, 20.0, 60.0)


def _prompt(layout: Layout, feature: Feature, tree: TreeSpec, record: RunRecord, context: str, resume: bool) -> Path:
    from pe.steps import prompt as prompts
    from pe.tree.progress import refresh as refresh_progress

    tree_dir = layout.tree(tree.name)
    if resume:
        if record.state == "done":
            last = "it finished, but the plan, strategy or agent changed since: update the work to match"
        else:
            last = record.effective_state() + (f": {record.reason}" if record.reason else "")
        base_sha = stamps.tree_base(layout, tree.name) or "HEAD"
        refresh_progress(tree_dir, base_sha, record, layout.agent_log(tree.name))
        progress = read_regular_text(layout.progress(tree.name))
        text = prompts.resume(feature, tree, context, progress, last)
    else:
        text = prompts.initial(feature, tree, context)
    path = layout.prompt(tree.name)
    write_atomic(path, text)
    return path


def _wait_backoff(seconds: float) -> bool:
    """Sleep unless pe is stopping; False if it is."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.REGISTRY.stopping:
            return False
        time.sleep(0.1)
    return not proc.REGISTRY.stopping


def run(layout: Layout, feature: Feature, tree: TreeSpec, context: str) -> str | None:
    """Run the agent; None on success, else the reason it failed."""
    if stamps.agent_ok(layout, feature, tree):
        return None  # done by an earlier run whose success doit had not saved
    if tree.agent is None:
        return f"no agent configured for {tree.name} (add agent: to the manifest)"
    from pe import agents
    from pe.agents.base import RunContext

    spec = tree.agent
    preset = agents.get(spec.preset)
    preset.check_available(spec, layout.root)
    mode = sandbox.resolve(tree.sandbox.mode)  # bwrap asked for and unusable: the reason, exit 3
    tree_dir = layout.tree(tree.name)
    record_path = layout.run_record(tree.name)
    record = RunRecord.load(record_path, tree.name)
    _kill_leftover(record)
    if record.detached is None and _detached_at_tip(layout, tree):
        # Detached at exactly its branch's tip, with no commit of its own: nothing to lose, and
        # what an older pe killed between detaching and recording it left. Attach it again.
        record.detached = git.out(tree_dir, "rev-parse", "HEAD")
    if record.detached is not None:
        # A sandboxed run that pe did not see to its end (a crash): its commits go to the branch first.
        why = _attach(layout, tree, record, record_path)
        if why is not None:
            return f"{why}; no agent runs there until it is repaired: pe recover --feature={feature.name}"
    foreign = gitfacts.not_pes(layout.root, tree_dir, tree.name)
    if foreign is not None:
        # An earlier agent broke the tree's git: running another there could commit anywhere.
        return f"{foreign}; no agent runs there until it is repaired: pe recover --feature={feature.name}"
    git.clear_stale_locks(tree_dir)  # a crash mid-checkpoint: the agent's git would trip over it
    set_aside = _set_aside_incomplete(layout, tree)
    stamps.clear(layout, tree.name, stamps.AGENT)
    prompt_file = _prompt(layout, feature, tree, record, context, record.attempts > 0 or set_aside is not None)
    log_path = layout.agent_log(tree.name)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    record.sandbox = mode
    if mode == "bwrap":
        # The refs are read-only in the sandbox: the agent commits on a detached HEAD, and
        # _finish moves the branch there once it has checked what the agent left. Recorded
        # before it is done: a pe killed in between finds the tree to attach again.
        record.detached = git.out(tree_dir, "rev-parse", "HEAD")
        record.save(record_path)
        git.detach(tree_dir)

    for try_no in range(spec.retries + 1):
        ctx = RunContext(
            root=layout.root, tree=tree, tree_dir=tree_dir, prompt_file=prompt_file, plan=feature.plan,
            context=context, log_path=log_path, resume=record.attempts > 0 or set_aside is not None,
            session_id=record.session_id, log_offset=log_path.stat().st_size if log_path.exists() else 0,
        )
        ended, outcome, reason = _run_once(layout, feature, tree, preset, ctx, record, record_path)
        # A run pe killed (timeout, idle) is not retried: the limit was the user's answer.
        retry = outcome.transient and not ended.timed_out and not ended.interrupted
        if reason is None or not retry or try_no == spec.retries:
            break
        pause = BACKOFF_S[min(try_no, len(BACKOFF_S) - 1)]
        append_text(log_path, f"\n=== pe: transient failure ({reason}); retry in {pause:g}s\n")
        if not _wait_backoff(pause):
            break
    return _finish(layout, feature, tree, record, record_path, ended, reason)


def _run_once(
    layout: Layout, feature: Feature, tree: TreeSpec, preset: Preset, ctx: RunContext,
    record: RunRecord, record_path: Path,
) -> tuple[proc.Exit, Outcome, str | None]:
    """One process start: record it, run it, judge it. The reason it failed, or None."""
    from pe.agents import launch
    from pe.tree import guard

    tree_env = envfile.tree_env(layout, feature, tree)
    confine = None
    if record.sandbox == "bwrap":
        from pe.sandbox import tree as confined

        tree_env = {**tree_env, **confined.GIT_ENV}

        def confine(argv: list[str], env: Mapping[str, str]) -> list[str]:
            state = preset.state_paths(ctx)
            # A CLI makes its own state dirs on first run; in the sandbox pe makes them first.
            missing = [p for p in state if not p.exists() and not p.suffix]
            policy = confined.for_tree(layout, ctx.tree_dir, tree.sandbox, env, state, missing)
            return sandbox.wrap(argv, policy)

    record.attempts += 1
    record.state = "running"
    record.started_at = now_iso()
    record.ended_at = record.reason = record.exit = None
    record.warnings = []

    def on_start(pid: int) -> None:
        record.pid, record.pid_start = pid, proc.process_start_ticks(pid)
        record.save(record_path)

    def announce(argv: list[str]) -> None:
        append_text(ctx.log_path, f"\n=== pe: attempt {record.attempts} at {record.started_at}: {' '.join(argv)}\n")

    own = frozenset(t.name for t in feature.trees)
    main_before, git_before = guard.snapshot(layout.root), guard.git_snapshot(layout.root, own)
    ended, outcome = launch.run_once(preset, ctx, timeout=tree.timeout_s, tree_env=tree_env, on_start=on_start,
                                     last_activity=lambda: newest_mtime(ctx.tree_dir), announce=announce,
                                     confine=confine)
    # Without a sandbox pe cannot keep an agent out of the main checkout (pe/tree/guard.py), but it can tell.
    touched = guard.changes(main_before, guard.snapshot(layout.root))
    record.warnings = [f"the main checkout changed while this agent ran: {touched}"] if touched else []
    shared = guard.git_changes(git_before, guard.git_snapshot(layout.root, own))
    if shared:
        record.warnings.append(f"the repository's git state changed while this agent ran: {shared}")
    for warning in record.warnings:
        append_text(ctx.log_path, f"\n=== pe: WARNING: {warning}\n")
    if ended.interrupted:
        reason: str | None = "interrupted by the user"
    elif ended.idle_s is not None:
        reason = f"{ended.describe()} (process group killed)"
    elif ended.timed_out:
        reason = f"timed out after {tree.timeout_s:g}s (process group killed)"
    elif not outcome.ok:
        reason = outcome.reason or f"agent failed ({ended.describe()})"
    else:
        reason = check_results(ctx.tree_dir)
    record.session_id = outcome.session_id or record.session_id
    record.usage = outcome.usage  # this run's own figures; earlier runs' stay in history
    record.exit = ended.describe()
    record.reason = reason
    record.duration_s = round(ended.duration_s, 3)
    return ended, outcome, reason


def _detached_at_tip(layout: Layout, tree: TreeSpec) -> bool:
    tree_dir = layout.tree(tree.name)
    if gitfacts.not_pes(layout.root, tree_dir, tree.name) is None:
        return False  # on its branch (or not pe's at all: not_pes says so later)
    if gitfacts.not_pes(layout.root, tree_dir, tree.name, detached_ok=True) is not None:
        return False
    head = gitfacts.read(tree_dir, "rev-parse", "--verify", "--quiet", "HEAD", check=False).stdout.strip()
    return head != "" and head == gitfacts.branch_tip(layout.root, tree.name)


def _attach(layout: Layout, tree: TreeSpec, record: RunRecord, record_path: Path) -> str | None:
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


def _finish(
    layout: Layout, feature: Feature, tree: TreeSpec, record: RunRecord, record_path: Path,
    ended: proc.Exit, reason: str | None,
) -> str | None:
    tree_dir = layout.tree(tree.name)
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
        try:
            commit, skipped = _checkpoint(tree_dir, message)
        except (ProcError, OSError) as exc:
            # The record must still be closed: a run left `running` with a dead pid is never settled.
            commit, skipped = None, []
            reason = f"pe could not commit the agent's work: {one_line(exc, any_os_error=True) or exc}"
        if skipped:
            warning = f"not committed, a git repository of its own inside the tree: {', '.join(skipped)}"
            record.warnings.append(warning)
            append_text(layout.agent_log(tree.name), f"\n=== pe: WARNING: {warning}\n")
        if record.detached is not None:
            why = _attach(layout, tree, record, record_path)
            if why is not None:
                reason = f"{why} (the agent's work is at the tree's HEAD)"
        if reason is None:
            stamps.write_agent(layout, feature, tree, commit or git.out(tree_dir, "rev-parse", "HEAD"))
    _close(record, "done" if reason is None else ("interrupted" if ended.interrupted else "failed"), reason,
           now_iso())
    record.save(record_path)
    return reason
