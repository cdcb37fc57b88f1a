"""Adopting a tree: whether it may be, bringing its branch in without ever a half-merge, the records.

The result commit is built first, away from any checkout: `git merge-tree
--write-tree` for --squash and --merge (a conflict is found before anything
changes), and a cherry-pick in a temporary detached worktree under .pe/ for
--rebase. Only a clean result moves the target: `merge --ff-only` in the
checkout that has it (which also updates that checkout's files), or
`update-ref` with the old value (compare-and-swap) when none does.

pe's bookkeeping (RESULTS.md, PROGRESS.md at the tree root) is not adopted:
the target keeps its own version of those paths (cleanup archives the tree's).

An adoption is recorded in reports/<feature>/ADOPTED.json (cleanup deletes
the adopted branch by it) and appended to reports/history.jsonl (which
strategies win, across features). The record is journalled before the target
moves, so that a kill in between is finished by the next pe (adoption_journal).
"""

from __future__ import annotations

import contextlib
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pe import git, gitfacts, proc
from pe.config import manifest
from pe.errors import PeError
from pe.fsutil import read_json
from pe.gitfacts import BOOKKEEPING
from pe.layout import Layout
from pe.lifecycle import adoption_journal, recovery, rounds
from pe.tree import state as treestate
from pe.tree.results import RESULTS_FILE, sections
from pe.util import now_iso

MODES = ("squash", "merge", "rebase")


@dataclass(frozen=True)
class Result:
    commit: str  # the target's new tip
    previous: str  # the target's old tip
    commits: int  # commits the adoption added to the target


class Conflict(PeError):
    """The tree's work does not apply cleanly; nothing was changed."""


def _identity(root: Path) -> tuple[str, ...]:
    if gitfacts.read(root, "config", "user.email", check=False).returncode != 0:
        return ("-c", "user.name=pe", "-c", "user.email=pe@localhost")
    return ()


def _without_bookkeeping(root: Path, tree_oid: str, target: str) -> str:
    """`tree_oid` with RESULTS.md/PROGRESS.md as they are in `target` (or absent)."""
    # Quoted lines, not -z: a file name that is not UTF-8 stays ASCII on its way through pe
    # (read raw, it failed every adopt into a base that has one; issue 13). mktree unquotes them.
    raw = gitfacts.read(root, *gitfacts.QUOTED, "ls-tree", tree_oid).stdout
    entries = [e for e in raw.split("\n") if e and e.split("\t", 1)[1] not in BOOKKEEPING]
    theirs = gitfacts.read(root, *gitfacts.QUOTED, "ls-tree", target, "--", *BOOKKEEPING).stdout
    entries += [e for e in theirs.split("\n") if e]
    res = proc.run(["git", "mktree"], cwd=root, env=git.git_env(), stdin_text="".join(e + "\n" for e in entries))
    return res.stdout.strip()


def _merge_tree(root: Path, target: str, tip: str) -> str:
    res = gitfacts.read(root, *gitfacts.QUOTED, "merge-tree", "--write-tree", "--name-only", "--no-messages",
                        target, tip, check=False)
    fields = [f for f in res.stdout.split("\n") if f]
    if res.returncode not in (0, 1) or not fields:
        raise PeError(f"git merge-tree failed: {(res.stderr.strip() or 'no output').splitlines()[-1]}")
    conflicts = [p for p in map(gitfacts.unquote, fields[1:]) if p not in BOOKKEEPING]
    if res.returncode == 1 and conflicts:
        raise Conflict(f"conflicts in {', '.join(sorted(set(conflicts)))}: nothing was changed")
    return _without_bookkeeping(root, fields[0], target)


def _commit_tree(root: Path, tree_oid: str, parents: list[str], message: str) -> str:
    args = [*_identity(root), "commit-tree", tree_oid]
    for p in parents:
        args += ["-p", p]
    return gitfacts.read(root, *args, "-m", message).stdout.strip()


