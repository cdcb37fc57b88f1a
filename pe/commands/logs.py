"""pe logs: an agent's output (and its setup log), optionally followed live."""

from __future__ import annotations

import argparse
import sys
import time

from pe import util
from pe.commands import _common
from pe.config import manifest
from pe.errors import PeError

NAME = "logs"
DESCRIPTION = """\
Prints .pe/logs/<tree>/agent.log. With no --tree, every tree of the feature,
one after another, each under a header.

examples:
  pe logs --feature=auth-system --tree=auth-system-2 --follow
  pe logs --feature=auth-system --setup
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _common.add_feature(parser)
    parser.add_argument("--tree", metavar="TREE", help="one tree, e.g. auth-system-2")
    parser.add_argument("--follow", "-f", action="store_true", help="keep printing as the log grows (^C to stop)")
    parser.add_argument("--setup", action="store_true", help="the setup log instead of the agent log")
    _common.add_repo(parser)


def run(args: argparse.Namespace) -> int:
    layout = _common.layout(args)
    feature = manifest.load(layout, _common.feature_name(args))
    names = [t.name for t in feature.trees]
    if args.tree and args.tree not in names:
        raise PeError(f"--tree: {args.tree!r} is not a tree of {feature.name} ({', '.join(names)})")
    if args.follow and not args.tree:
        raise PeError("--follow needs --tree")
    trees = [args.tree] if args.tree else names
    fname = "setup.log" if args.setup else "agent.log"
    for tree in trees:
        path = layout.setup_log(tree) if args.setup else layout.agent_log(tree)
        if len(trees) > 1:
            print(f"==> {path.relative_to(layout.root)} <==")
        if not path.exists():
            print(f"(no {fname} yet)")
            continue
        with path.open("rb") as fh:
            # An agent's output: no escape sequence of it reaches the terminal (title, clipboard).
            sys.stdout.write(util.printable(fh.read().decode("utf-8", errors="replace")))
            sys.stdout.flush()
            while args.follow:
                chunk = fh.read()
                if chunk:
                    sys.stdout.write(util.printable(chunk.decode("utf-8", errors="replace")))
                    sys.stdout.flush()
                else:
                    time.sleep(0.5)
    return 0
