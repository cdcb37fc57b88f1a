"""pe status: where every tree stands. Read-only and lock-free, so it works while execute runs."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict

from pe.commands import _common
from pe.config import manifest
from pe.config.spec import Feature
from pe.errors import EXIT_USAGE, PeError
from pe.layout import Layout
from pe.tree import overview, progress
from pe.tree.results import PROGRESS_FILE

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
    if feature:
        return [manifest.load(layout, feature)], []
    found, errors = [], []
    for name in manifest.feature_names(layout):
        try:
            found.append(manifest.load(layout, name))
        except PeError as exc:
            errors.append(str(exc))  # one bad manifest must not hide every other feature
    return found, errors


def _frame(layout: Layout, features: list[Feature], as_json: bool) -> str:
    found = overview.rows(layout, features)
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


def run(args: argparse.Namespace) -> int:
    layout = _common.layout(args)
    features, errors = load_features(layout, args.feature)
    for err in errors:
        print(f"pe: error: {err}", file=sys.stderr)
    if args.watch is not None and args.watch <= 0:
        raise PeError(f"--watch: expected a positive number of seconds, got {args.watch:g}")
    for name in _common.settle(layout, features):  # agents that ended while no pe was there
        print(f"{name}: finished the bookkeeping of the agent that ended while no pe was running", file=sys.stderr)
    if args.refresh_progress:
        for name in progress.refresh_unfinished(layout, features):
            print(f"refreshed trees/{name}/{PROGRESS_FILE}", file=sys.stderr)
    if args.watch is not None:
        return watch(layout, features, args.watch, args.json)
    if features or not errors:  # "no features yet" would be wrong beside a manifest that does not load
        print(_frame(layout, features, args.json))
    return EXIT_USAGE if errors else 0
