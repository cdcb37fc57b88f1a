"""pe status: where every tree stands. Read-only and lock-free."""

from __future__ import annotations

import argparse
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

from pe import git, manifest, treestate
from pe.commands import _common
from pe.layout import Layout
from pe.manifest import Feature, TreeSpec
from pe.steps.worktree import tree_base

NAME = "status"
ORDER = 40
HELP = "a table of every tree: strategy, agent, state, commits, changes"
DESCRIPTION = """\
One row per tree. States: pending, setting up, setup failed, ready, running
(with pid), done, failed (with reason), interrupted, stale (the plan, strategy
or agent changed since it finished). Works while execute runs.

examples:
  pe status
  pe status --feature=auth-system --json
"""


@dataclass
class Row:
    feature: str
    tree: str
    strategy: str
    agent: str
    state: str
    detail: str
    attempts: int
    elapsed_s: float | None
    commits: int | None
    files_changed: int | None
    uncommitted: int | None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _common.add_feature(parser, required=False)
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    _common.add_repo(parser)


def _row(layout: Layout, feature: Feature, tree: TreeSpec) -> Row:
    st = treestate.of(layout, feature, tree)
    commits = files = dirty = None
    tree_dir = layout.tree(tree.name)
    base = tree_base(layout, tree.name)
    if base is not None and (tree_dir / ".git").exists():
        commits = git.commits_ahead(tree_dir, base)
        files = len(git.changed_files(tree_dir, base))
        dirty = len(git.status_porcelain(tree_dir))
    agent = tree.agent.preset + (f" ({tree.agent.model})" if tree.agent.model else "") if tree.agent else "-"
    return Row(feature.name, tree.name, tree.strategy.name, agent, st.state, st.detail,
               st.record.attempts, st.record.duration_s, commits, files, dirty)


def rows(layout: Layout, features: list[Feature]) -> list[Row]:
    pairs = [(f, t) for f in features for t in f.trees]
    # Per-tree git calls are independent: run them side by side.
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(lambda p: _row(layout, *p), pairs))


def render(found: list[Row]) -> str:
    from tabulate import tabulate

    def cell(v: Any) -> Any:
        return "" if v is None else v

    table = [
        [r.tree, r.strategy, r.agent, r.state + (f": {r.detail}" if r.detail else ""),
         f"{r.elapsed_s:.0f}s" if r.elapsed_s is not None else "", cell(r.commits), cell(r.files_changed),
         cell(r.uncommitted)]
        for r in found
    ]
    return tabulate(table, headers=["tree", "strategy", "agent", "state", "agent time", "commits", "files", "uncommitted"])


def table(layout: Layout, features: list[Feature]) -> str:
    return render(rows(layout, features))


def run(args: argparse.Namespace) -> int:
    layout = _common.layout(args)
    if args.feature:
        features = [manifest.load(layout, _common.feature_name(args))]
    else:
        features = manifest.load_all(layout)
    found = rows(layout, features)
    if args.json:
        print(json.dumps([asdict(r) for r in found], indent=2))
    elif not found:
        print("no features yet: pe init --feature=NAME --plan=PATH")
    else:
        print(render(found))
    return 0
