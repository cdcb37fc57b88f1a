"""agent:<tree>: run the tree's coding agent until RESULTS.md is complete.

Completion is a stamp pe writes atomically, only after the agent exited
successfully and RESULTS.md has every required section. The stamp holds the
hash of the tree's configuration and of RESULTS.md; both are re-checked on
every run, so an edited plan, strategy or RESULTS.md re-runs exactly that tree.

Each attempt runs under a supervisor that outlives pe (pe/supervisor). So this step
first looks for an attempt that is still running (it waits for it again) or that
ended while no pe was there (it finishes its bookkeeping), and starts an agent only
when there is neither: pe's own death never costs an agent's finished work.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING

from pe import git, gitfacts, proc, sandbox
from pe.config.spec import Feature, TreeSpec
from pe.fsutil import append_text, read_regular_text, write_atomic
from pe.layout import RESULTS_FILE, Layout
from pe.steps import finish
from pe.tree import stamps
from pe.tree.runrecord import RunRecord
from pe.util import mtime, now_iso

if TYPE_CHECKING:
    from pe.agents import Preset
    from pe.agents.base import Outcome
    from pe.supervisor import handle

# The presets, the prompt and the outside-write guard load when an agent runs:
# doit's up-to-date check (stamp_ok), status and a no-op resume import this module
# on every run and need none of them.


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


def _kill_leftover(layout: Layout, tree: TreeSpec, record: RunRecord) -> None:
    """An agent an older pe started itself (no supervisor) may still run: stop its group first."""
    from pe.supervisor import handle

    if record.still_running() and record.pid is not None and not handle.lock_held(layout, tree.name):
        proc.kill_group(record.pid)
        record.ended_by = "pe"


BACKOFF_S = (5.0, 20.0, 60.0)


def _since_last_run(layout: Layout, record: RunRecord, set_aside: Path | None) -> list[str]:
    """What pe did since the agent's last attempt, for the resume prompt: the agent must not be surprised."""
    from pe.tree.runrecord import ENDED_BY

    notes = []
    last = record.history[-1] if record.history else {}
    if last.get("ended_by") in ENDED_BY and last.get("ended_by") != "agent":
        notes.append(f"How the last attempt ended: {ENDED_BY[last['ended_by']]}.")
    if last.get("checkpoint"):
        notes.append(f"pe committed what the last attempt left uncommitted, as {str(last['checkpoint'])[:12]} "
                     "(see the git log).")
    if set_aside is not None:
        where = set_aside.relative_to(layout.root) if set_aside.is_relative_to(layout.root) else set_aside
        notes.append(f"pe moved the incomplete {RESULTS_FILE} out of the tree, to {where}: write a complete one "
                     "when you are done.")
    return notes


def _prompt(layout: Layout, feature: Feature, tree: TreeSpec, record: RunRecord, context: str, resume: bool,
            set_aside: Path | None = None) -> Path:
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
        text = prompts.resume(feature, tree, context, progress, last, _since_last_run(layout, record, set_aside),
                              tree_dir=tree_dir, lessons=prompts.lessons(layout, feature))
    else:
        text = prompts.initial(feature, tree, context, tree_dir=tree_dir, lessons=prompts.lessons(layout, feature))
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


def _unsettled(layout: Layout, tree: TreeSpec, record: RunRecord) -> handle.Attempt | None:
    """The tree's newest supervised attempt if it still runs, or ended with no pe there to close it."""
    from pe.supervisor import handle

    attempt = handle.newest(layout, tree.name, record.pid, record.pid_start)
    if attempt is None or attempt.number < record.attempts:
        return None
    if any(h.get("attempt") == attempt.number for h in record.history):
        return None  # closed already
    if not attempt.running() and attempt.end() is None:
        return None  # its supervisor died with it (a machine crash): lost, see finish.close_lost
    if attempt.number > record.attempts:  # recorded by a pe killed before it saved the record
        record.attempts, record.state = attempt.number, "running"
    return attempt


