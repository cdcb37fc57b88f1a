"""pe cleanup: archive every tree, then remove it, its branch and pe's state of it. Loses nothing."""

from __future__ import annotations

import argparse
import sys

from pe.commands import _common
from pe.lifecycle import removal
from pe.lifecycle.removal import INDENT, Step, TreePlan

NAME = "cleanup"
DESCRIPTION = """\
For each tree of the feature (or each --tree), in order:
1. archive into reports/<feature>/<tree>/ (a feature name used again: each
   later round into reports/<feature>/<tree>.<round>/, never over an earlier
   one; reports/<feature>/ARCHIVE.md lists every round): RESULTS.md,
   PROGRESS.md, the agent and setup logs, the run record, the branch as a git
   bundle, verified with `git bundle verify`, and every git repository nested
   in the tree (a verified bundle of its refs and a tarball of its files);
   ARCHIVE.md there says how to restore;
2. remove the worktree (a directory git does not know is moved to
   .pe/quarantine/, never deleted) and prune;
3. delete the branch, only if pe created it and it was adopted, is merged into
   the base or the adoption target, or is in a verified bundle (--keep-branches
   keeps it); a branch named like a tree that pe did not create is left alone;
4. release the tree's ports and forget its state (stamps, run record, logs,
   doit's records).
A tree with uncommitted changes, untracked files, or ignored files that setup
did not carry over unchanged (an edited .env, say) is refused, naming them;
with --force those are archived too (a patch, untracked.tar.gz, and
ignored.tar.gz, which a .gitignore keeps out of commits) and the tree is
removed. --dry-run prints exactly these steps.

examples:
  pe cleanup --feature=auth-system --dry-run
  pe cleanup --feature=auth-system
  pe cleanup --feature=auth-system --tree=auth-system-3 --keep-branches
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _common.add_feature(parser)
    parser.add_argument("--tree", action="append", default=[], metavar="NAME",
                        help="only this tree (repeat, or a comma list); default: every tree of the feature")
    parser.add_argument("--dry-run", action="store_true", help="print what would be done, do nothing")
    parser.add_argument("--force", action="store_true",
                        help="remove trees with unsaved work (archived first) and stop a still-running agent")
    parser.add_argument("--keep-branches", action="store_true", help="keep every branch")
    _common.add_repo(parser)
    _common.add_lock(parser)


class _Printer:
    """Each step as it is carried out ("would ..." in a dry run), and where a failure stopped it."""

    def __init__(self, feature: str, dry_run: bool) -> None:
        self.feature = feature
        self.prefix = "would " if dry_run else ""

    def tree(self, plan: TreePlan) -> None:
        print(f"{plan.tree}:")

    def step(self, number: int, step: Step) -> None:
        print(f"  {number}. {self.prefix}{step.text}")

    def note(self, text: str) -> None:
        print(f"{INDENT}-> {text}")

    def stopped(self, plan: TreePlan, number: int) -> None:
        print(f"pe: cleanup stopped at {plan.tree} step {number}; the steps before it are done and "
              f"`pe cleanup --feature={self.feature}` continues from here", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    layout = _common.layout(args)
    feature = _common.feature_name(args)
    trees = removal.trees(layout, feature, args.tree)
    if not args.dry_run:
        _common.lock(layout, args)  # (a dry run changes nothing: it needs no lock)
    plans = removal.plan(layout, feature, trees, force=args.force, keep_branches=args.keep_branches)
    removal.carry_out(plans, _Printer(feature, args.dry_run), dry_run=args.dry_run)
    if args.dry_run:
        print("dry run: nothing was changed")
    else:
        index = layout.archive_index(feature).relative_to(layout.root)
        print(f"archives in {layout.reports(feature).relative_to(layout.root)}/, every round listed in {index} "
              "(each archive's own ARCHIVE.md says how to restore it)")
    return 0
