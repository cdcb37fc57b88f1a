"""worktree:<tree>: create the tree, or repair what a killed run left behind."""

from __future__ import annotations

import functools
import shutil
import time
from pathlib import Path

from pe import git
from pe.errors import PeError
from pe.fsutil import read_json, write_json_atomic
from pe.layout import STATE_DIR, TREES_DIR, Layout
from pe.manifest import TreeSpec
from pe.runrecord import RunRecord, now_iso


def is_done(layout: Layout, tree: TreeSpec) -> bool:
    """Cheap check used as doit's uptodate: stamp present and the tree still there."""
    stamp = read_json(layout.stamp(tree.name, "worktree"))
    return bool(stamp) and (layout.tree(tree.name) / ".git").is_file()


def tree_base(layout: Layout, tree: str) -> str | None:
    """The commit a tree was created from (recorded at creation)."""
    stamp = read_json(layout.stamp(tree, "worktree"))
    return stamp.get("base_sha") if stamp else None


def preflight(layout: Layout, tree: TreeSpec) -> None:
    """Refuse, before anything runs, a directory or a branch of the tree's name that is not pe's.

    pe's own leftovers (a killed `worktree add`) carry the `creating` marker or
    the worktree stamp and are repaired; anything else belongs to the user.
    """
    path = layout.tree(tree.name)
    ours = layout.stamp(tree.name, "creating").exists() or layout.stamp(tree.name, "worktree").exists()
    if path.is_dir() and not (path / ".git").exists() and any(path.iterdir()) and not ours:
        raise PeError(
            f"{path.relative_to(layout.root)} exists and is not a git worktree; "
            "move it away or pick another feature name"
        )
    if not ours and git.branch_exists(layout.root, tree.name):
        raise PeError(
            f"a branch named {tree.name} already exists and pe did not create it; "
            "pick another feature name, or delete or rename that branch"
        )


def _quarantine(layout: Layout, path: Path) -> Path:
    dest = layout.state / "quarantine" / f"{path.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(path), str(dest))
    return dest


@functools.cache
def _exclude_once(root: Path) -> None:
    git.ensure_excluded(root, [f"/{TREES_DIR}/", f"/{STATE_DIR}/"])


def ensure(layout: Layout, tree: TreeSpec, base_sha: str) -> str:
    """Make trees/<tree> a worktree on branch <tree>; return what was done."""
    root = layout.root
    path = layout.tree(tree.name)
    creating = layout.stamp(tree.name, "creating")
    did = "exists"
    with git.mutation_lock(layout.git_lock_file):
        _exclude_once(root)  # under the lock: parallel trees would append the lines twice
        wt = git.find_worktree(root, path)
        if wt is not None and wt.locked is not None and "initializing" in wt.locked:
            # A `worktree add` killed mid-way: git's own prune skips these.
            git.remove_worktree(root, path, force=2)
            wt = None
        if wt is not None and wt.prunable is not None:
            git.prune(root)
            wt = None
        if wt is None:
            if path.is_dir() and any(path.iterdir()):
                if creating.exists():
                    moved = _quarantine(layout, path)
                    did = f"moved a half-created directory to {moved.relative_to(root)}; "
                else:
                    raise PeError(
                        f"{path.relative_to(root)} exists and is not a git worktree; "
                        "move it away or pick another feature name"
                    )
            elif path.is_dir():
                path.rmdir()
            else:
                did = ""
            write_json_atomic(creating, {"since": now_iso()})
            git.add_worktree(root, path, tree.name, base_sha)
            did += "created"
        elif wt.branch != tree.name:
            on = wt.branch or "a detached HEAD"
            raise PeError(f"{path.relative_to(root)} is a worktree on {on}, expected branch {tree.name}")
    stamp_path = layout.stamp(tree.name, "worktree")
    stamp = read_json(stamp_path)
    if stamp is None:
        record = RunRecord.load(layout.run_record(tree.name), tree.name)
        # Populate the files unless an agent already worked here (its changes must stay).
        if record.attempts == 0:
            # A checkout killed mid-way leaves index.lock, and every later reset refuses
            # to run. No agent has worked here and we hold the repository lock: it is ours.
            gitdir = Path(git.out(path, "rev-parse", "--absolute-git-dir"))
            (gitdir / "index.lock").unlink(missing_ok=True)
            git.checkout_tree(path)
        write_json_atomic(stamp_path, {"branch": tree.name, "base_sha": base_sha, "created_at": now_iso()})
    creating.unlink(missing_ok=True)
    return did
