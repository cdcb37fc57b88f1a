"""Which branches pe created: the only ones it commits onto, and the only ones cleanup deletes.

A branch named like a tree (<feature>-<n>) may be the user's: one from before pe came, or
one made after in the place of pe's. So pe records every branch it creates, in a sealed
stamp (.pe/stamps/<tree>.branch.json, sealed like every stamp, so an agent cannot forge
one): `pending` before `git worktree add -b`, confirmed after it. The record lives as long
as the branch, longer than the tree's other state, so a cleanup that kept the branch
(--keep-branches, a bundle that did not verify) still knows it for the next one.
"""

from __future__ import annotations

import secrets
from typing import Any

from pe import gitfacts
from pe.layout import Layout
from pe.tree import stamps
from pe.util import now_iso

BRANCH = "branch"  # the stamp's step name: {branch, base_sha, pending, at, round_key}


def record(layout: Layout, tree: str) -> dict[str, Any] | None:
    found = stamps.read(layout, tree, BRANCH)
    return found if found is not None and found.get("branch") == tree else None


def record_pending(layout: Layout, tree: str, base_sha: str) -> str:
    """Before `git worktree add -b`: a crash inside it leaves the branch with this record.

    Returns the round key: what tells this tree's round from an earlier one of the same name (a
    creation time has whole seconds), for its archive (pe/lifecycle/rounds.py).
    """
    key = secrets.token_hex(8)
    stamps.write(layout, tree, BRANCH, {"branch": tree, "base_sha": base_sha, "pending": True, "at": now_iso(),
                                        "round_key": key})
    return key


def record_created(layout: Layout, tree: str, base_sha: str, key: str) -> None:
    stamps.write(layout, tree, BRANCH, {"branch": tree, "base_sha": base_sha, "pending": False, "at": now_iso(),
                                        "round_key": key})


def round_key(layout: Layout, tree: str) -> str | None:
    key = (record(layout, tree) or {}).get("round_key")
    return key if isinstance(key, str) else None


def forget(layout: Layout, tree: str) -> None:
    stamps.clear(layout, tree, BRANCH)


def not_created(layout: Layout, tree: str, tip: str, *, base_sha: str | None = None) -> str | None:
    """Why branch `tree` (now at `tip`) is not one pe created, or None when it is.

    `base_sha`: the commit a tree is being created from (the worktree step), else None.
    """
    rec = record(layout, tree)
    if rec is not None:
        if not rec.get("pending"):
            return None
        # Made by a `worktree add -b` that a crash cut off: nothing can be on it yet.
        if tip == rec.get("base_sha"):
            return None
        return f"pe was about to create it from {str(rec.get('base_sha'))[:12]} when it stopped, " \
               "and it holds other commits"
    return _legacy(layout, tree, tip, base_sha)


def _legacy(layout: Layout, tree: str, tip: str, base_sha: str | None) -> str | None:
    """The rule for a branch pe has no record of: a repository of a pe from before the records.

    That pe wrote the worktree stamp only after its own `git worktree add`, which ran only
    past its preflight: it refused every branch of the tree's name that pe had no marker
    for. So a branch the stamp names, grown from the base the stamp records, is the one
    that pe made (a branch made later in its place, from elsewhere, fails the ancestry).
    And a branch still at the base of the tree being made is what a `worktree add -b`
    killed just after making it leaves: it holds nothing, so carrying the tree takes
    nothing from anyone.
    """
    stamp = stamps.read(layout, tree, stamps.WORKTREE)
    base = stamp.get("base_sha") if stamp and stamp.get("branch") == tree else None
    if isinstance(base, str) and (base == tip or gitfacts.is_ancestor(layout.root, base, tip)):
        return None
    if base_sha is not None and tip == base_sha:
        return None
    if isinstance(base, str):
        return f"it does not descend from the tree's base {base[:12]}"
    return "pe has no record of creating it"
