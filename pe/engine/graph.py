"""The task graph: worktree:<tree> -> setup:<tree> -> agent:<tree> -> compare:<feature>.

One namespace of doit task creators serves both `pe` (embedded doit) and
plain `doit` through the top-level dodo.py, so both list and run the same
tasks against the same state database.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from doit.exceptions import TaskFailed

from pe.config.spec import Feature, TreeSpec
from pe.errors import one_line
from pe.layout import Layout
from pe.steps import agent as agent_step
from pe.steps import setup as setup_step
from pe.steps import worktree as worktree_step
from pe.tree import stamps
from pe.util import plural


@dataclass(frozen=True)
class Plan:
    """Everything the graph needs: resolved features and their base commits."""

    layout: Layout
    features: tuple[Feature, ...]
    bases: dict[str, str]  # feature -> base commit sha
    context: str = ""
    quiet: bool = False  # a live view owns the terminal: the reporter prints failures only
    detach: bool = False  # agent steps start the agents under their supervisors and return (--detach)
    # tree -> (setup up to date?, when checked): see prefetch_setup_state.
    setup_known: dict[str, tuple[bool, float]] = field(default_factory=dict)


SETUP_KNOWN_FOR_S = 2.0


def prefetch_setup_state(plan: Plan) -> None:
    """Every tree's setup up-to-dateness, checked in parallel just before doit starts (setup.check_all),
    unless the caller checked it already. The answers are used only within SETUP_KNOWN_FOR_S of
    being computed; a check doit makes later is made afresh."""
    if not plan.setup_known:
        plan.setup_known.update(setup_step.check_all(plan.layout, list(plan.features)))


def _setup_up_to_date(plan: Plan, feature: Feature, tree: TreeSpec) -> bool:
    known = plan.setup_known.pop(tree.name, None)
    if known is not None and time.monotonic() - known[1] < SETUP_KNOWN_FOR_S:
        return known[0]
    return setup_step.is_done(plan.layout, feature, tree)


# Step actions running right now, in doit's threads: an interrupt waits for them to
# finish their bookkeeping (engine.wait_for_bookkeeping).
_active = 0
_active_lock = threading.Lock()


def active_actions() -> int:
    with _active_lock:
        return _active


def _failing(fn: Callable[[], Any]) -> Callable[[], Any]:
    """Adapt a step to doit's contract: a returned string or a known error is a failure.

    PeError and ProcError become one-line TaskFailed reasons instead of
    tracebacks, and so do OSErrors the machine caused (disk full, permission
    denied); anything else is a bug and keeps its traceback.
    """

    def action() -> Any:
        global _active
        with _active_lock:
            _active += 1
        try:
            reason = fn()
        except Exception as exc:
            line = one_line(exc)
            if line is None:
                raise
            return TaskFailed(line)
        finally:
            with _active_lock:
                _active -= 1
        return TaskFailed(reason) if isinstance(reason, str) else None

    action.__name__ = getattr(fn, "__name__", "step")
    return action


def _worktree_tasks(plan: Plan) -> Iterator[dict[str, Any]]:
    layout = plan.layout
    for feature in plan.features:
        for tree in feature.trees:
            def act(tree: TreeSpec = tree, base: str = plan.bases[feature.name]) -> None:
                worktree_step.ensure(layout, tree, base)

            yield {
                "name": tree.name,
                "doc": f"create trees/{tree.name} on branch {tree.name}",
                "actions": [_failing(act)],
                "uptodate": [lambda tree=tree: stamps.worktree_done(layout, tree.name)],
                "verbosity": 0,
            }


def _setup_tasks(plan: Plan) -> Iterator[dict[str, Any]]:
    layout = plan.layout
    for feature in plan.features:
        for tree in feature.trees:
            yield {
                "name": tree.name,
                "doc": f"prepare trees/{tree.name} for its agent",
                "actions": [_failing(partial(setup_step.run, layout, feature, tree))],
                "task_dep": [f"worktree:{tree.name}"],
                "uptodate": [lambda f=feature, t=tree: _setup_up_to_date(plan, f, t)],
                "verbosity": 0,
            }


def _agent_tasks(plan: Plan) -> Iterator[dict[str, Any]]:
    layout = plan.layout
    for feature in plan.features:
        for tree in feature.trees:
            yield {
                "name": tree.name,
                "doc": f"{tree.agent.preset if tree.agent else 'no'} agent, strategy {tree.strategy.name}",
                "actions": [_failing(partial(agent_step.run, layout, feature, tree, plan.context, plan.detach))],
                "task_dep": [f"setup:{tree.name}"],
                "uptodate": [lambda f=feature, t=tree: stamps.agent_ok(layout, f, t)],
                "targets": [str(layout.stamp(tree.name, stamps.AGENT))],
                "verbosity": 0,
            }


def _compare_tasks(plan: Plan) -> Iterator[dict[str, Any]]:
    layout = plan.layout
    for feature in plan.features:
        yield {
            "name": feature.name,
            "doc": f"compare the {plural(feature.count, 'implementation')} of {feature.name}",
            "actions": [_failing(partial(_compare, layout, feature))],
            "task_dep": [f"agent:{t.name}" for t in feature.trees],
            "verbosity": 0,
        }


def _compare(layout: Layout, feature: Feature) -> None:
    # Imported when the task runs: the evidence machinery is a tenth of pe's start-up.
    from pe.steps import compare as compare_step

    compare_step.write_report(layout, feature)


def namespace(plan: Plan) -> dict[str, Any]:
    """doit task creators (task_worktree, ...) for `plan`, as a module namespace."""

    def creator(gen: Callable[[Plan], Iterator[dict[str, Any]]], doc: str) -> Callable[[], Iterator[dict[str, Any]]]:
        def task_creator() -> Iterator[dict[str, Any]]:
            yield {"name": None, "doc": doc}
            yield from gen(plan)

        task_creator.__doc__ = doc
        return task_creator

    ns: dict[str, Any] = {}
    for step, gen, doc in (
        ("worktree", _worktree_tasks, "create each tree's git worktree"),
        ("setup", _setup_tasks, "prepare each tree (env, dependencies, build check)"),
        ("agent", _agent_tasks, "run each tree's coding agent"),
        ("compare", _compare_tasks, "compare a feature's implementations"),
    ):
        fn = creator(gen, doc)
        fn.__name__ = f"task_{step}"
        ns[f"task_{step}"] = fn
    return ns
