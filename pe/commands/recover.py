"""pe recover: find what a crash left behind and say exactly what to run. Read-only."""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict

from pe.commands import _common
from pe.errors import EXIT_USAGE
from pe.fsutil import write_atomic
from pe.layout import Layout
from pe.lifecycle import recovery
from pe.lifecycle.recovery import Finding
from pe.util import now_iso

NAME = "recover"
HELP = "find every tree a crash left behind, classify it, and print the command that fixes it (read-only)"
DESCRIPTION = """\
Discovers trees from the manifests, `git worktree list`, directories under
trees/ that git does not know, and branches named <feature>-<n>. Classifies
each: done, running, resumable (what it had done), crashed with uncommitted
work, setup failed, not started, half-created, locked initializing entry,
prunable entry, orphaned directory, branch without a tree. Prints the
recommended command for each and writes reports/<feature>/RECOVERY.md, plus,
for unfinished trees, the PROGRESS.md that `pe resume` would give the agent
(reports/<feature>/recovery/<tree>.PROGRESS.md).

It changes nothing in git, in the trees or in pe's records under .pe/: it only
writes reports/.
Run the printed commands from the repository root.

examples:
  pe recover
  pe recover --feature=auth-system
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _common.add_feature(parser, required=False)
    _common.add_repo(parser)


def report(layout: Layout, feature: str, findings: list[Finding]) -> str:
    from tabulate import tabulate

    rows = [[f.tree, f.kind, f.commands[0].split("   #")[0] if f.commands else ""] for f in findings]
    out = [f"# Recovery report: {feature}", "",
           f"_Generated {now_iso()} by `pe recover`. Read-only: nothing in git, the trees or pe's records was changed. "
           "Run the commands from the repository root._", "",
           tabulate(rows, headers=["tree", "finding", "recommended command"], tablefmt="github"), ""]
    for f in findings:
        out += [f"## {f.tree}: {f.kind}", "", f.summary + ("" if f.in_manifest else " (not in the manifest)"), ""]
        out += [f"- {fact}" for fact in f.facts]
        if f.facts:
            out.append("")
        if f.progress is not None:
            out += [f"- PROGRESS.md as `pe resume` would write it: recovery/{f.tree}.PROGRESS.md", ""]
        out += ["Recommended:", "", "```sh", *f.commands, "```", ""]
    return "\n".join(out)


def run(args: argparse.Namespace) -> int:
    layout = _common.layout(args)
    only = _common.feature_name(args) if args.feature else None
    findings, errors = recovery.recover(layout, only)
    for err in errors:
        print(f"pe: error: {err}", file=sys.stderr)
    if not findings:
        print("nothing to recover: no trees, worktrees or tree branches found")
        return EXIT_USAGE if errors else 0
    by_feature: dict[str, list[Finding]] = defaultdict(list)
    for f in findings:
        by_feature[f.feature].append(f)
    width = max(len(f.tree) for f in findings)
    for feature, group in by_feature.items():
        # Trees whose feature cannot be named get one report at reports/RECOVERY.md.
        out_dir = layout.reports(feature) if feature != "?" else layout.root / "reports"
        path = out_dir / "RECOVERY.md"
        for f in group:
            if f.progress is not None:
                write_atomic(out_dir / "recovery" / f"{f.tree}.PROGRESS.md", f.progress)
        write_atomic(path, report(layout, feature, group))
        print(f"{feature}: {path.relative_to(layout.root)}")
        for f in group:
            print(f"  {f.tree:<{width}}  {f.kind}: {f.summary}")
            for cmd in f.commands:
                print(f"  {'':<{width}}    $ {cmd}")
    return EXIT_USAGE if errors else 0
