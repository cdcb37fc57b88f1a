"""pe execute: run every tree's agent (creating trees first if needed)."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from pe import gitfacts, util
from pe.commands import _common
from pe.config import manifest
from pe.config.spec import Feature, TreeSpec
from pe.errors import EXIT_SIGINT, EXIT_SIGTERM, Interrupted, PeError
from pe.layout import Layout
from pe.steps import notify
from pe.tree import overview, stamps
from pe.tree.runrecord import RunRecord

if TYPE_CHECKING:
    from pe.tree.ahead import ScansAhead

NAME = "execute"
DESCRIPTION = """\
Run the agent of every tree that is not done, at most `jobs` at a time, each in
its own process group with its time limit. Trees that are done are skipped, so
running it again only does what is left. Creates the trees (and the manifest,
given --plan) if needed. Output of each agent: .pe/logs/<tree>/agent.log.

Each agent runs under a supervisor that outlives pe: if pe is killed, or its
terminal closes (SIGHUP), the agents go on, and the next pe (resume, wait,
status) picks up what they did without running them again. --detach starts
them and returns at once (trees and setup are done first); then `pe wait`.

exit status: 0 all trees done (with --detach: all agents started), 1 some tree
             failed, 3 bad input, 129 detached by SIGHUP (the agents go on: pe wait),
             130/143 interrupted (every agent is stopped; pe resume continues)

examples:
  pe execute --feature=auth-system
  pe execute --feature=auth-system --detach && pe wait --feature=auth-system --timeout=9m
  pe execute --feature=auth-system --context="use the new session store"
  pe execute --feature=auth-system --strategy=performance --count=4
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _common.add_feature(parser)
    parser.add_argument("--context", default="", metavar="TEXT", help="extra instructions added to every prompt")
    parser.add_argument(
        "--plain", action="store_true", help="timestamped progress lines instead of the live view on a terminal"
    )
    parser.add_argument("--detach", action="store_true",
                        help="start the agents and return (trees and setup first); then: pe wait")
    _common.add_overrides(parser)
    _common.add_agent_command(parser)
    _common.add_sandbox(parser)
    _common.add_repo(parser)
    _common.add_lock(parser)
    notify.add_argument(parser)
    parser.add_argument("--runner", choices=("local", "dask"),
                        help="where the agents run, for this run: local (the default) or dask (a Dask cluster at "
                        "--scheduler; needs pip install 'pe[dask]')")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="the Dask scheduler for --runner=dask, e.g. tcp://10.0.0.5:8786 "
                        "(pe cluster start prints one)")


