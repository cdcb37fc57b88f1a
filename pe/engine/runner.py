"""Run the graph with doit embedded: pe's loader, pe's database, pe's signals.

The same graph (pe.engine.graph.namespace) is what plain `doit` sees through dodo.py.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator, Sequence
from typing import Any

from pe import git, proc
from pe.config.spec import Feature
from pe.engine.bases import Bases
from pe.engine.graph import Plan, namespace, prefetch_setup_state
from pe.engine.reporter import PeReporter
from pe.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, Interrupted, exit_status
from pe.layout import Layout

BACKEND = "pe-sqlite"
BACKEND_LOCATION = "pe.engine.database:CommittingSqliteDB"


def make_plan(layout: Layout, features: Sequence[Feature], context: str = "") -> Plan:
    """Resolve bases and check the trees' paths: every input error before any work."""
    from pe.steps.worktree import preflight

    resolver = Bases(layout)
    resolver.prefetch(features)
    bases = {f.name: resolver.sha(f) for f in features}
    try:
        worktrees = {wt.path.resolve(): wt for wt in git.worktree_list(layout.root)}
    except proc.ProcError:
        worktrees = {}  # an entry a crash left half-written: the worktree step repairs it first
    branches = git.branch_names(layout.root)
    for feature in features:
        for tree in feature.trees:
            preflight(layout, tree, worktrees, branches)
    return Plan(layout, tuple(features), bases, context)


def doit_config(plan: Plan, jobs: int | None = None) -> dict[str, Any]:
    if jobs is None:
        jobs = max((f.jobs for f in plan.features), default=1)
    return {
        "dep_file": str(plan.layout.db_file),
        "backend": BACKEND,
        "par_type": "thread",
        "num_process": jobs,
        "reporter": PeReporter(quiet=plan.quiet, detach=plan.detach),  # doit takes an instance as is
        "verbosity": 0,
        "continue": True,
    }


def _loader(plan: Plan, jobs: int | None) -> Any:
    from doit.cmd_base import TaskLoader2
    from doit.loader import load_tasks

    class PeLoader(TaskLoader2):
        def load_doit_config(self) -> dict[str, Any]:
            # doit's `outfile` defaults to the sys.stdout of import time, which may be
            # long closed when pe runs in-process (pe demo, tests): use today's.
            return {**doit_config(plan, jobs), "outfile": sys.stdout}

        def load_tasks(self, cmd: Any, pos_args: Any) -> Any:
            return load_tasks(namespace(plan), self.cmd_names, allow_delayed=cmd.execute_tasks)

    return PeLoader()


def run_doit(plan: Plan, args: Sequence[str], jobs: int | None = None) -> int:
    """Run doit's command line `args` over `plan`; doit's own exit status."""
    from doit.doit_cmd import DoitMain

    from pe.engine.database import check_database

    plan.layout.state.mkdir(parents=True, exist_ok=True)
    check_database(plan.layout.db_file)
    main = DoitMain(
        _loader(plan, jobs),
        config_filenames=(),
        extra_config={"BACKEND": {BACKEND: BACKEND_LOCATION}},
    )
    main.BIN_NAME = "pe doit"
    # doit swaps sys.stdout/err around each python action; with threads the
    # swaps interleave and can leave a capture buffer installed. Put ours back.
    out, err = sys.stdout, sys.stderr
    try:
        with _no_plugin_scan():
            return int(main.run(list(args)))
    finally:
        sys.stdout, sys.stderr = out, err


@contextlib.contextmanager
def _no_plugin_scan() -> Iterator[None]:
    """Embedded doit takes no plugins from other installed packages.

    pe hands doit everything it uses (backend, reporter, loader) and reads no
    config files, so a doit plugin some other package installed must not change
    how pe runs. doit finds plugins through importlib.metadata.entry_points(),
    which reads the metadata of every installed distribution, three times per run:
    7 ms with 120 packages, more in a big environment, on every pe command.
    Plain `doit` through dodo.py still scans (that is how it finds pe's backend).
    """
    from doit import plugin

    saved = plugin.entry_points_impl
    plugin.entry_points_impl = lambda: (lambda group: ())
    try:
        yield
    finally:
        plugin.entry_points_impl = saved


def signals_stop_agents() -> contextlib.AbstractContextManager[None]:
    """SIGINT/SIGTERM: kill every agent group first, then unwind so doit saves state."""
    return proc.signals_stop_children(announce=True)


def wait_for_bookkeeping(timeout: float = 10.0) -> None:
    """Let the steps still running in doit's threads finish after an interrupt.

    Their agents and installs are dead by now, so what is left is bookkeeping: the
    checkpoint commit, the run record, a stamp. doit's threads are daemons and
    would die mid-step when pe exits.
    """
    from pe.engine.graph import active_actions

    deadline = time.monotonic() + timeout
    while active_actions() and time.monotonic() < deadline:
        time.sleep(0.05)


def run_tasks(plan: Plan, tasks: Sequence[str], jobs: int | None = None) -> int:
    """Run `tasks` (and what they depend on); pe's exit status."""
    prefetch_setup_state(plan)
    return run_command(plan, ["run", *tasks], jobs)


def run_command(plan: Plan, args: Sequence[str], jobs: int | None = None) -> int:
    """A doit command line over `plan`, with agents stopped on SIGINT/SIGTERM."""
    try:
        with signals_stop_agents():
            rc = run_doit(plan, args, jobs)
    except Interrupted as exc:
        wait_for_bookkeeping()
        return exit_status(exc.signum)
    if rc == 0:
        return EXIT_OK
    if rc == 3:
        return EXIT_USAGE
    return EXIT_FAILED
