"""agent:<tree>: run the tree's coding agent until RESULTS.md is complete.

Completion is a stamp pe writes atomically, only after the agent exited
successfully and RESULTS.md has every required section. The stamp holds the
hash of the tree's configuration and of RESULTS.md; both are re-checked on
every run, so an edited plan, strategy or RESULTS.md re-runs exactly that tree.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from pe import agents, git, proc
from pe import prompt as prompts
from pe.agents.base import RunContext
from pe.fsutil import read_json, sha256_file, write_atomic, write_json_atomic
from pe.layout import Layout
from pe.manifest import Feature, TreeSpec
from pe.progress import refresh as refresh_progress
from pe.results import PROGRESS_FILE, RESULTS_FILE, check_results
from pe.runrecord import RunRecord, now_iso
from pe.steps import setup as setup_step
from pe.steps.worktree import tree_base

# Agent steps that are between "process exited" and "record saved": the
# interrupt path waits for these so a ^C does not cut bookkeeping in half.
_active_count = 0
_active_lock = threading.Lock()


def active_steps() -> int:
    with _active_lock:
        return _active_count


def stamp_ok(layout: Layout, feature: Feature, tree: TreeSpec) -> bool:
    stamp = read_json(layout.stamp(tree.name, "agent"))
    if not stamp:
        return False
    results = sha256_file(layout.tree(tree.name) / RESULTS_FILE)
    return stamp.get("config") == feature.config_hash(tree) and results is not None and stamp.get("results") == results


def _set_aside_incomplete(layout: Layout, tree: TreeSpec) -> Path | None:
    """Move a RESULTS.md that no valid stamp vouches for out of the tree."""
    results = layout.tree(tree.name) / RESULTS_FILE
    if not results.exists():
        return None
    dest = layout.logs(tree.name) / f"RESULTS.incomplete-{time.strftime('%Y%m%d-%H%M%S')}.md"
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.replace(results, dest)
    return dest


def _kill_leftover(record: RunRecord) -> None:
    """An agent from a pe that was kill -9'd may still run: stop its group first."""
    if record.still_running() and record.pid is not None:
        proc.kill_group(record.pid)


def run(layout: Layout, feature: Feature, tree: TreeSpec, context: str) -> str | None:
    """Run the agent; None on success, else the reason it failed."""
    global _active_count
    if stamp_ok(layout, feature, tree):
        return None  # done by an earlier run whose success doit had not saved
    tree_dir = layout.tree(tree.name)
    record_path = layout.run_record(tree.name)
    record = RunRecord.load(record_path, tree.name)
    _kill_leftover(record)
    if tree.agent is None:
        return f"no agent configured for {tree.name} (add agent: to the manifest)"
    spec = tree.agent
    preset = agents.get(spec.preset)
    preset.check_available(spec, layout.root)
    set_aside = _set_aside_incomplete(layout, tree)
    layout.stamp(tree.name, "agent").unlink(missing_ok=True)

    resume = record.attempts > 0 or set_aside is not None
    base_sha = tree_base(layout, tree.name) or "HEAD"
    prompt_file = layout.prompt(tree.name)
    if resume:
        if record.state == "done":
            last = "it finished, but the plan, strategy or agent changed since: update the work to match"
        else:
            last = record.effective_state() + (f": {record.reason}" if record.reason else "")
        refresh_progress(tree_dir, base_sha, record, layout.agent_log(tree.name))
        progress = (tree_dir / PROGRESS_FILE).read_text(encoding="utf-8", errors="replace")
        text = prompts.resume(feature, tree, context, progress, last)
    else:
        text = prompts.initial(feature, tree, context)
    write_atomic(prompt_file, text)

    log_path = layout.agent_log(tree.name)
    ctx = RunContext(
        root=layout.root,
        tree=tree,
        tree_dir=tree_dir,
        prompt_file=prompt_file,
        plan=feature.plan,
        context=context,
        log_path=log_path,
        resume=resume,
        session_id=record.session_id,
    )
    argv = preset.argv(ctx)
    tree_env = setup_step.tree_env(layout, feature, tree)
    env = {**os.environ, **tree_env, **ctx.base_env(), **preset.env(ctx), **dict(spec.env)}

    record.attempts += 1
    record.state = "running"
    record.started_at = now_iso()
    record.ended_at = record.reason = record.exit = None

    def on_start(pid: int) -> None:
        record.pid, record.pid_start = pid, proc.process_start_ticks(pid)
        record.save(record_path)

    log_path.parent.mkdir(parents=True, exist_ok=True)
    with _active_lock:
        _active_count += 1
    try:
        with log_path.open("ab") as log:
            header = f"\n=== pe: attempt {record.attempts} at {record.started_at}: {' '.join(argv)}\n"
            log.write(header.encode())
            log.flush()
            ended = proc.spawn_logged(argv, cwd=tree_dir, env=env, log=log, timeout=tree.timeout_s, on_start=on_start)
        outcome = preset.outcome(ctx, ended.returncode)
        reason = None
        if ended.interrupted:
            reason = "interrupted by the user"
        elif ended.timed_out:
            reason = f"timed out after {tree.timeout_s:g}s (process group killed)"
        elif not outcome.ok:
            reason = outcome.reason or f"agent failed ({ended.describe()})"
        else:
            reason = check_results(tree_dir)
        record.session_id = outcome.session_id or record.session_id
        record.usage = outcome.usage or record.usage
        # Checkpoint whatever the agent left, success or not: the branch must hold the work.
        verdict = "done" if reason is None else "incomplete"
        git.commit_all(tree_dir, f"pe: {tree.name} ({tree.strategy.name}) attempt {record.attempts}, {verdict}")
        if reason is None:
            write_json_atomic(
                layout.stamp(tree.name, "agent"),
                {
                    "config": feature.config_hash(tree),
                    "results": sha256_file(tree_dir / RESULTS_FILE),
                    "commit": git.out(tree_dir, "rev-parse", "HEAD"),
                    "at": now_iso(),
                },
            )
        record.state = "done" if reason is None else ("interrupted" if ended.interrupted else "failed")
        record.reason = reason
        record.exit = ended.describe()
        record.ended_at = now_iso()
        record.duration_s = round(ended.duration_s, 3)
        record.pid = record.pid_start = None
        record.history.append({"attempt": record.attempts, "state": record.state, "exit": record.exit,
                               "reason": reason, "started_at": record.started_at, "ended_at": record.ended_at})
        record.save(record_path)
        return reason
    finally:
        with _active_lock:
            _active_count -= 1