def execute(args: argparse.Namespace, *, resuming: bool = False) -> int:
    started = time.monotonic()
    notify.check_flag(args.notify)
    layout = _common.layout(args)
    name, overrides = _common.feature_name(args), _common.overrides(args)
    auto = None
    if "auto" in (overrides.strategy, overrides.agent):
        from pe.history import mix  # --strategy=auto / --agent=auto: the mix the history proposes

        auto = mix.resolve(layout, name, overrides)
        overrides = auto.overrides
    early = None if args.detach or auto is not None else _scans_if_done(layout, name)
    try:
        feature, new_data = manifest.prepare(layout, name, overrides)
        feature = _with_runner(feature, args)
        trees = manifest.require_agents(feature)
        if new_data is None and auto is None and not args.detach and _all_done(layout, feature, trees):
            return _nothing_left(layout, feature, trees, args, resuming, started, early)
    except BaseException:
        if early is not None:
            early.close()
        raise
    if early is not None:
        early.close()  # the guess was wrong: something is left to run
    setup_ahead = _look_ahead(layout, feature, trees)
    # What only a run that starts agents needs (doit, the presets, the history): imported here.
    from pe import agents
    from pe.engine import runner as engine
    from pe.steps import finish
    from pe.tree import progress

    if feature.runner == "dask":  # before any tree exists: the extra, the scheduler, its agent slots
        from pe.engine import dask_runner

        _common.require(not args.detach, "--detach runs agents under local supervisors: not with --runner=dask")
        print(dask_runner.check(feature))
    for tree in trees if feature.runner == "local" else []:  # a worker checks its own CLI
        assert tree.agent is not None
        try:
            agents.get(tree.agent.preset).check_available(tree.agent, layout.root)
        except PeError as exc:
            raise PeError(f"{feature.source}: {exc}") from None  # where the agent was named
    waiting = [t for t in trees if not stamps.agent_ok(layout, feature, t)]
    if waiting:  # (a no-op resume starts no agent, and needs no sandbox)
        print(sandbox_line(waiting))  # bwrap asked for and unusable: exit 3 here, before anything runs
        if feature.runner == "local":
            from pe.supervisor.spawner import SPAWNER

            SPAWNER.warm(layout.root, os.environ)  # it starts while pe builds the graph (issue 18)
    plan = engine.make_plan(layout, [feature], context=args.context)
    _common.lock(layout, args)
    if new_data is not None:
        path = manifest.write_manifest(layout, new_data)
        print(f"wrote {path.relative_to(layout.root)} (check it in)")
    if auto is not None:
        from pe.history import mix

        mix.save(layout, auto)
    for tree in trees:
        finish.settle_record(layout, feature, tree)
    if resuming:
        progress.refresh_unfinished(layout, [feature])
    print(f"{feature.name}: {util.plural(feature.count, 'tree')}, up to {util.plural(feature.jobs, 'agent')} at once; "
          "logs in .pe/logs/")
    if setup_ahead is not None:
        plan.setup_known.update(setup_ahead())
    tasks = [f"agent:{t.name}" for t in trees]
    attempts = {t.name: RunRecord.load(layout.run_record(t.name), t.name).attempts for t in trees}
    if args.detach:
        rc = engine.run_tasks(dataclasses.replace(plan, detach=True), tasks, jobs=len(trees))
        return _detached(layout, feature, trees, rc)
    try:
        if sys.stdout.isatty() and not args.plain:
            from pe.engine.live import LiveView

            with LiveView(layout, [feature]):
                rc = engine.run_tasks(dataclasses.replace(plan, quiet=True), tasks, jobs=feature.jobs)
        else:
            rc = engine.run_tasks(plan, tasks, jobs=feature.jobs)
        _report(layout, feature, trees, attempts, rc)
    except (KeyboardInterrupt, Interrupted):  # a second Ctrl-C, while the first one's bookkeeping ran
        _resume_hint(feature)
        raise
    if rc in (EXIT_SIGINT, EXIT_SIGTERM):
        _resume_hint(feature)  # and no notify: whoever pressed Ctrl-C is there
        return rc
    notify.finished(layout, [feature], "resume" if resuming else "execute", rc, flag=args.notify, started=started)
    return rc


def _look_ahead(layout: Layout, feature: Feature,
                trees: list[TreeSpec]) -> Callable[[], dict[str, tuple[bool, float]]] | None:
    """Start what the agents' start will wait for, in the background, while pe imports and plans:
    the trees' setup checks (a git process each), and where every tree waiting for its agent is
    set up, the looks at the main checkout its run starts from (pe/tree/guard.py). Not where the
    lock is to finish a killed adoption, which moves main and may change the trees; not where a
    tree is still to be made, which changes .pe/'s place in git's eyes. The setup answers' getter,
    or None."""
    from pe.lifecycle import adoption_journal

    if feature.runner != "local" or adoption_journal.left_behind(layout):
        return None
    from pe.steps import setup as setup_step

    waiting = [t for t in trees if not stamps.agent_ok(layout, feature, t)]
    if waiting and all(stamps.worktree_done(layout, t.name) and stamps.setup_finished(layout, feature, t)
                       for t in waiting):
        from pe.steps import attempt

        attempt.look_ahead(layout, waiting)
    return util.background(lambda: setup_step.check_all(layout, [feature]))


def _all_done(layout: Layout, feature: Feature, trees: list[TreeSpec]) -> bool:
    """Every tree's agent is done (its stamp holds) and no record waits to be settled: file reads only."""
    return feature.runner == "local" and stamps.sealed(layout) and all(
        stamps.agent_ok(layout, feature, t) and RunRecord.load(layout.run_record(t.name), t.name).state != "running"
        for t in trees)


def _scans_if_done(layout: Layout, name: str) -> ScansAhead | None:
    """The trees' `git status`, started at once where every tree of the feature pe made looks done
    (its agent stamp is there), so that a no-op resume shows its table about when pe status would
    (issue 18). A guess from file names, which _all_done then checks; a wrong one costs the scans.
    Not where the lock has a killed adoption to finish, which may change the trees."""
    from pe.lifecycle import adoption_journal
    from pe.tree.ahead import ScansAhead, made_trees

    if adoption_journal.left_behind(layout):
        return None
    dirs = made_trees(layout, name)
    if not dirs or not all(layout.stamp(d.name, stamps.AGENT).is_file() for d in dirs):
        return None
    return ScansAhead(dirs)


