"""pe adopt: bring the chosen tree's work into the base branch (or another), all or nothing."""

from __future__ import annotations

import argparse

from pe import gitfacts
from pe.commands import _common
from pe.fsutil import read_json
from pe.layout import Layout
from pe.lifecycle import adoption
from pe.util import plural

NAME = "adopt"
DESCRIPTION = """\
Builds the result away from any checkout and moves the target branch only if it
is clean: a conflict is reported with the files involved and the target stays
exactly as it was. Refuses if the checkout that has the target branch has
uncommitted changes. RESULTS.md and PROGRESS.md are not adopted (cleanup
archives them). Refuses a tree that is not done, that failed its checks in the
last `pe compare`, whose branch moved since that compare judged it (compare
checks the branch's tip commit), or that has uncommitted changes, unless --force.
Records the adoption in reports/<feature>/ADOPTED.json (cleanup then deletes
that branch) and appends it to reports/history.jsonl (which strategies win).
An adoption a killed pe left unrecorded is recorded first (by any command that
takes the repository lock); adopting the same tree again, unchanged, into the
same branch the same way then has nothing left to do, and says so.

  --squash  one new commit on the target with the tree's change (default)
  --merge   a merge commit joining the tree's branch, its history kept
  --rebase  the tree's commits replayed onto the target, linear history

examples:
  pe adopt --feature=auth-system --tree=auth-system-2
  pe adopt --feature=auth-system --tree=auth-system-2 --merge --into=develop
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _common.add_feature(parser)
    parser.add_argument("--tree", required=True, metavar="NAME", help="the tree to adopt, e.g. auth-system-2")
    parser.add_argument("--into", metavar="BRANCH", help="the target branch (default: the feature's base branch)")
    how = parser.add_mutually_exclusive_group()
    helps = {"squash": "one new commit with the tree's change (default)",
             "merge": "a merge commit; the tree's history kept", "rebase": "the tree's commits replayed, linear"}
    for mode in adoption.MODES:
        how.add_argument(f"--{mode}", dest="mode", action="store_const", const=mode, help=helps[mode])
    parser.set_defaults(mode="squash")
    parser.add_argument("--message", metavar="TEXT", help="the commit message (squash and merge)")
    parser.add_argument("--force", action="store_true",
                        help="adopt a tree that is not done, failed its checks, moved since compare, "
                             "or has uncommitted changes")
    _common.add_repo(parser)
    _common.add_lock(parser)


def _already(layout: Layout, req: adoption.Request, mode: str) -> dict[str, object] | None:
    """The record of this very adoption, if it happened (e.g. finished after a kill by taking the lock)."""
    done = read_json(layout.adopted(req.feature)) or {}
    same = (done.get("tree"), done.get("tree_tip"), done.get("into"), done.get("mode")) == \
        (req.tree, req.tip, req.into, mode)
    tip = gitfacts.branch_tip(layout.root, req.into)
    commit = done.get("commit")
    if same and isinstance(commit, str) and tip is not None and gitfacts.is_ancestor(layout.root, commit, tip):
        return done
    return None


def run(args: argparse.Namespace) -> int:
    layout = _common.layout(args)
    feature = _common.feature_name(args)
    req = adoption.check(layout, feature, args.tree, into=args.into, force=args.force)
    # (a refused adoption fails at once, without waiting for the lock). Taking it also
    # finishes an adoption a killed pe left unrecorded (pe/lifecycle/adoption_journal.py).
    _common.lock(layout, args)
    done = _already(layout, req, args.mode)
    if done is not None:
        print(f"{req.tree} is adopted into {req.into} by {args.mode} already: "
              f"{str(done['previous'])[:12]} -> {str(done['commit'])[:12]}, nothing left to do")
    else:
        result = adoption.adopt_tree(layout, req, mode=args.mode, message=args.message)
        print(f"adopted {req.tree} ({req.strategy}) into {req.into} by {args.mode}: "
              f"{plural(result.commits, 'commit')}, {result.previous[:12]} -> {result.commit[:12]}")
    print(f"recorded in reports/{feature}/ADOPTED.json; next: pe cleanup --feature={feature}")
    return 0
