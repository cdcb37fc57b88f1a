"""pe stop: stop the agents that run under their supervisors, and finish their bookkeeping."""

from __future__ import annotations

import argparse

from pe import util
from pe.commands import _common
from pe.config import manifest
from pe.errors import PeError
from pe.steps import agent as agent_step

NAME = "stop"
DESCRIPTION = """\
Stop the running agents of a feature (or one tree), wherever they were started
(`pe execute --detach`, a pe that was killed or detached): each gets SIGTERM
through its supervisor, then SIGKILL after a grace period, with everything it
started. What the agent left is committed to its branch as a checkpoint, and
the tree is recorded as interrupted: `pe resume` continues it later.

examples:
  pe stop --feature=auth-system
  pe stop --feature=auth-system --tree=auth-system-2
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _common.add_feature(parser)
    parser.add_argument("--tree", metavar="NAME", help="stop only this tree's agent")
    _common.add_repo(parser)
    _common.add_lock(parser)


def run(args: argparse.Namespace) -> int:
    layout = _common.layout(args)
    feature = manifest.load(layout, _common.feature_name(args))
    trees = [t for t in feature.trees if args.tree in (None, t.name)]
    if not trees:
        names = ", ".join(t.name for t in feature.trees)
        raise PeError(f"--tree: {args.tree!r} is not a tree of {feature.name} ({names})")
    _common.lock(layout, args)
    stopped = dict(zip((t.name for t in trees), util.parallel(lambda t: agent_step.stop(layout, feature, t), trees,
                                                              workers=max(1, len(trees))), strict=True))
    for name, state in stopped.items():
        print(f"{name}: {'no agent running' if state is None else f'stopped ({state})'}")
    if any(state is not None for state in stopped.values()):
        print(f"\ncontinue later with: pe resume --feature={feature.name}")
    return 0
