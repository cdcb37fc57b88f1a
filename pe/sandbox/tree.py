"""What a process that runs a tree's code may write: the policies of an agent, a check and the judge.

Writable: the tree, its git admin directory (HEAD, index: commits on the detached HEAD
pe gives a sandboxed agent), the object store, the CLI's own state, and the manifest's
`sandbox.writable`. Read-only: everything else, the main checkout, `features/`, `.pe/`,
the other trees, `.git/config`, hooks, info and every ref. Inside the writable tree,
its `.git` file and the admin directory's pointers stay read-only: rewritten, they
would point pe's own git commands (outside the sandbox) at a repository of the agent's.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from pe import git
from pe.config.spec import SandboxSpec
from pe.layout import Layout
from pe.sandbox.policy import Policy

# git in the sandbox must not try to write what it cannot: `gc --auto` packs refs
# (packed-refs is shared, read-only) and would fail noisily after an agent's commits.
GIT_ENV = {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "gc.auto", "GIT_CONFIG_VALUE_0": "0"}


def extra_paths(layout: Layout, spec: SandboxSpec, home: Path) -> list[Path]:
    """The manifest's `sandbox.writable`, as absolute paths (~ is the agent's HOME)."""
    out = []
    for raw in spec.writable:
        path = home / raw[2:] if raw == "~" or raw.startswith("~/") else Path(raw)
        out.append(path if path.is_absolute() else layout.root / path)
    return out


def _git_paths(tree_dir: Path) -> tuple[list[Path], list[Path]]:
    """(writable, read-only) git paths of a worktree: its admin dir and objects; its pointers."""
    gitdir, common = git.admin_dirs(tree_dir)
    return [gitdir, common / "objects"], [tree_dir / ".git", gitdir / "commondir", gitdir / "gitdir"]


def for_tree(layout: Layout, tree_dir: Path, spec: SandboxSpec, env: Mapping[str, str],
             state: Iterable[Path] = (), create: Iterable[Path] = ()) -> Policy:
    """The policy of a process that works in `tree_dir`: an agent or an install (`state`: its own
    state and caches, `create`: those of them to make first, as the tool would), a check."""
    home = Path(env.get("HOME") or os.path.expanduser("~"))
    writable, readonly = _git_paths(tree_dir)
    state, create = tuple(state), tuple(create)
    return Policy(writable=(tree_dir, *writable, *state, *create, *extra_paths(layout, spec, home)),
                  readonly=tuple(readonly), cwd=tree_dir, network=spec.network, create=create)


def for_dir(layout: Layout, work: Path, spec: SandboxSpec, env: Mapping[str, str],
            state: Iterable[Path] = ()) -> Policy:
    """The policy of a process that works in a directory of pe's own (the judge's), not a tree."""
    home = Path(env.get("HOME") or os.path.expanduser("~"))
    state = tuple(state)
    create = tuple(p for p in state if not p.exists() and not p.suffix)  # the CLI's dirs, made as it would
    return Policy(writable=(work, *state, *extra_paths(layout, spec, home)), cwd=work, network=spec.network,
                  create=create)