def _rebase(layout: Layout, target: str, tip: str, name: str) -> str:
    """Replay tip's commits onto target in a throwaway detached worktree; the new tip."""
    root = layout.root
    work = first = layout.adopt_work(name)
    # One of the same second may be there still: a killed adopt's, kept for the work it holds.
    n = 0
    while work.exists():
        n += 1
        work = first.with_name(f"{first.name}-{n}")
    work.parent.mkdir(parents=True, exist_ok=True)
    with git.mutation_lock(layout.git_lock_file):
        git.git(root, "worktree", "add", "--detach", "--quiet", "--", str(work), target)
    ident = _identity(root)
    try:
        commits = gitfacts.read(root, "rev-list", "--reverse", "--no-merges", f"{target}..{tip}").stdout.split()
        for c in commits:
            res = git.git(work, *ident, "cherry-pick", "--no-commit", c, check=False)
            for path in BOOKKEEPING:  # the target's own version, or none
                if gitfacts.read(root, "cat-file", "-e", f"{target}:{path}", check=False).returncode == 0:
                    git.git(work, "checkout", target, "--", path)
                else:
                    git.git(work, "rm", "--cached", "--quiet", "--force", "--ignore-unmatch", "--", path)
                    (work / path).unlink(missing_ok=True)
            unmerged = gitfacts.names(work, "diff", "--name-only", "--diff-filter=U")
            if res.returncode != 0 and unmerged:
                raise Conflict(f"conflicts replaying {c[:12]} in {', '.join(unmerged)}: nothing was changed")
            if res.returncode != 0 and "CONFLICT" not in res.stdout + res.stderr:
                said = (res.stderr.strip() or res.stdout.strip()).splitlines()
                raise PeError(f"cherry-pick of {c[:12]} failed ({said[-1] if said else 'no output'}): "
                              "nothing was changed")
            # (a conflict only in RESULTS.md/PROGRESS.md was resolved above, to the target's version)
            if git.git(work, "diff", "--cached", "--quiet", check=False).returncode != 0:
                git.git(work, *ident, "commit", "--quiet", "--no-verify", "-C", c)
            git.git(work, "cherry-pick", "--quit", check=False)  # no pick in progress for the next one
        return gitfacts.read(work, "rev-parse", "HEAD").stdout.strip()
    finally:
        with git.mutation_lock(layout.git_lock_file):
            git.git(root, "worktree", "remove", "--force", "--force", "--", str(work), check=False)
            git.prune(root)
        shutil.rmtree(work, ignore_errors=True)


def checkout_of(root: Path, branch: str) -> Path | None:
    """The worktree (main checkout or other) that has `branch` checked out."""
    for wt in git.worktree_list(root):
        if wt.branch == branch and wt.prunable is None:
            return wt.path
    return None


def dirty_tracked(checkout: Path) -> list[str]:
    """Tracked changes (staged or not); untracked files do not block a fast-forward unless in the way."""
    return [path for _, path in gitfacts.uncommitted(checkout, untracked="no")]


def adopt(layout: Layout, *, branch: str, into: str, mode: str, message: str,
          before_move: Callable[[str, str], None] | None = None) -> Result:
    """Bring `branch` into `into`; `before_move(old tip, new tip)` runs last before the target moves."""
    root = layout.root
    tip = gitfacts.branch_tip(root, branch)
    target = gitfacts.branch_tip(root, into)
    if tip is None:
        raise PeError(f"branch {branch} does not exist (cleaned up already? see reports/)")
    if target is None:
        raise PeError(f"--into: branch {into!r} does not exist")
    if gitfacts.is_ancestor(root, tip, target):
        raise PeError(f"nothing to adopt: {into} already contains every commit of {branch}")
    checkout = checkout_of(root, into)
    if checkout is not None:
        dirty = dirty_tracked(checkout)
        if dirty:
            shown = ", ".join(dirty[:5]) + (f" and {len(dirty) - 5} more" if len(dirty) > 5 else "")
            raise PeError(f"{checkout} has {into} checked out with uncommitted changes ({shown}): "
                          "commit or stash them first")
    if mode == "rebase":
        new = _rebase(layout, target, tip, branch)
    else:
        tree_oid = _merge_tree(root, target, tip)
        if tree_oid == gitfacts.read(root, "rev-parse", f"{target}^{{tree}}").stdout.strip():
            raise PeError(f"nothing to adopt: {branch} changes nothing but RESULTS.md/PROGRESS.md against {into}")
        parents = [target, tip] if mode == "merge" else [target]
        new = _commit_tree(root, tree_oid, parents, message)
    if new == target:
        raise PeError(f"nothing to adopt: replaying {branch} onto {into} changes nothing but pe's bookkeeping")
    if before_move is not None:
        before_move(target, new)
    with git.mutation_lock(layout.git_lock_file):
        if checkout is not None:
            # ff-only moves the branch and the checkout's files together, or changes nothing.
            res = git.git(checkout, "merge", "--ff-only", "--quiet", new, check=False)
            if res.returncode != 0:
                why = (res.stderr.strip() or res.stdout.strip()).splitlines()
                raise PeError(f"could not update {checkout} ({why[0] if why else 'merge --ff-only failed'}); "
                              f"{into} is unchanged")
        else:
            git.git(root, "update-ref", "-m", f"pe adopt {branch}", f"refs/heads/{into}", new, target)
    count = int(gitfacts.read(root, "rev-list", "--count", f"{target}..{new}").stdout.strip())
    return Result(new, target, count)