def _see_through(
    layout: Layout, feature: Feature, tree: TreeSpec, preset: Preset, context: str, record: RunRecord,
    attempt: handle.Attempt, deadline: float | None = None,
) -> tuple[proc.Exit, Outcome, str | None] | None:
    """Wait for a supervised attempt and judge it; None when pe stopped waiting first (a detach, a deadline)."""
    from pe.steps import attempt as attempts

    end = attempt.wait(deadline, give_up=lambda: proc.REGISTRY.detaching)
    if end is None:
        return None
    return attempts.judge(layout, feature, tree, preset, context, record, attempt.launch, end)


def _detached(feature: Feature) -> str:
    return f"pe detached; the agent goes on under its supervisor: pe wait --feature={feature.name}"


def run(layout: Layout, feature: Feature, tree: TreeSpec, context: str, detach: bool = False) -> str | None:
    """Run the agent; None on success (or, with `detach`, once it started), else the reason it failed."""
    if stamps.agent_ok(layout, feature, tree):
        return None  # done by an earlier run whose success doit had not saved
    if tree.agent is None:
        return f"no agent configured for {tree.name} (add agent: to the manifest)"
    if feature.runner == "dask":  # the attempt runs on a Dask worker and its branch comes home (issue 16)
        from pe.engine import dask_runner

        return dask_runner.run(layout, feature, tree, context)
    from pe import agents
    from pe.steps import attempt as attempts

    spec = tree.agent
    preset = agents.get(spec.preset)
    preset.check_available(spec, layout.root)
    record_path = layout.run_record(tree.name)
    record = RunRecord.load(record_path, tree.name)
    ended: proc.Exit | None = None
    reason: str | None = None
    # An attempt an earlier pe started: wait for it again, or finish what that pe could not.
    running = _unsettled(layout, tree, record)
    if running is not None:
        if detach and running.running():
            return None
        judged = _see_through(layout, feature, tree, preset, context, record, running)
        if judged is None:
            return _detached(feature)
        ended, outcome, reason = judged
        if reason is None or not _retry(outcome, ended) or running.number > spec.retries:
            return finish.finish(layout, feature, tree, record, record_path, ended, reason)
        finish.close(record, "failed", reason, now_iso())  # a transient failure: a new attempt below
        record.save(record_path)
    else:
        _kill_leftover(layout, tree, record)
        finish.close_lost(record, mtime([layout.agent_log(tree.name)]))
    mode = sandbox.resolve(tree.sandbox.mode)  # bwrap asked for and unusable: the reason, exit 3
    tree_dir = layout.tree(tree.name)
    # Asked once in the usual case (the tree on its branch): a git process per agent start.
    foreign = gitfacts.not_pes(layout.root, tree_dir, tree.name)
    if record.detached is None and foreign is not None and finish.detached_at_tip(layout, tree):
        # Detached at exactly its branch's tip, with no commit of its own: nothing to lose, and
        # what an older pe killed between detaching and recording it left. Attach it again.
        record.detached = git.out(tree_dir, "rev-parse", "HEAD")
    if record.detached is not None:
        # A sandboxed run that pe did not see to its end (a crash): its commits go to the branch first.
        why = finish.attach(layout, tree, record, record_path)
        if why is not None:
            return f"{why}; no agent runs there until it is repaired: pe recover --feature={feature.name}"
        foreign = gitfacts.not_pes(layout.root, tree_dir, tree.name)  # attached: asked again
    if foreign is not None:
        # An earlier agent broke the tree's git: running another there could commit anywhere.
        return f"{foreign}; no agent runs there until it is repaired: pe recover --feature={feature.name}"
    git.clear_stale_locks(tree_dir)  # a crash mid-checkpoint: the agent's git would trip over it
    set_aside = _set_aside_incomplete(layout, tree)
    stamps.clear(layout, tree.name, stamps.AGENT)
    resume = record.attempts > 0 or set_aside is not None
    _prompt(layout, feature, tree, record, context, resume, set_aside)
    log_path = layout.agent_log(tree.name)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    record.sandbox = mode
    if mode == "bwrap":
        # The refs are read-only in the sandbox: the agent commits on a detached HEAD, and
        # _finish moves the branch there once it has checked what the agent left. Recorded
        # before it is done: a pe killed in between finds the tree to attach again.
        record.detached = tip = git.out(tree_dir, "rev-parse", "HEAD")
        record.save(record_path)
        git.detach(tree_dir, tip)

    first = record.attempts
    while True:
        ctx = attempts.context(layout, feature, tree, context, resume=record.attempts > 0 or set_aside is not None,
                               session_id=record.session_id,
                               log_offset=log_path.stat().st_size if log_path.exists() else 0)
        started = attempts.start(layout, feature, tree, preset, ctx, record, record_path)
        if detach:
            return None
        judged = _see_through(layout, feature, tree, preset, context, record, started)
        if judged is None:
            return _detached(feature)
        ended, outcome, reason = judged
        # A run pe killed (timeout, idle) is not retried: the limit was the user's answer.
        if reason is None or not _retry(outcome, ended) or record.attempts - first > spec.retries:
            break
        pause = BACKOFF_S[min(record.attempts - first - 1, len(BACKOFF_S) - 1)]
        append_text(log_path, f"\n=== pe: transient failure ({reason}); retry in {pause:g}s\n")
        finish.close(record, "failed", reason, now_iso())
        record.save(record_path)
        if not _wait_backoff(pause):
            break
    return finish.finish(layout, feature, tree, record, record_path, ended, reason)


