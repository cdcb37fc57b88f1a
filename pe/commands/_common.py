"""Arguments and steps shared by several actions."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

from pe import git
from pe.errors import LockHeld, PeError
from pe.layout import Layout, check_feature_name
from pe.lock import RepoLock, describe_command

if TYPE_CHECKING:
    from pe.config.spec import Feature, Overrides

# The manifest's types, the stamps and the cache are imported where they are used: every action
# imports this module to build its parser, and `pe status` starts its git processes before it
# imports what reads manifests (pe/commands/status.py; issue 18).


def _count(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if not 1 <= n <= 50:
        raise argparse.ArgumentTypeError(f"expected 1 to 50, got {n}")
    return n


def add_repo(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dir", type=Path, default=None, help="the repository (default: the current directory)")


def add_feature(parser: argparse.ArgumentParser, required: bool = True) -> None:
    parser.add_argument("--feature", required=required, metavar="NAME", help="the feature (features/NAME.yaml)")


def add_overrides(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("overrides (for this run; the manifest is not changed)")
    g.add_argument("--plan", metavar="PATH", help="the plan file, relative to the repository root")
    g.add_argument("--count", type=_count, metavar="N", help="number of trees (1-50)")
    g.add_argument(
        "--strategy",
        metavar="NAME[,NAME...]",
        help="one strategy for every tree (best-of-N), or a comma list, one per tree: "
        "simple, performance, extensible, innovative, or a custom name from the manifest; "
        "or auto: the mix this repository's run history proposes, written to the manifest",
    )
    g.add_argument("--base", metavar="REF", help="git ref the trees start from (default: the current branch)")
    g.add_argument("--jobs", type=_count, metavar="N", help="agents at the same time (default: count)")
    g.add_argument("--timeout", metavar="DURATION", help="per-agent time limit: seconds, or e.g. 45m, 2h")
    g.add_argument(
        "--agent",
        metavar="PRESET[:N,...]",
        help="the agent for every tree (e.g. claude), or a mix across trees for a cross-agent "
        "comparison (e.g. claude:2,codex:1), or auto: the mix the run history proposes",
    )


def add_agent_command(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--agent-command",
        metavar="ARGV",
        help="run this program as every tree's agent (preset command): written to a new manifest, "
        "else for this run only; placeholders {prompt_file} {tree} {strategy} {index} {feature}",
    )


def add_sandbox(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sandbox", choices=("auto", "bwrap", "none"),
        help="where tree code runs, for this run: bwrap (bubblewrap: the agent may write only its tree, its git "
        "admin dir, the object store and its CLI's state), none, or auto (bwrap when it works here; the default)",
    )


def add_lock(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--wait", action="store_true", help="wait for another pe command to finish instead of failing")


def agent_command(args: argparse.Namespace) -> tuple[str, ...] | None:
    """--agent-command, split like a shell would (it is run without one)."""
    value = getattr(args, "agent_command", None)
    if value is None:
        return None
    try:
        argv = shlex.split(value)
    except ValueError as exc:
        raise PeError(f"--agent-command: {exc}") from None
    require(bool(argv), "--agent-command: empty command")
    return tuple(argv)


def overrides(args: argparse.Namespace) -> Overrides:
    from pe.config.spec import Overrides

    return Overrides(
        plan=getattr(args, "plan", None),
        count=getattr(args, "count", None),
        strategy=getattr(args, "strategy", None),
        base=getattr(args, "base", None),
        jobs=getattr(args, "jobs", None),
        timeout=getattr(args, "timeout", None),
        agent=getattr(args, "agent", None),
        agent_command=agent_command(args),
        sandbox=getattr(args, "sandbox", None),
    )


def layout(args: argparse.Namespace) -> Layout:
    cwd = (args.dir or Path.cwd()).resolve()
    return Layout(git.toplevel(cwd))


def feature_name(args: argparse.Namespace) -> str:
    return check_feature_name(args.feature)


def lock(layout: Layout, args: argparse.Namespace, *, history: bool = True) -> RepoLock:
    """Take the repository lock (released when the process ends).

    Taking it repairs what a killed pe left (its children stopped, an adoption finished) and seals an
    earlier pe's stamps. `history=False`: a command that changes nothing (a no-op resume) does not
    open the history database either.
    """
    from pe import cache
    from pe.tree import stamps

    repo_lock = RepoLock(layout.lock_file)
    repo_lock.acquire(describe_command(), wait=getattr(args, "wait", False))
    after_lock(layout)
    cache.flush(layout.state)  # .pe/ exists now: keep what loading the manifest computed
    stamps.seal_repository(layout)  # before any step writes a stamp (see pe/tree/stamps.py)
    if not history:
        return repo_lock
    # The run history, from the state as it is before this command changes or forgets any of it
    # (cleanup forgets a tree's records; a pe killed -9 could not record its own end); and again
    # when the command ends (pe/main.py). Imported here: sqlite is for the commands that lock.
    from pe.history import sync

    sync.after_lock(layout, lambda: _features(layout, args))
    return repo_lock


def _features(layout: Layout, args: argparse.Namespace) -> list[Feature]:
    """The command's feature as it sees it (its flags applied), or, with none named, every feature whose
    manifest loads; one that does not load is left out (the command itself says what is wrong)."""
    from pe.config import manifest
    from pe.config.spec import Overrides

    name = getattr(args, "feature", None)
    try:
        ov = overrides(args) if isinstance(name, str) else Overrides()
    except PeError:
        ov = Overrides()
    out = []
    for each in [name] if isinstance(name, str) else manifest.feature_names(layout):
        try:
            out.append(manifest.load(layout, each, ov))
        except (PeError, OSError):
            continue
    return out


def after_lock(layout: Layout) -> None:
    """What every command does first once it holds the repository lock (pe doit too: pe/dodo.py)."""
    from pe.lifecycle import adoption_journal  # a stat, unless a killed pe adopt left work

    adoption_journal.finish_after_lock(layout)


def require(condition: bool, message: str) -> None:
    if not condition:
        raise PeError(message)


def settle(layout: Layout, features: list[Feature]) -> list[str]:
    """Finish the bookkeeping of agents that ended while no pe was there; the trees settled.

    For the read-only commands (status, recover): only when something needs it, and only
    if the repository lock is free (a pe that holds it is waiting for those agents itself).
    """
    from pe.tree.runrecord import needs_settling

    todo = [f for f in features if needs_settling(layout, [t.name for t in f.trees])]
    if not todo:
        return []
    from pe.steps import agent as agent_step
    from pe.tree import stamps

    repo_lock = RepoLock(layout.lock_file)
    try:
        repo_lock.acquire(describe_command())
    except LockHeld:
        return []
    try:
        after_lock(layout)
        stamps.seal_repository(layout)
        return [name for f in todo for name in agent_step.settle(layout, f)]
    finally:
        repo_lock.release()
