"""pe resume: continue after a crash, a kill or a failed agent; only what is incomplete runs."""

from __future__ import annotations

import argparse

from pe.commands import execute
from pe.config.manifest import Feature
from pe.layout import Layout
from pe.steps import agent as agent_step
from pe.steps.worktree import tree_base
from pe.tree.progress import refresh
from pe.tree.runrecord import RunRecord

NAME = "resume"
ORDER = 30
HELP = "continue where a crash stopped: done trees are skipped, the rest resume"
DESCRIPTION = """\
Scan the trees, bring each incomplete tree's PROGRESS.md up to date with what pe
can see (commits, uncommitted changes, how the last run ended, the log tail),
and run the graph again: trees that are done are skipped; every other agent
gets a resume prompt with its original strategy, its PROGRESS.md and --context.

examples:
  pe resume --feature=auth-system
  pe resume --feature=auth-system --context="crashed during validation"
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    execute.add_arguments(parser)


def refresh_incomplete(layout: Layout, feature: Feature) -> list[str]:
    """Write PROGRESS.md for every tree that exists and is not done; their names."""
    refreshed = []
    for tree in feature.trees:
        tree_dir = layout.tree(tree.name)
        base = tree_base(layout, tree.name)
        if base is None or not tree_dir.is_dir() or agent_step.stamp_ok(layout, feature, tree):
            continue
        record = RunRecord.load(layout.run_record(tree.name), tree.name)
        if record.attempts == 0:
            continue  # never started: it gets the first-run prompt, nothing to resume
        refresh(tree_dir, base, record, layout.agent_log(tree.name))
        refreshed.append(tree.name)
    return refreshed


def run(args: argparse.Namespace) -> int:
    return execute.execute(args, resuming=True)