# A tree of a feature: checked, adopted, recorded.


@dataclass(frozen=True)
class Request:
    """One tree's adoption, checked: where it goes, and what its record says of the tree."""

    feature: str
    tree: str
    into: str  # the target branch
    tip: str  # the tree's branch tip when checked
    strategy: str  # as the manifest names it, or "?"
    agent: str | None  # preset[:model], as the manifest names it
    forced: bool  # there were reasons to refuse, and --force overrode them


def _target(layout: Layout, into: str | None, base: str | None) -> str:
    target = into or base or git.current_branch(layout.root)
    if not target:
        raise PeError("HEAD is detached and the manifest names no base: pass --into=BRANCH")
    if target.startswith("-") or not git.valid_branch_name(layout.root, target):
        raise PeError(f"--into: {target!r} is not a valid branch name")
    if gitfacts.branch_tip(layout.root, target) is None:
        hint = "" if into else " (the manifest's base must be a branch to adopt into it; pass --into)"
        raise PeError(f"--into: no branch named {target!r}{hint}")
    return target


def _refusals(layout: Layout, feature: str, tree: str, tip: str) -> tuple[list[str], str, str | None]:
    """Reasons to refuse without --force; the tree's strategy and agent as recorded."""
    problems: list[str] = []
    strategy, agent = "?", None
    if layout.manifest(feature).exists():
        f = manifest.load(layout, feature)
        spec = next((t for t in f.trees if t.name == tree), None)
        if spec is not None:
            strategy = spec.strategy.name
            if spec.agent is not None:
                agent = spec.agent.preset + (f":{spec.agent.model}" if spec.agent.model else "")
            st = treestate.of(layout, f, spec)
            if st.state != "done":
                problems.append(f"it is not done (state: {st.state}{': ' + st.detail if st.detail else ''})")
    evidence = read_json(layout.evidence(feature)) or {}
    for ev in evidence.get("trees", []):
        if not isinstance(ev, dict) or ev.get("tree") != tree:
            continue
        if ev.get("state") == "done" and not ev.get("eligible"):
            problems.append("it failed its checks in the last pe compare: " + "; ".join(ev.get("why_not", [])))
        judged = ev.get("head")
        # compare judged one commit (its checks ran on a checkout of it): anything else is unjudged.
        if isinstance(judged, str) and judged and judged != tip:
            problems.append(f"its branch moved since the last pe compare judged it (judged {judged[:12]}, "
                            f"now {tip[:12]}): run pe compare --feature={feature} again")
    tree_dir = layout.trees / tree
    if (tree_dir / ".git").exists():
        dirty = [p for code, p in gitfacts.uncommitted(tree_dir) if code != "!!"]
        if dirty:
            problems.append(f"trees/{tree} has {len(dirty)} uncommitted entries, which would not be adopted")
    return problems, strategy, agent


