"""worktree:<tree>: create the tree, or repair what a killed run left behind."""

from __future__ import annotations

import functools
import shutil
from pathlib import Path

from pe import git, gitfacts
from pe.config.spec import TreeSpec
from pe.errors import PeError
from pe.layout import STATE_DIR, TREES_DIR, Layout
from pe.steps import branches as branch_records
from pe.tree import stamps
from pe.tree.runrecord import RunRecord


def preflight(layout: Layout, tree: TreeSpec, worktrees: dict[Path, git.Worktree], branches: set[str]) -> None:
    """Refuse, before anything runs, what is at the tree's path or name and is not pe's.

    pe's own leftovers (a killed `worktree add`) carry the `creating` marker or
    the worktree stamp and are repaired; anything else belongs to the user.
    `worktrees`: `git worktree list` by resolved path (empty if git could not read
    it); `branches`: every local branch.
    """
    path = layout.tree(tree.name)
    rel = path.relative_to(layout.root)
    if layout.trees.exists() and not layout.trees.is_dir():
        raise PeError(f"{TREES_DIR} exists and is not a directory; pe keeps its worktrees there: move it away")
    if (path.exists() or path.is_symlink()) and not path.is_dir():
        raise PeError(f"{rel} exists and is not a directory; move it away or pick another feature name")
    ours = stamps.exists(layout, tree.name, stamps.CREATING) or stamps.exists(layout, tree.name, stamps.WORKTREE)
    if path.is_dir() and not (path / ".git").exists() and any(path.iterdir()) and not ours:
        raise PeError(f"{rel} exists and is not a git worktree; move it away or pick another feature name")
    registered = worktrees.get(path.resolve())
    # (pe's own half-made entry is `locked initializing` on a detached HEAD: ensure() repairs it.)
    if registered is not None and not ours and registered.prunable is None and registered.branch != tree.name:
        on = f"branch {registered.branch}" if registered.branch else "a detached HEAD"
        raise PeError(f"{rel} is a worktree on {on}, not pe's (expected branch {tree.name}); "
                      "remove it with `git worktree remove`, or pick another feature name")
    if not ours and tree.name in branches:
        rec = branch_records.record(layout, tree.name)
        if rec is not None and not rec.get("pending"):
            # pe's own, from an earlier round whose cleanup kept it (--keep-branches, an unverified bundle).
            raise PeError(f"a branch named {tree.name} already exists: pe created it in an earlier round and "
                          f"cleanup kept it; delete it (`pe cleanup --feature={tree.feature}` "
                          "archives it first) or pick another feature name")
        raise PeError(
            f"a branch named {tree.name} already exists and pe did not create it; "
            "pick another feature name, or delete or rename that branch"
        )
    below = sorted(b for b in branches if b.startswith(tree.name + "/"))
    if below:
        # refs/heads/<tree>/x is a directory where refs/heads/<tree> would be a file: git refuses.
        raise PeError(f"a branch named {below[0]} exists, so git cannot create branch {tree.name}; "
                      "pick another feature name, or rename that branch")


def _quarantine(layout: Layout, path: Path) -> Path:
    dest = layout.quarantine(path.name)
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(path), str(dest))
    return dest


def _remove_half_written(layout: Layout) -> None:
    """Drop the admin entries of pe's own `worktree add`s that a crash cut off (before git lists anything).

    Only trees pe was creating (the `creating` marker): their add never finished, so
    nothing was checked out and nothing can be lost. Under the mutation lock.
    """
    for entry in git.half_written_entries(layout.root):
        if stamps.exists(layout, entry.name, stamps.CREATING):
            shutil.rmtree(entry)


@functools.cache
def _exclude_once(root: Path) -> None:
    git.ensure_excluded(root, [f"/{TREES_DIR}/", f"/{STATE_DIR}/"])


def _add(layout: Layout, tree: str, path: Path, base_sha: str, start: str | None = None) -> None:
    """`git worktree add` on the tree's branch: one pe creates now (recorded), or one it created before.

    Under the mutation lock. pe commits onto the branch its tree is on, so an existing branch
    that pe did not create (a user's, named like the tree) is refused, never carried on.
    """
    tip = gitfacts.branch_tip(layout.root, tree)
    key = ""
    if tip is None:
        key = branch_records.record_pending(layout, tree, base_sha)
    else:
        why = branch_records.not_created(layout, tree, tip, base_sha=base_sha)
        if why is not None:
            raise PeError(f"a branch named {tree} already exists and pe did not create it ({why}); pe commits "
                          "only onto branches it created: delete or rename that branch, or pick another feature name")
    # A synthesis tree's branch starts from its base tree's tip; its diffs count from base_sha.
    git.add_worktree(layout.root, path, tree, start or base_sha)
    if tip is None:
        branch_records.record_created(layout, tree, base_sha, key)


def ensure(layout: Layout, tree: TreeSpec, base_sha: str) -> str:
    """Make trees/<tree> a worktree on branch <tree>; return what was done."""
    root = layout.root
    path = layout.tree(tree.name)
    creating = stamps.exists(layout, tree.name, stamps.CREATING)
    did = "exists"
    added = False
    with git.mutation_lock(layout.git_lock_file):
        _exclude_once(root)  # under the lock: parallel trees would append the lines twice
        _remove_half_written(layout)
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
                if creating:
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
            if creating:  # a pe was killed creating it, maybe inside `worktree add -b`
                git.clear_stale_branch_lock(root, tree.name, path)
            stamps.mark_creating(layout, tree.name)
            _add(layout, tree.name, path, base_sha, tree.start)
            added = True
            did += "created"
        elif wt.branch != tree.name:
            on = wt.branch or "a detached HEAD"
            raise PeError(f"{path.relative_to(root)} is a worktree on {on}, expected branch {tree.name}")
    stamp = stamps.read(layout, tree.name, stamps.WORKTREE)
    # Populate the files of a directory git has just made (here, or in an ensure a crash cut short:
    # the creating marker), even when the stamp outlived an earlier directory (deleted by hand, or
    # by a sibling's `git worktree remove --force`): with no files, the next checkpoint commit would
    # delete everything on the branch. A tree neither new nor stamped is populated unless an agent
    # already worked in it (its changes must stay).
    if added or creating or (stamp is None and RunRecord.load(layout.run_record(tree.name), tree.name).attempts == 0):
        # A checkout killed mid-way leaves index.lock, and every later reset refuses to run.
        git.clear_stale_locks(path)
        git.checkout_tree(path)
    if stamp is None:
        stamps.write_worktree(layout, tree.name, base_sha)
    stamps.clear(layout, tree.name, stamps.CREATING)
    return did
