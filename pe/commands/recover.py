"""pe recover: find what a crash left behind and say exactly what to run. Read-only."""

from __future__ import annotations

import argparse
import sys

from pe import util
from pe.commands import _common
from pe.errors import EXIT_USAGE
from pe.lifecycle import recovery

NAME = "recover"
DESCRIPTION = """\
Discovers trees from the manifests, `git worktree list`, directories under
trees/ that git does not know, and branches named <feature>-<n>. Classifies
each: done, running, resumable (what it had done), crashed with uncommitted
work, setup failed, not started, half-created, locked initializing entry,
prunable entry, orphaned directory, branch without a tree. Prints the
recommended command for each and writes reports/<feature>/RECOVERY.md, plus,
for unfinished trees, the PROGRESS.md that `pe resume` would give the agent
(reports/<feature>/recovery/<tree>.PROGRESS.md).

It changes nothing in git, in the trees or in pe's records under .pe/, with one
exception: an agent that ended under its supervisor while no pe was running gets
the bookkeeping pe would have done (checkpoint commit, stamp, run record) first,
so that what recover reports is what the agent finished.
Run the printed commands from the repository root.

examples:
  pe recover
  pe recover --feature=auth-system
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _common.add_feature(parser, required=False)
    _common.add_repo(parser)


def run(args: argparse.Namespace) -> int:
    layout = _common.layout(args)
    only = _common.feature_name(args) if args.feature else None
    from pe.commands.status import load_features

    for name in _common.settle(layout, load_features(layout, only)[0]):
        print(f"{name}: finished the bookkeeping of the agent that ended while no pe was running")
    findings, errors = recovery.recover(layout, only)
    for err in errors:
        print(f"pe: error: {err}", file=sys.stderr)
    if not findings:
        print("nothing to recover: no trees, worktrees or tree branches found")
        return EXIT_USAGE if errors else 0
    width = max(len(f.tree) for f in findings)
    for feature, (path, group) in recovery.write_reports(layout, findings).items():
        print(f"{feature}: {path.relative_to(layout.root)}")
        for f in group:
            print(util.printable(f"  {f.tree:<{width}}  {f.kind}: {f.summary}"))
            for cmd in f.commands:
                print(f"  {'':<{width}}    $ {cmd}")
    return EXIT_USAGE if errors else 0
