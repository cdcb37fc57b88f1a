"""pe synthesize: one more tree that starts from the recommended one and brings in the others' strengths."""

from __future__ import annotations

import argparse
import sys

from pe.commands import _common
from pe.commands.compare import Progress
from pe.compare import checks, report, synthesis
from pe.config import manifest
from pe.engine import runner as engine
from pe.errors import EXIT_FAILED, EXIT_OK, EXIT_SIGINT, EXIT_SIGTERM

NAME = "synthesize"
DESCRIPTION = """\
After pe compare: makes tree <feature>-s<k> on its own branch, started from the
base tree's branch tip (default: the recommended tree), set up like every tree,
and runs its agent (default: the base tree's) with a synthesis brief
(.pe/synthesis/<tree>.md): the plan, the comparison report, and for each --from
tree (default: the other eligible trees) its diff against the base, its
RESULTS.md, and what pe measured where it beat the base tree (a faster bench,
tests of its that the base tree fails, fewer dependencies, a smaller change).
The agent keeps the base tree's design and brings those strengths in. Then the
trees are compared again: the synthesis is recommended only if it passes every
check and scores above every original; else the report says what it lost on.
The synthesis is recorded in the manifest's synthesis: list, so status,
resume (after a crash), recover, compare, adopt and cleanup treat it like any
tree.

Refuses (exit 3) when there is no comparison yet, when a tree's branch moved
since it, or when fewer than two trees are eligible.

exit status: 0 a tree is recommended, 1 none is or the synthesis agent did not
finish (pe resume continues it), 3 bad input, 130/143 interrupted

examples:
  pe synthesize --feature=auth-system
  pe synthesize --feature=auth-system --base-tree=auth-system-2 --from=auth-system-1,auth-system-3 --agent=claude
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _common.add_feature(parser)
    parser.add_argument("--base-tree", metavar="TREE", help="the tree whose design it keeps (default: the recommended)")
    parser.add_argument("--from", dest="sources", metavar="TREES",
                        help="comma-separated trees to take strengths from (default: the other eligible trees)")
    parser.add_argument("--agent", metavar="PRESET", help="the synthesis agent's preset (default: the base tree's)")
    _common.add_repo(parser)
    _common.add_lock(parser)


def run(args: argparse.Namespace) -> int:
    layout = _common.layout(args)
    feature = manifest.load(layout, _common.feature_name(args))
    sources = [s.strip() for s in args.sources.split(",") if s.strip()] if args.sources else None
    _common.lock(layout, args)  # the checks below read what a concurrent command could be changing
    s = synthesis.plan(layout, feature, base=args.base_tree, sources=sources, agent=args.agent)
    synthesis.write_brief(layout, feature, s)
    feature = synthesis.add(layout, feature, s)
    print(f"{s.tree}: from {s.base} ({s.start[:12]}), bringing in {', '.join(s.sources)}; "
          f"brief in {s.brief.relative_to(layout.root)}; recorded in features/{feature.name}.yaml (check it in)")
    plan = engine.make_plan(layout, [feature])
    rc = engine.run_tasks(plan, [f"agent:{s.tree}"], jobs=1)
    if rc in (EXIT_SIGINT, EXIT_SIGTERM):
        print(f"\nthe synthesis is stopped; continue with: pe resume --feature={feature.name}", file=sys.stderr)
        return rc
    if rc != EXIT_OK:
        print(f"{s.tree}: its agent did not finish; see pe logs --feature={feature.name} --tree={s.tree}, "
              f"then: pe resume --feature={feature.name}")
        return EXIT_FAILED
    progress = Progress(sys.stdout)
    with checks.reporting(progress):
        c, written = report.build(layout, feature, plan_tests=feature.plan_tests)
    print()
    print("\n".join(report.summary_lines(c, written, layout.root)))
    return EXIT_OK if c.recommended is not None else EXIT_FAILED