def _retry(outcome: Outcome, ended: proc.Exit) -> bool:
    return outcome.transient and not ended.timed_out and not ended.interrupted


def running(layout: Layout, tree: TreeSpec) -> bool:
    """True while an agent of `tree` runs under its supervisor (whichever pe started it)."""
    from pe.supervisor import handle

    return handle.lock_held(layout, tree.name)


def stop(layout: Layout, feature: Feature, tree: TreeSpec) -> str | None:
    """Stop the tree's supervised agent (pe stop) and finish its bookkeeping; its state, or None if none ran."""
    record = RunRecord.load(layout.run_record(tree.name), tree.name)
    attempt = _unsettled(layout, tree, record)
    if attempt is None or not attempt.running():
        return None
    attempt.stop()
    return collect(layout, feature, tree, "")


def settle(layout: Layout, feature: Feature) -> list[str]:
    """Finish the bookkeeping of every attempt of `feature` that ended with no pe there; the trees settled.

    What status and recover do first (with the repository lock held), so that they show
    the work the agents finished while pe was gone as what it is.
    """
    settled = []
    for tree in feature.trees:
        record = RunRecord.load(layout.run_record(tree.name), tree.name)
        if record.state != "running" or record.still_running() or tree.agent is None:
            continue  # the usual case, for one file read: nothing ended unseen
        attempt = _unsettled(layout, tree, record)
        if attempt is None or attempt.running():
            continue
        if collect(layout, feature, tree, "") not in (None, "running"):
            settled.append(tree.name)
    return settled


def collect(layout: Layout, feature: Feature, tree: TreeSpec, context: str,
            deadline: float | None = None) -> str | None:
    """See a supervised attempt through without starting one (pe wait): the tree's state after it,
    "running" if it still ran at `deadline`, None when there was nothing to wait for."""
    finish.settle_record(layout, feature, tree)
    if tree.agent is None or stamps.agent_ok(layout, feature, tree):
        return None
    from pe import agents

    record_path = layout.run_record(tree.name)
    record = RunRecord.load(record_path, tree.name)
    attempt = _unsettled(layout, tree, record)
    if attempt is None:
        return None
    judged = _see_through(layout, feature, tree, agents.get(tree.agent.preset), context, record, attempt, deadline)
    if judged is None:
        return "running"
    ended, _, reason = judged
    finish.finish(layout, feature, tree, record, record_path, ended, reason)
    return record.state


