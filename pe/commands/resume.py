"""pe resume: continue after a crash, a kill or a failed agent; only what is incomplete runs."""

from __future__ import annotations

import argparse

from pe.commands import execute

NAME = "resume"
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


def run(args: argparse.Namespace) -> int:
    return execute.execute(args, resuming=True)
