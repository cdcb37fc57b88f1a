"""graph: setup's up-to-date answers checked in parallel up front, used only while fresh."""

from __future__ import annotations

from pathlib import Path

from pe.config import manifest
from pe.engine import graph
from pe.engine import runner as engine
from pe.layout import Layout
from tests.support import pe_run, write_manifest


def _plan(repo: Path) -> graph.Plan:
    layout = Layout(repo)
    return engine.make_plan(layout, [manifest.load(layout, "feat")])


def test_prefetch_answers_for_every_created_tree_and_each_answer_is_used_once(repo: Path) -> None:
    write_manifest(repo, count=3)
    assert pe_run(repo, "init", "--feature=feat").returncode == 0
    plan = _plan(repo)
    graph.prefetch_setup_state(plan)
    assert {name: ok for name, (ok, _) in plan.setup_known.items()} == {"feat-1": True, "feat-2": True, "feat-3": True}

    feature = plan.features[0]
    tree = feature.trees[0]
    plan.setup_known[tree.name] = (False, plan.setup_known[tree.name][1])  # what doit will be told
    assert graph._setup_up_to_date(plan, feature, tree) is False
    # Used once: the next question is answered afresh (setup is in fact done).
    assert graph._setup_up_to_date(plan, feature, tree) is True


def test_a_stale_prefetched_answer_is_not_trusted(repo: Path) -> None:
    write_manifest(repo, count=2)
    assert pe_run(repo, "init", "--feature=feat").returncode == 0
    plan = _plan(repo)
    feature, tree = plan.features[0], plan.features[0].trees[0]
    plan.setup_known[tree.name] = (False, 0.0)  # checked long ago
    assert graph._setup_up_to_date(plan, feature, tree) is True


def test_trees_not_created_yet_are_left_to_doit(repo: Path) -> None:
    write_manifest(repo, count=2)
    plan = _plan(repo)
    graph.prefetch_setup_state(plan)
    assert plan.setup_known == {}
