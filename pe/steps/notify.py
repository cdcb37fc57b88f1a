"""Word when a command is done: the notify command, and a terminal bell after a long run (issue 17).

The command is the manifest's `notify:` or `--notify=COMMAND` (an argv, or a string split like a
shell would, never given to one: pe.config.setup.command). pe runs it when execute, resume, wait or
compare ends with a result of its own (not when interrupted: whoever pressed Ctrl-C is there), with
a JSON summary on its stdin, through pe/proc (its own process group, a time limit). It is a
courtesy: a notifier that fails, hangs or is missing is one warning line, and pe's exit status is
the command's own.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from pe import proc
from pe.config.setup import command as split_command
from pe.config.spec import Feature
from pe.errors import EXIT_OK, PeError
from pe.layout import Layout
from pe.tree import state as treestate
from pe.util import printable

TIMEOUT_S = 30.0  # a desktop notifier or a webhook answers in a second; a hung one must not hold pe
BELL_AFTER_S = 60.0  # a run shorter than this, the person is still looking at it
SCHEMA = 1  # the summary's layout: a notifier script can check it


def add_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--notify", metavar="COMMAND",
        help="run COMMAND when this command ends, a JSON summary on its stdin (feature, exit status, each "
             "tree's state, the recommendation): split like a shell would, run without one; default: the "
             "manifest's notify:, --notify= for none")


def chosen(flag: str | None, feature: Feature) -> tuple[str, ...] | None:
    """The notify command for this run: --notify (empty: none), else the manifest's; PeError if it cannot split."""
    if flag is None:
        return feature.notify
    if not flag.strip():
        return None
    return split_command(flag, "--notify")


def summary(layout: Layout, feature: Feature, action: str, status: int,
            recommended: str | None = None, compared: bool = False) -> dict[str, Any]:
    """What the notify command reads on stdin."""
    trees = []
    for tree in feature.trees:
        found = treestate.of(layout, feature, tree)
        trees.append({"tree": tree.name, "strategy": tree.strategy.name, "state": found.state,
                      "detail": printable(found.detail)})
    out: dict[str, Any] = {
        "schema": SCHEMA, "feature": feature.name, "action": action, "exit_status": status,
        "ok": status == EXIT_OK, "repository": str(layout.root), "trees": trees,
    }
    if compared:
        out["recommended"] = recommended
        out["report"] = str(layout.reports(feature.name).relative_to(layout.root) / "IMPLEMENTATION_COMPARISON.md")
    return out


def send(argv: Sequence[str], data: dict[str, Any], *, cwd: Path, timeout: float | None = None,
         err: TextIO | None = None) -> bool:
    """Run the notify command with `data` on its stdin; False (and one warning line) if it failed."""
    err = err or sys.stderr
    timeout = TIMEOUT_S if timeout is None else timeout
    try:
        proc.run(list(argv), cwd=cwd, timeout=timeout, stdin_text=json.dumps(data, indent=2) + "\n")
        return True
    except proc.ProcError as exc:
        said = exc.stderr.strip().splitlines()
        why = (f"timed out after {timeout:g}s" if exc.returncode == -9 else f"exit {exc.returncode}") + \
            (f": {said[-1][:200]}" if said and exc.returncode != -9 else "")
    except OSError as exc:  # not found, not executable
        why = exc.strerror or str(exc)
    print(f"pe: warning: notify command {printable(argv[0])!r} failed ({printable(why)}); "
          "the command's own result stands", file=err)
    return False


def bell(started: float, *, out: TextIO | None = None, now: Callable[[], float] = time.monotonic) -> bool:
    """A terminal bell when a run that took longer than BELL_AFTER_S ends on a terminal; whether it rang."""
    out = out or sys.stderr
    if now() - started <= BELL_AFTER_S or not out.isatty():
        return False
    try:
        out.write("\a")
        out.flush()
    except OSError:  # the terminal went away
        return False
    return True


def finished(layout: Layout, features: Sequence[Feature], action: str, status: int, *, flag: str | None,
             started: float, recommended: str | None = None, compared: bool = False) -> None:
    """What every notifying command does last: each feature's notify command, then the bell."""
    for feature in features:
        try:
            argv = chosen(flag, feature)
        except PeError as exc:  # checked at the start (check_flag); a manifest's was at load
            print(f"pe: warning: {exc}", file=sys.stderr)
            continue
        if argv:
            send(argv, summary(layout, feature, action, status, recommended, compared), cwd=layout.root)
    bell(started)


def check_flag(flag: str | None) -> None:
    """--notify that cannot be split: exit 3 before any work, like every other bad flag."""
    if flag is not None and flag.strip():
        split_command(flag, "--notify")