def check(layout: Layout, feature: str, tree: str, *, into: str | None, force: bool) -> Request:
    """The adoption of `tree` into `into` (default: the feature's base), or PeError saying why not."""
    if recovery.feature_of(tree) != feature:
        raise PeError(f"--tree={tree}: not a tree of {feature} (trees are named {feature}-<n>)")
    loaded = manifest.load(layout, feature) if layout.manifest(feature).exists() else None
    target = _target(layout, into, loaded.base if loaded else None)
    tip = gitfacts.branch_tip(layout.root, tree)
    if tip is None:
        raise PeError(_no_branch(layout, feature, tree, loaded.count if loaded else None))
    problems, strategy, agent = _refusals(layout, feature, tree, tip)
    if problems and not force:
        raise PeError(f"refusing to adopt {tree}: " + "; ".join(problems) + " (pass --force to adopt it anyway)")
    return Request(feature, tree, target, tip, strategy, agent, forced=bool(problems))


def _no_branch(layout: Layout, feature: str, tree: str, count: int | None) -> str:
    """Why a tree with no branch cannot be adopted: cleaned up (where its archive is), or never there (issue 17)."""
    found = rounds.archives(layout, feature, tree)
    if found:
        return (f"--tree={tree}: no branch {tree}: cleaned up already; its bundle is in "
                f"{found[-1].relative_to(layout.root)}/")
    index = int(tree.rpartition("-")[2])
    if count is not None and index > count:
        return (f"--tree={tree}: no such tree (no branch {tree}, no archive of it): {feature} has "
                + (f"one tree, {feature}-1" if count == 1 else f"{count} trees, {feature}-1 to {feature}-{count}"))
    return (f"--tree={tree}: no branch {tree} and no archive of it in reports/{feature}/: it was never created "
            f"(pe init --feature={feature}), or its branch was deleted by hand")


def _message(layout: Layout, req: Request) -> str:
    text = gitfacts.show(layout.root, req.tip, RESULTS_FILE) or ""
    summary = next((v for k, v in sections(text).items() if k.lower() == "approach summary"), "")
    body = f"\n\n{summary.strip()}" if summary.strip() else ""
    return (f"{req.feature}: adopt {req.tree} ({req.strategy} strategy){body}\n\n"
            f"Adopted by pe from branch {req.tree} at {req.tip}; its RESULTS.md is archived by pe cleanup.")


def entry(layout: Layout, req: Request, mode: str, result: Result) -> dict[str, Any]:
    """The adoption's record: ADOPTED.json's content, and its line in the history."""
    evidence = read_json(layout.evidence(req.feature)) or {}
    return {
        "feature": req.feature, "tree": req.tree, "strategy": req.strategy, "agent": req.agent, "into": req.into,
        "mode": mode, "commit": result.commit, "previous": result.previous, "tree_tip": req.tip, "at": now_iso(),
        "recommended": evidence.get("recommended"), "forced": req.forced,
    }


def record(layout: Layout, req: Request, mode: str, result: Result) -> dict[str, Any]:
    """Write ADOPTED.json (what cleanup reads) and append the same record to the history."""
    made = entry(layout, req, mode, result)
    adoption_journal.record(layout, made)
    return made


def adopt_tree(layout: Layout, req: Request, *, mode: str, message: str | None) -> Result:
    """Adopt the checked tree (the caller holds the repository lock), then record it.

    The record is journalled before the target moves: a pe killed after the move, before
    the record, is finished by the next pe that takes the lock (adoption_journal.repair).
    """
    journalled: list[dict[str, Any]] = []

    def before_move(previous: str, new: str) -> None:
        journalled.append(entry(layout, req, mode, Result(new, previous, 0)))
        adoption_journal.begin(layout, journalled[0])

    try:
        result = adopt(layout, branch=req.tree, into=req.into, mode=mode, message=message or _message(layout, req),
                       before_move=before_move)
    except BaseException:
        # The move failed, or an interrupt came while its git was let finish: the journal says
        # which, now. If even that fails, the journal stays for the next pe.
        if journalled:
            with contextlib.suppress(Exception):
                said = adoption_journal.settle(layout, adoption_journal.journal_path(layout, req.feature))
                if said.startswith("finished"):
                    sys.stderr.write(f"pe: {said}\n")
        raise
    adoption_journal.record(layout, journalled[0])
    return result
