"""The commit compare judges: a clean checkout of a tree's branch tip, set up the way a fresh tree is.

Checks used to run in the tree itself, with its uncommitted and ignored files: a tree whose
commits were broken but whose working files passed was recommended, and `pe adopt`, which takes
the branch, shipped the broken commit (issue 13). Now each finished tree's checks run in
.pe/judged/<tree>/, a detached worktree at exactly the commit adopt would take, and that commit is
what evidence.json records as the tree's `head`.

Setup, as for a fresh tree (pe/steps/setup.py): the main checkout's `copy:`/`symlink:` files are
carried, and the env file is written with the checkout as the tree directory (same ports, same
variables). Installs are not run again: the tree's own install output (node_modules, .venv: what
its setup stamp lists as generated) is linked in. An install takes seconds to minutes and the
network; a link takes nothing, and the tree's setup re-runs its install whenever a lockfile
changes, so its output is that of the committed lockfiles. The limit: a package installed in
editable mode into the tree's .venv points at the tree's files, not the checkout's.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pe import git
from pe.config.spec import Feature, TreeSpec
from pe.layout import Layout
from pe.proc import ProcError
from pe.tree import stamps
from pe.treesetup import carry, envfile, ports


@dataclass
class Judged:
    """One tree's checkout for its checks: where, at which commit, with which variables."""

    tree: str
    commit: str
    dir: Path
    env: dict[str, str]
    carried: list[str] = field(default_factory=list)  # from the main checkout, as a fresh tree's setup does
    linked: list[str] = field(default_factory=list)  # the tree's install output, linked in
    seconds: float = 0.0  # what making it cost

    def to_json(self) -> dict[str, Any]:
        return {"commit": self.commit, "dir": str(self.dir), "carried": self.carried, "linked": self.linked,
                "seconds": round(self.seconds, 3)}


def _within(path: Path, top: Path) -> bool:
    """`path` (existing or not) resolves to `top` or below it: no link of the commit's leads out."""
    real, real_top = os.path.realpath(path), os.path.realpath(top)
    return real == real_top or real.startswith(real_top + os.sep)


def _install_outputs(layout: Layout, tree: str, env_file: str) -> list[str]:
    """The tree's install output (its setup stamp's `generated` dirs, not the env file), relative."""
    generated, _ = stamps.setup_created(layout, tree)
    rels = [g.strip("/") for g in generated]
    return [r for r in rels if r and r != env_file and ".." not in r.split("/")]


def _link_installs(layout: Layout, tree: str, work: Path, env_file: str) -> list[str]:
    """Link the tree's install output into `work`, where the commit has nothing of that name."""
    tree_dir = layout.tree(tree)
    linked = []
    for rel in _install_outputs(layout, tree, env_file):
        src, dest = tree_dir / rel, work / rel
        if not src.is_dir() or os.path.lexists(dest) or not _within(dest.parent, work):
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.symlink_to(src, target_is_directory=True)
        linked.append(rel)
    return linked


def prepare(layout: Layout, feature: Feature, tree: TreeSpec, commit: str) -> Judged:
    """Check `commit` (the tree's branch tip) out into .pe/judged/<tree>/ and set it up for checks."""
    t0 = time.monotonic()
    work = layout.judged(tree.name)
    if os.path.lexists(work):
        remove(layout, work, feature.setup.env_file)  # a killed compare's: under the repository lock, nobody else's
    work.parent.mkdir(parents=True, exist_ok=True)
    with git.mutation_lock(layout.git_lock_file):
        git.prune(layout.root)  # an entry whose directory went (a killed compare's, removed by hand) blocks the add
        git.add_detached_worktree(layout.root, work, commit)
    git.checkout_tree(work)  # outside the lock: trees check out side by side
    cfg = feature.setup
    got = carry.carry(layout.root, work, cfg.copy, cfg.symlink, cfg.env_file)
    envfile.tree_env(layout, feature, tree)  # the tree's ports: leased if it holds none
    env = envfile.build(cfg, feature=feature.name, tree=tree.name, index=tree.index,
                        ports=ports.leased(layout, tree.name), tree_dir=work, root=layout.root)
    envfile.write(work / cfg.env_file, env, tree.name)
    linked = _link_installs(layout, tree.name, work, cfg.env_file)
    return Judged(tree.name, commit, work, env, got.paths, linked, time.monotonic() - t0)


def remove(layout: Layout, work: Path, env_file: str) -> None:
    """Remove a judged checkout: the links to its tree's installs first, then git's entry and the files.

    (Neither git nor shutil.rmtree follows a link; unlinking them first keeps it so whatever they do.)
    """
    for rel in _install_outputs(layout, work.name, env_file):
        if (work / rel).is_symlink() and _within((work / rel).parent, work):
            (work / rel).unlink()
    with git.mutation_lock(layout.git_lock_file):
        try:
            git.remove_worktree(layout.root, work, force=2)
        except ProcError:
            pass  # not registered (any more): the directory goes below, the entry with prune
        git.prune(layout.root)
    shutil.rmtree(work, ignore_errors=True)


def remove_stale(layout: Layout, env_file: str) -> None:
    """Remove the checkouts a killed compare left (the caller holds the repository lock)."""
    top = layout.judged_checkouts()
    if not top.is_dir():
        return
    for entry in sorted(top.iterdir()):
        remove(layout, entry, env_file)