def _nothing_left(layout: Layout, feature: Feature, trees: list[TreeSpec], args: argparse.Namespace,
                  resuming: bool, started: float, early: ScansAhead | None) -> int:
    """A no-op execute or resume: what the run would print, without doit's graph or the history.

    It takes the lock all the same: that is where what a killed pe left is repaired (a killed
    compare's checks stopped, an adoption finished), which the next command must do whatever it
    is. setup does not re-run for a done tree, whose agent never starts.
    """
    from pe.engine.reporter import PeReporter
    from pe.lifecycle import adoption_journal
    from pe.tree.ahead import ScansAhead

    # The trees' `git status` run while pe takes the lock and prints the lines above the table
    # (pe status does the same; issue 18). After the lock where it has a killed adoption to
    # finish, which may change the trees; its other repairs (a killed pe's leftover processes
    # stopped) change nothing this table shows.
    dirs = [layout.tree(t.name) for t in trees]
    scans = early
    if scans is None and not adoption_journal.left_behind(layout):
        scans = ScansAhead(dirs)
    try:
        _common.lock(layout, args, history=False)
    except BaseException:
        if scans is not None:
            scans.close()
        raise
    if scans is None:
        scans = ScansAhead(dirs)
    try:
        print(f"{feature.name}: {util.plural(feature.count, 'tree')}, nothing left to run; logs in .pe/logs/")
        reporter = PeReporter(quiet=False)
        for tree in trees:
            reporter.up_to_date(f"agent:{tree.name}")
        print()
        print(overview.render(overview.rows(layout, [feature], scans)))
    finally:
        scans.close()
    notify.finished(layout, [feature], "resume" if resuming else "execute", 0, flag=args.notify, started=started)
    return 0


def _with_runner(feature: Feature, args: argparse.Namespace) -> Feature:
    """--runner and --scheduler over the manifest's runner: and scheduler: (issue 16)."""
    runner = getattr(args, "runner", None) or feature.runner
    scheduler = getattr(args, "scheduler", None) or feature.scheduler
    return dataclasses.replace(feature, runner=runner, scheduler=scheduler)


def _resume_hint(feature: Feature) -> None:
    # After Ctrl-C as after a failure: the one command that continues (issue 17).
    with contextlib.suppress(OSError):  # SIGHUP: the terminal may be gone
        print(f"\nevery agent is stopped; continue with: pe resume --feature={feature.name}", file=sys.stderr)


def _report(layout: Layout, feature: Feature, trees: list[TreeSpec], attempts: dict[str, int], rc: int) -> None:
    """The table after a run, what the agents changed outside their trees, and what to do next."""
    print()
    # One git status per tree serves both the table and the check of finished trees.
    scans = gitfacts.scan_all([layout.tree(t.name) for t in trees])
    print(overview.render(overview.rows(layout, [feature], scans)))
    from pe.tree import guard

    for warning in guard.warnings(layout, feature, attempts, scans):
        print(f"pe: warning: {util.printable(warning)}", file=sys.stderr)  # names files an agent chose
    if rc == 1:
        print(f"\nsome trees did not finish; see the logs, then: pe resume --feature={feature.name}")


def _detached(layout: Layout, feature: Feature, trees: list[TreeSpec], rc: int) -> int:
    """One line per tree after --detach: where its agent runs now."""
    for tree in trees:
        record = RunRecord.load(layout.run_record(tree.name), tree.name)
        if stamps.agent_ok(layout, feature, tree):
            line = "done"
        elif record.still_running():
            line = f"agent running (attempt {record.attempts}, supervisor pid {record.pid}); log: " \
                   f"{layout.agent_log(tree.name).relative_to(layout.root)}"
        else:
            line = f"not started: {record.reason or 'see the lines above'}"
        print(f"{tree.name}: {util.printable(line)}")
    print(f"\nthe agents go on without pe; wait for them with: pe wait --feature={feature.name}")
    return rc


def sandbox_line(trees: list[TreeSpec]) -> str:
    """One line saying where the agents run (and why not in the sandbox, when they cannot)."""
    from pe import sandbox  # only where agents start: not for a no-op resume
    modes = {sandbox.resolve(t.sandbox.mode) for t in trees}
    if modes == {"bwrap"}:
        return ("sandbox: bwrap (each agent may write only its tree, its git admin dir, the object store "
                "and its CLI's state)")
    asked = {t.sandbox.mode for t in trees}
    why = f": {sandbox.probe()}" if "auto" in asked and sandbox.probe() else " (as the manifest or --sandbox asks)"
    return f"sandbox: {'bwrap for some trees, none for others' if len(modes) > 1 else 'none'}{why}"


def run(args: argparse.Namespace) -> int:
    return execute(args)
