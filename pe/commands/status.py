"""pe status: where every tree stands. Read-only and lock-free, so it works while execute runs."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from pe import gitfacts, util
from pe.commands import _common
from pe.errors import EXIT_USAGE, PeError
from pe.layout import PROGRESS_FILE, Layout
from pe.tree.ahead import ScansAhead, made_trees

if TYPE_CHECKING:
    from pe.config.spec import Feature

# The manifests, the rows and their table are imported in run(), after every tree's `git status`
# has started (ScansAhead): the imports then overlap the git processes (issue 18).

NAME = "status"
DESCRIPTION = """\
One row per tree. States: pending, not set up, setting up (while setup runs),
setup failed, ready (agent not started), running (with pid), done, failed
(with reason), interrupted, stale (the plan, strategy or agent changed since
it finished). Commits, files and lines are the tree's committed change against
its base (RESULTS.md and PROGRESS.md not counted); "uncommitted" counts entries `git status` shows;
"done %" is the share of ticked checklist items in PROGRESS.md. Read-only and
lock-free: it works while execute runs. --json gives the same rows with every
field (see the README).

examples:
  pe status
  pe status --feature=auth-system --json
  pe status --watch            # redraw every 2 s until ^C
  pe status --refresh-progress # also rewrite PROGRESS.md of unfinished trees
"""

def add_arguments(parser: argparse.ArgumentParser) -> None:
    _common.add_feature(parser, required=False)
    parser.add_argument("--json", action="store_true", help="print the rows as JSON (fields: see the README)")
    parser.add_argument("--watch", nargs="?", type=float, const=2.0, default=None, metavar="SECONDS",
                        help="redraw every SECONDS (default 2) until ^C")
    parser.add_argument("--refresh-progress", action="store_true",
                        help="rewrite PROGRESS.md of every started, unfinished, not running tree (agent's text kept)")
    _common.add_repo(parser)


def load_features(layout: Layout, feature: str | None) -> tuple[list[Feature], list[str]]:
    """The features to show, and one-line errors for manifests that do not load."""
    from pe.config import manifest

    if feature:
        return [manifest.load(layout, feature)], []
    found, errors = [], []
    for name in manifest.feature_names(layout):
        try:
            found.append(manifest.load(layout, name))
        except PeError as exc:
            errors.append(str(exc))  # one bad manifest must not hide every other feature
    return found, errors


def _frame(layout: Layout, features: list[Feature], as_json: bool,
           scans: Mapping[Path, gitfacts.Scan] | None = None) -> str:
    from pe.tree import overview

    if features and not as_json and scans is not None:
        util.load_tabulate()  # while the trees' scans run, not after the last one (issue 18)
    found = overview.rows(layout, features, scans)
    if as_json:
        return json.dumps([asdict(r) for r in found], indent=2)
    if not found:
        return "no features yet: pe init --feature=NAME --plan=PATH"
    return overview.render(found)


def watch(layout: Layout, features: list[Feature], interval: float, as_json: bool) -> int:
    tty = sys.stdout.isatty()
    try:
        while True:
            frame = _frame(layout, features, as_json)
            stamp = time.strftime("%H:%M:%S")
            if tty:
                # Clear and home the cursor: one table on screen, redrawn in place.
                sys.stdout.write(f"\x1b[H\x1b[2J{stamp}  pe status (every {interval:g}s, ^C to stop)\n\n{frame}\n")
            else:
                sys.stdout.write(f"--- {stamp}\n{frame}\n")
            sys.stdout.flush()
            time.sleep(interval)
    except KeyboardInterrupt:
        return 0  # ^C is how a watch ends, not an error


def _scans_ahead(layout: Layout, feature: str | None) -> ScansAhead:
    """Every tree's `git status`, started before anything else is read (see the imports above): the
    manifests are not loaded yet, so the trees are the ones pe made (ahead.made_trees)."""
    return ScansAhead(made_trees(layout, feature))


def run(args: argparse.Namespace) -> int:
    layout = _common.layout(args)
    if args.watch is not None and args.watch <= 0:
        raise PeError(f"--watch: expected a positive number of seconds, got {args.watch:g}")
    # (not for --watch: each of its frames scans afresh)
    scans = _scans_ahead(layout, args.feature) if args.watch is None else None
    try:
        return _show(layout, args, scans)
    finally:
        if scans is not None:
            scans.close()


def _show(layout: Layout, args: argparse.Namespace, scans: ScansAhead | None) -> int:
    features, errors = load_features(layout, args.feature)
    for err in errors:
        print(f"pe: error: {err}", file=sys.stderr)
    for name in _common.settle(layout, features):  # agents that ended while no pe was there
        scans = None  # settling committed in that tree: its scan predates the commit
        print(f"{name}: finished the bookkeeping of the agent that ended while no pe was running", file=sys.stderr)
    if args.refresh_progress:
        from pe.tree import progress

        for name in progress.refresh_unfinished(layout, features):
            scans = None  # PROGRESS.md rewritten since the scans started
            print(f"refreshed trees/{name}/{PROGRESS_FILE}", file=sys.stderr)
    if args.watch is not None:
        return watch(layout, features, args.watch, args.json)
    if features or not errors:  # "no features yet" would be wrong beside a manifest that does not load
        print(_frame(layout, features, args.json, scans))
    return EXIT_USAGE if errors else 0
