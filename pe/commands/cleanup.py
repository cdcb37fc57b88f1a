"""pe cleanup: archive every tree, then remove it, its branch and pe's state of it. Loses nothing."""

from __future__ import annotations

import argparse
import re
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
removed. Prints one line per tree of what it did; --dry-run prints exactly
these steps, --verbose each step as it is carried out.

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
    parser.add_argument("--verbose", "-v", action="store_true",
                        help="print every step as it is carried out (what --dry-run shows), not one line per tree")
    _common.add_repo(parser)
    _common.add_lock(parser)


class _Printer:
    """Each step as it is carried out ("would ..." in a dry run), and where a failure stopped it."""

    def __init__(self, feature: str, dry_run: bool) -> None:
        self.feature = feature
        self.prefix = "would " if dry_run else ""

    def finish(self) -> None:
        pass

    def tree(self, plan: TreePlan) -> None:
        print(f"{plan.tree}:")

    def step(self, number: int, step: Step) -> None:
        print(f"  {number}. {self.prefix}{step.text}")

    def note(self, text: str) -> None:
        print(f"{INDENT}-> {text}")

    def stopped(self, plan: TreePlan, number: int) -> None:
        print(f"pe: cleanup stopped at {plan.tree} step {number}; the steps before it are done and "
              f"`pe cleanup --feature={self.feature}` continues from here", file=sys.stderr)


class _Summary(_Printer):
    """One line per tree of what was done ("deleted branch x-2: in verified bundle reports/..."), issue 17:
    the full steps are what --dry-run (and --verbose) print."""

    def __init__(self, feature: str) -> None:
        super().__init__(feature, dry_run=False)
        self.current: str | None = None
        self.done: list[tuple[str, list[str]]] = []  # each step's text, the notes it returned

    def tree(self, plan: TreePlan) -> None:
        self.finish()
        self.current = plan.tree

    def step(self, number: int, step: Step) -> None:
        self.done.append((step.text, []))

    def note(self, text: str) -> None:
        self.done[-1][1].append(text)

    def stopped(self, plan: TreePlan, number: int) -> None:
        text = self.done.pop()[0].split("\n", 1)[0] if self.done else "?"
        self.finish()
        print(f"pe: cleanup stopped at {plan.tree} step {number} ({text}); the steps before it are done and "
              f"`pe cleanup --feature={self.feature}` continues from here", file=sys.stderr)

    def finish(self) -> None:
        if self.current is not None:
            bundle = next((_bundle_of(text) for text, notes in self.done
                           if "bundle verified" in notes and _bundle_of(text)), None)
            said = [s for text, notes in self.done if (s := said_of(self.current, text, notes, bundle))]
            print(f"{self.current}: {', '.join(said) if said else 'nothing to do'}")
        self.current, self.done = None, []


_BUNDLE = re.compile(r"^\s*(\S+\.bundle) <- branch ", re.MULTILINE)
_DELETE = re.compile(r"^git branch -D -- (\S+) \([0-9a-f]+(?:, (.*))?\)( if its bundle verified, else keep it)?$")


def _bundle_of(text: str) -> str | None:
    """The bundle an archive step wrote (from the repository root), from its listing."""
    m = _BUNDLE.search(text)
    return text.split("\n", 1)[0].removeprefix("archive into ").removesuffix(":") + m.group(1) if m else None


def said_of(tree: str, text: str, notes: list[str], bundle: str | None = None) -> str | None:
    """What one carried-out step did, in a few words (None: not worth a word), from removal's step text;
    `bundle`: the tree's verified bundle, if its archive step made one."""
    first = text.split("\n", 1)[0]
    note = "; ".join(notes)
    if first.startswith("archive into "):
        dest = first.removeprefix("archive into ").removesuffix(":")
        return f"archived to {dest}" + (f" ({note})" if note.startswith("bundle NOT verified") else "")
    if first.startswith("git worktree remove"):
        return f"removed trees/{tree}"
    if first.startswith(("git worktree prune", "release the ports", "forget ")):
        return None  # bookkeeping every cleanup does
    if notes:
        return note  # e.g. "kept branch x-2: it moved since the archive was made"
    if m := _DELETE.match(first):
        if m.group(3) is None:  # adopted, or merged: no bundle needed
            return f"deleted branch {m.group(1)}: {m.group(2)}"
        return f"deleted branch {m.group(1)}: in verified bundle {bundle or 'its archive'}"
    for verb, done in (("move ", "moved "), ("delete ", "deleted "), ("keep ", "kept "), ("leave ", "left "),
                       ("stop ", "stopped ")):
        if first.startswith(verb):
            return done + first.removeprefix(verb)
    return first


def run(args: argparse.Namespace) -> int:
    layout = _common.layout(args)
    feature = _common.feature_name(args)
    trees = removal.trees(layout, feature, args.tree)
    if not args.dry_run:
        _common.lock(layout, args)  # (a dry run changes nothing: it needs no lock)
    plans = removal.plan(layout, feature, trees, force=args.force, keep_branches=args.keep_branches)
    printer = _Printer(feature, args.dry_run) if args.dry_run or args.verbose else _Summary(feature)
    removal.carry_out(plans, printer, dry_run=args.dry_run)
    printer.finish()
    if args.dry_run:
        print("dry run: nothing was changed")
    else:
        index = layout.archive_index(feature).relative_to(layout.root)
        print(f"archives in {layout.reports(feature).relative_to(layout.root)}/, every round listed in {index} "
              "(each archive's own ARCHIVE.md says how to restore it)")
    return 0
