"""pe wait: wait for the agents that run under their supervisors, and finish their bookkeeping."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
import time

from pe import gitfacts, proc, util
from pe.commands import _common
from pe.config.spec import Feature, TreeSpec
from pe.errors import EXIT_FAILED, EXIT_OK, Interrupted, PeError, exit_status
from pe.layout import Layout
from pe.steps import agent as agent_step
from pe.steps import notify
from pe.tree import overview, stamps

NAME = "wait"
DESCRIPTION = """\
Re-attach to every agent of the feature that runs under its supervisor (after
`pe execute --detach`, a SIGHUP, or a pe that was killed), show each as it ends,
and finish its bookkeeping (checkpoint commit, RESULTS.md check, stamp, run
record) exactly as execute would have. Starts no agent. Ctrl-C, SIGTERM and
SIGHUP stop the waiting, not the agents: run `pe wait` again to pick them up,
`pe stop` to stop them.

exit status: 0 every tree done, 1 some tree failed or never ran (pe resume),
             2 --timeout passed with agents still running (they go on), 3 bad input

examples:
  pe wait --feature=auth-system
  pe wait --feature=auth-system --timeout=9m     # in a loop, under Claude Code's 10-minute limit
"""
EXIT_STILL_RUNNING = 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _common.add_feature(parser, required=False)
    parser.add_argument("--timeout", metavar="DURATION", default=None,
                        help="stop waiting after this long (e.g. 90s, 9m); the agents go on")
    _common.add_repo(parser)
    _common.add_lock(parser)
    notify.add_argument(parser)


def _deadline(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return time.monotonic() + util.parse_duration(value)
    except ValueError:
        raise PeError(f"--timeout: {value!r} is not a duration (e.g. 90s, 9m, 1h)") from None


def wait(layout: Layout, features: list[Feature], deadline: float | None) -> dict[str, str | None]:
    """tree -> what collect() said: its state after the wait, "running", or None (nothing to wait for)."""
    trees = [(f, t) for f in features for t in f.trees]
    printing = threading.Lock()

    def one(item: tuple[Feature, TreeSpec]) -> str | None:
        feature, tree = item
        state = agent_step.collect(layout, feature, tree, "", deadline)
        if state not in (None, "running"):
            with printing:
                print(f"{util.now_iso()} {tree.name}: {state}", flush=True)
        return state

    return dict(zip((t.name for _, t in trees), util.parallel(one, trees, workers=max(1, len(trees))),
                    strict=True))


def run(args: argparse.Namespace) -> int:
    from pe.commands.status import load_features

    started = time.monotonic()
    notify.check_flag(args.notify)
    layout = _common.layout(args)
    deadline = _deadline(args.timeout)
    features, errors = load_features(layout, args.feature)
    for error in errors:
        print(f"pe: {error}", file=sys.stderr)
    _common.lock(layout, args)
    running = [t.name for f in features for t in f.trees
               if agent_step.running(layout, t) and not stamps.agent_ok(layout, f, t)]
    if running:
        limit = f", for up to {args.timeout}" if args.timeout else ""
        print(f"waiting for {util.plural(len(running), 'agent')}{limit}: {', '.join(running)} "
              "(Ctrl-C stops the waiting, not the agents)", flush=True)
    # Every signal here is a detach: pe wait started none of these agents.
    try:
        with proc.signals_stop_children(detach_on=(signal.SIGHUP, signal.SIGINT, signal.SIGTERM)):
            states = wait(layout, features, deadline)
    except (KeyboardInterrupt, Interrupted) as exc:
        with contextlib.suppress(OSError):  # SIGHUP: the terminal may be gone
            print("\npe: stopped waiting; the agents go on (pe wait picks them up again)", file=sys.stderr)
        return exit_status(exc.signum) if isinstance(exc, Interrupted) else exit_status(signal.SIGINT)
    trees = [t for f in features for t in f.trees]
    scans = gitfacts.scan_all([layout.tree(t.name) for t in trees])
    print(overview.render(overview.rows(layout, features, scans)))
    still = [name for name, state in states.items() if state == "running"]
    if still:  # no notify: nothing is over yet (a `pe wait --timeout=9m` loop would be told every 9 minutes)
        print(f"\n{util.plural(len(still), 'agent')} still running ({', '.join(still)}); run pe wait again")
        return EXIT_STILL_RUNNING
    rc = EXIT_OK
    undone = [t.name for f in features for t in f.trees if not stamps.agent_ok(layout, f, t)]
    if undone:
        names = ",".join(sorted({f.name for f in features for t in f.trees if t.name in undone}))
        print(f"\nnot done: {', '.join(undone)}; see the logs, then: pe resume --feature={names}")
        rc = EXIT_FAILED
    # Every feature waited for, even one whose agents ended before this wait began: after
    # `pe execute --detach`, the notification is how the user learns they did.
    notify.finished(layout, features, "wait", rc, flag=args.notify, started=started)
    return rc
