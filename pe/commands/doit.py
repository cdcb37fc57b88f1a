"""pe doit: doit's own commands (list, info, run, forget...) over pe's graph."""

from __future__ import annotations

import argparse

from pe.commands import _common
from pe.config import manifest
from pe.engine import runner as engine

NAME = "doit"
DESCRIPTION = """\
The same graph, database and lock as pe, for doit's commands. Equivalent to
plain `doit` in a repository whose dodo.py is `from pe.dodo import *`.

examples:
  pe doit list --all
  pe doit info agent:auth-system-2
  pe doit run agent:auth-system-2
  pe doit forget agent:auth-system-2
"""

# doit commands that only read; everything else takes the repository lock.
READ_ONLY = {"list", "info", "help", "dumpdb", "tabcompletion"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _common.add_repo(parser)
    parser.add_argument("doit_args", nargs=argparse.REMAINDER, metavar="DOIT_ARGS", help="doit command and its options")


def run(args: argparse.Namespace) -> int:
    layout = _common.layout(args)
    plan = engine.make_plan(layout, manifest.load_all(layout))
    doit_args = list(args.doit_args)
    command = next((a for a in doit_args if not a.startswith("-")), "run")
    if command not in READ_ONLY:
        _common.lock(layout, args)
    return engine.run_command(plan, doit_args)
