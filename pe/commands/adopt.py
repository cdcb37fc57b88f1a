"""pe adopt: bring the chosen tree's work into the base branch (or another), all or nothing."""

from __future__ import annotations

import argparse
import json

from pe import git, gitfacts
from pe.commands import _common
from pe.config import manifest
from pe.errors import PeError
from pe.fsutil import read_json, write_json_atomic
from pe.layout import Layout
from pe.lifecycle import adoption, recovery
from pe.tree import state as treestate
from pe.tree.results import RESULTS_FILE, sections
from pe.util import now_iso

NAME = "adopt"
ORDER = 50
HELP = "bring the winning tree's work into the base branch (--squash, --merge or --rebase)"
DESCRIPTION = """\
Builds the result away from any checkout and moves the target branch only if it
is clean: a conflict is reported with the files involved and the target stays
exactly as it was. Refuses if the checkout that has the target branch has
uncommitted changes. RESULTS.md and PROGRESS.md are not adopted (cleanup
archives them). Refuses a tree that is not done, that failed its checks in the
last `pe compare`, or that has uncommitted changes, unless --force.
Records the adoption in reports/<feature>/ADOPTED.json (cleanup then deletes
that branch) and appends it to reports/history.jsonl (which strategies win).

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
                        help="adopt a tree that is not done, failed its checks, or has uncommitted changes")
    _common.add_repo(parser)
    _common.add_lock(parser)


def _target(layout: Layout, args: argparse.Namespace, base: str | None) -> str:
    into = args.into or base or git.current_branch(layout.root)
    if not into:
        raise PeError("HEAD is detached and the manifest names no base: pass --into=BRANCH")
    if into.startswith("-") or not git.valid_branch_name(layout.root, into):
        raise PeError(f"--into: {into!r} is not a valid branch name")
    if gitfacts.branch_tip(layout.root, into) is None:
        hint = "" if args.into else " (the manifest's base must be a branch to adopt into it; pass --into)"
        raise PeError(f"--into: no branch named {into!r}{hint}")
    return into


def _refusals(layout: Layout, feature: str, tree: str) -> tuple[list[str], str, str | None]:
    """Reasons to refuse without --force; the tree's strategy and agent as recorded."""
    problems: list[str] = []
    strategy, agent = "?", None
    if layout.manifest(feature).exists():
        f = manifest.load(layout, feature)
        spec = next((t for t in f.trees if t.name == tree), None)
        if spec is not None:
            strategy = spec.strategy.name
            if spec.agent is not None:
                agent = spec.agent.preset + (f":{spec.agent.model}" if spec.agent.model else "")
            st = treestate.of(layout, f, spec)
            if st.state != "done":
                problems.append(f"it is not done (state: {st.state}{': ' + st.detail if st.detail else ''})")
    evidence = read_json(layout.reports(feature) / "evidence.json") or {}
    for ev in evidence.get("trees", []):
        if isinstance(ev, dict) and ev.get("tree") == tree and ev.get("state") == "done" and not ev.get("eligible"):
            problems.append("it failed its checks in the last pe compare: " + "; ".join(ev.get("why_not", [])))
    tree_dir = layout.trees / tree
    if (tree_dir / ".git").exists():
        dirty = [p for code, p in gitfacts.status_entries(tree_dir) if code != "!!"]
        if dirty:
            problems.append(f"trees/{tree} has {len(dirty)} uncommitted entries, which would not be adopted")
    return problems, strategy, agent


def _message(layout: Layout, feature: str, tree: str, strategy: str, tip: str) -> str:
    text = gitfacts.show(layout.root, tip, RESULTS_FILE) or ""
    summary = next((v for k, v in sections(text).items() if k.lower() == "approach summary"), "")
    body = f"\n\n{summary.strip()}" if summary.strip() else ""
    return (f"{feature}: adopt {tree} ({strategy} strategy){body}\n\n"
            f"Adopted by pe from branch {tree} at {tip}; its RESULTS.md is archived by pe cleanup.")


def run(args: argparse.Namespace) -> int:
    layout = _common.layout(args)
    feature = _common.feature_name(args)
    tree = args.tree
    if recovery.feature_of(tree) != feature:
        raise PeError(f"--tree={tree}: not a tree of {feature} (trees are named {feature}-<n>)")
    base = manifest.load(layout, feature).base if layout.manifest(feature).exists() else None
    into = _target(layout, args, base)
    tip = gitfacts.branch_tip(layout.root, tree)
    if tip is None:
        raise PeError(f"--tree={tree}: no branch {tree} (cleaned up already? its bundle is in reports/{feature}/)")
    problems, strategy, agent = _refusals(layout, feature, tree)
    if problems and not args.force:
        raise PeError(f"refusing to adopt {tree}: " + "; ".join(problems) + " (pass --force to adopt it anyway)")
    _common.lock(layout, args)
    message = args.message or _message(layout, feature, tree, strategy, tip)
    result = adoption.adopt(layout, branch=tree, into=into, mode=args.mode, message=message)
    evidence = read_json(layout.reports(feature) / "evidence.json") or {}
    record = {
        "feature": feature, "tree": tree, "strategy": strategy, "agent": agent, "into": into, "mode": args.mode,
        "commit": result.commit, "previous": result.previous, "tree_tip": tip, "at": now_iso(),
        "recommended": evidence.get("recommended"), "forced": bool(problems),
    }
    write_json_atomic(layout.adopted(feature), record)
    history = layout.history
    history.parent.mkdir(parents=True, exist_ok=True)
    with history.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(record, sort_keys=True) + "\n")
    print(f"adopted {tree} ({strategy}) into {into} by {args.mode}: {result.commits} commit(s), "
          f"{result.previous[:12]} -> {result.commit[:12]}")
    print(f"recorded in reports/{feature}/ADOPTED.json; next: pe cleanup --feature={feature}")
    return 0
