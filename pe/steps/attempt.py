"""One attempt of a tree's agent: start it under its supervisor, and judge it once it ended.

The two halves may run in different pe processes: the pe that starts an attempt may
be killed, or detach, and the one that finds its end file judges it. So everything
the judging needs (the log offset where this attempt's output starts, the session,
the guard's before-snapshots) goes into the launch file, not into memory.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pe import sandbox
from pe.config.spec import Feature, TreeSpec
from pe.fsutil import append_text
from pe.layout import Layout
from pe.supervisor import handle
from pe.supervisor.files import End, Launch
from pe.tree.results import check_results
from pe.tree.runrecord import RunRecord
from pe.treesetup import envfile
from pe.util import now_iso

if TYPE_CHECKING:
    from pe.agents import Preset
    from pe.agents.base import Outcome, RunContext
    from pe.proc import Exit
    from pe.tree.guard import Snapshot


def context(layout: Layout, feature: Feature, tree: TreeSpec, text: str, *, resume: bool,
            session_id: str | None, log_offset: int) -> RunContext:
    from pe.agents.base import RunContext

    return RunContext(
        root=layout.root, tree=tree, tree_dir=layout.tree(tree.name), prompt_file=layout.prompt(tree.name),
        plan=feature.plan, context=text, log_path=layout.agent_log(tree.name), resume=resume,
        session_id=session_id, log_offset=log_offset,
    )


def _dump(snap: Snapshot | None) -> dict[str, Any] | None:
    return None if snap is None else {"head": snap.head, "entries": sorted(map(list, snap.entries))}


def _load(data: Any) -> Snapshot | None:
    from pe.tree.guard import Snapshot

    if not isinstance(data, dict):
        return None
    try:
        return Snapshot(data.get("head"), frozenset(tuple(e) for e in data.get("entries", [])))
    except TypeError:
        return None


def _main_writable(layout: Layout, tree: TreeSpec, mode: str | None) -> bool:
    """Can this agent, run in sandbox `mode`, write the main checkout? Not in bwrap, unless
    `sandbox.writable` names a path in it. Where it cannot, pe does not scan the checkout before
    and after the run: on a 20,000-file repository with a stale index each scan re-hashed every
    file (issue 18)."""
    if mode != "bwrap":
        return True
    from pe.sandbox.tree import extra_paths

    root = layout.root.resolve()
    trees = layout.trees.resolve()
    for path in extra_paths(layout, tree.sandbox, Path.home()):
        resolved = path.resolve()
        if resolved.is_relative_to(root) and not resolved.is_relative_to(trees):
            return True
        if root.is_relative_to(resolved):  # a parent of the repository: all of it
            return True
    return False


def look_ahead(layout: Layout, trees: Sequence[TreeSpec]) -> None:
    """Take the before-looks of the agent runs about to start (start, below) in a thread of its own.

    Without the sandbox the first look scans the main checkout: on 20,000 files with a stale
    index, 100-240 ms that came after the graph was built and before the first agent could
    start (issue 18). Started early (pe/commands/execute.py says when not), it runs while pe
    imports and builds the graph, and the runs that start within guard's REUSE_S take it as theirs.
    """
    from pe.errors import PeError
    from pe.tree import guard
    from pe.util import background

    def writable(tree: TreeSpec) -> bool:
        try:
            return _main_writable(layout, tree, sandbox.resolve(tree.sandbox.mode))
        except PeError:
            return True  # bwrap asked for and unusable: the run says so itself

    main = any(writable(t) for t in trees)

    def look_ahead() -> None:
        if main:
            guard.SHARED.before_run(layout.root)
        guard.GIT.before_run(layout.root)

    # Nobody waits for it: a look cannot fail (git that cannot say is a None look), and a bug in
    # one is met again by the run's own look, in the step, where it is reported.
    background(look_ahead)


def start(layout: Layout, feature: Feature, tree: TreeSpec, preset: Preset, ctx: RunContext,
          record: RunRecord, record_path: Path) -> handle.Attempt:
    """Record a new attempt as running, then start the agent under its supervisor."""
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
    record.ended_at = record.reason = record.exit = record.ended_by = None
    record.pid = record.pid_start = None
    record.warnings, record.usage, record.duration_s = [], {}, None  # the last attempt's are in history

    def announce(argv: list[str]) -> None:
        append_text(ctx.log_path, f"\n=== pe: attempt {record.attempts} at {record.started_at}: {' '.join(argv)}\n")

    argv, env = launch.prepare(preset, ctx, tree_env=tree_env, announce=announce, confine=confine)
    own = frozenset(t.name for t in feature.trees)
    stdin = preset.stdin(ctx)
    spec = ctx.agent
    main_writable = _main_writable(layout, tree, record.sandbox)
    plan = Launch(
        attempt=record.attempts, argv=argv, cwd=str(ctx.tree_dir), log=str(ctx.log_path),
        end=str(layout.run_end(tree.name, record.attempts)), timeout=tree.timeout_s,
        idle_timeout=spec.idle_timeout_s, stdin=str(stdin) if stdin is not None else None,
        scope=str(layout.lock_file.parent.resolve()), started_at=record.started_at, log_offset=ctx.log_offset,
        resume=ctx.resume, session_id=ctx.session_id,
        guard={"main": _dump(guard.SHARED.before_run(layout.root)) if main_writable else None,
               "git": _dump(guard.git_before(layout.root, own))},
    )
    # Saved as running before the supervisor exists: a pe killed in between leaves an attempt
    # the next one finds without a supervisor or an end, and closes as lost (agent.run).
    record.save(record_path)
    attempt = handle.start(layout, plan, env, tree.name)
    record.pid, record.pid_start = attempt.pid, attempt.pid_start
    record.save(record_path)
    return attempt


def judge(layout: Layout, feature: Feature, tree: TreeSpec, preset: Preset, text: str, record: RunRecord,
          launch: Launch, end: End) -> tuple[Exit, Outcome, str | None]:
    """Fill the record from how the attempt ended; (its Exit, the preset's verdict, why it failed or None)."""
    from pe.agents.base import Outcome
    from pe.tree import guard

    ctx = context(layout, feature, tree, text, resume=launch.resume, session_id=launch.session_id,
                  log_offset=launch.log_offset)
    ended = end.exit()
    outcome = preset.outcome(ctx, ended.returncode) if end.ended_by != "pe-died" else Outcome(ok=False)
    own = frozenset(t.name for t in feature.trees)
    # Without a sandbox pe cannot keep an agent out of the main checkout (pe/tree/guard.py), but it can tell.
    before = _load(launch.guard.get("main"))  # None: the sandbox kept the agent out of the main checkout
    touched = guard.changes(before, guard.SHARED.after_run(layout.root, end.ended_ts)) if before is not None else None
    record.warnings = [f"the main checkout changed while this agent ran: {touched}"] if touched else []
    shared = guard.git_changes(_load(launch.guard.get("git")), guard.git_after(layout.root, own, end.ended_ts))
    if shared:
        record.warnings.append(f"the repository's git state changed while this agent ran: {shared}")
    for warning in record.warnings:
        append_text(ctx.log_path, f"\n=== pe: WARNING: {warning}\n")
    if end.ended_by == "pe-died":
        reason: str | None = f"the run was lost: {end.error}" if end.error else "the run was lost"
    elif end.error:
        reason = f"the agent could not start: {end.error}"
    elif ended.interrupted:
        reason = "interrupted by the user"
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
    record.duration_s = round(end.duration_s, 3)
    record.ended_by = end.ended_by
    record.started_at = launch.started_at or record.started_at
    return ended, outcome, reason
