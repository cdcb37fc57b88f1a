"""What removing a feature's trees takes (pe cleanup's plan, step by step), and carrying it out.

Safety is in the order and in the checks: a tree with unsaved work is refused
(without --force) before anything changes, the archive comes first (nested git
repositories included), a branch goes only if pe created it and it is adopted,
merged or in a verified bundle, and a directory git does not know is moved
aside, never deleted. Every step is safe to repeat, so a cleanup stopped
anywhere is finished by the next one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from pe import git, gitfacts, proc
from pe.config import manifest
from pe.errors import PeError
from pe.fsutil import read_json
from pe.layout import Layout
from pe.lifecycle import archive, recovery
from pe.remote import result
from pe.steps import branches as branch_records
from pe.steps import setup as setup_step
from pe.tree import stamps
from pe.tree import unsaved as treework
from pe.tree.runrecord import RunRecord

INDENT = " " * 8  # a step's detail lines and notes, under its number


@dataclass
class Step:
    text: str
    act: Callable[[], object]  # a str it returns is a note to print


@dataclass
class TreePlan:
    tree: str
    steps: list[Step] = field(default_factory=list)
    refused: str | None = None


@dataclass
class _Archived:
    """What the archive step found, for the branch step after it (None: not run, or no branch)."""

    bundle: bool | None = None


def _tree_order(name: str) -> tuple[int, int]:
    """<feature>-2 before <feature>-10, the synthesis trees (<feature>-s1) after them all."""
    n = name.rsplit("-", 1)[1]
    return (1, int(n[1:])) if n.startswith("s") else (0, int(n))


def trees(layout: Layout, feature: str, asked: Sequence[str]) -> list[str]:
    """The feature's trees (or the `asked` ones, each maybe a comma list): the manifest's, plus any pe left."""
    if layout.manifest(feature).exists():
        manifest.load(layout, feature)  # a broken manifest is reported before anything happens
    s = recovery.scan(layout)
    # What exists of the feature's trees anywhere; a tree already cleaned up has nothing left.
    names = {n for n in set(s.worktrees) | s.dirs | s.branches | s.named if recovery.feature_of(n) == feature}
    wanted = [n.strip() for a in asked for n in a.split(",") if n.strip()]
    for name in wanted:
        if recovery.feature_of(name) != feature:
            raise PeError(f"--tree={name}: not a tree of {feature} (trees are named {feature}-<n>)")
        if name not in names:
            raise PeError(f"--tree={name}: no such tree (nothing in git, trees/ or .pe/ by that name)")
    chosen = wanted or sorted(names, key=_tree_order)
    if not chosen:
        raise PeError(f"nothing to clean up for {feature}: no trees, branches or state found")
    return chosen


def keep_ref(layout: Layout, feature: str) -> str | None:
    """The branch whose history counts as merged: the manifest's base, else the current branch."""
    base = None
    if layout.manifest(feature).exists():
        base = manifest.load(layout, feature).base
    base = base or git.current_branch(layout.root)
    return git.resolve_commit(layout.root, base) if base else None


def plan(layout: Layout, feature: str, names: Sequence[str], *, force: bool, keep_branches: bool) -> list[TreePlan]:
    """Every tree's plan, or PeError if any tree is refused: all or nothing, before anything changes."""
    ref = keep_ref(layout, feature)
    s = recovery.scan(layout)
    plans = [plan_tree(layout, feature, t, force=force, keep_branches=keep_branches, keep_ref=ref, scan=s)
             for t in names]
    refused = [p.refused for p in plans if p.refused]
    if refused:
        raise PeError("refusing to clean up (nothing was changed): " + " | ".join(refused)
                      + "; commit or remove them, or pass --force to archive them and go on")
    return plans


class Progress(Protocol):
    """Told each step before it is carried out (so a crash in it still shows which), and its outcome."""

    def tree(self, plan: TreePlan) -> None: ...
    def step(self, number: int, step: Step) -> None: ...
    def note(self, text: str) -> None: ...
    def stopped(self, plan: TreePlan, number: int) -> None: ...


def carry_out(plans: Sequence[TreePlan], progress: Progress, *, dry_run: bool) -> None:
    """Each plan's steps in order (only shown, with `dry_run`); the first failure stops the rest."""
    for p in plans:
        progress.tree(p)
        for i, step in enumerate(p.steps, 1):
            progress.step(i, step)
            if dry_run:
                continue
            try:
                note = step.act()
            except (PeError, proc.ProcError):
                # Each step is safe to repeat: say where it stopped, then fail.
                progress.stopped(p, i)
                raise
            if isinstance(note, str) and note:
                progress.note(note)


def branch_rule(layout: Layout, feature: str, tree: str, tip: str, keep_ref: str | None) -> str | None:
    """Why the branch may go without a bundle (adopted, merged), or None."""
    adopted = read_json(layout.adopted(feature)) or {}
    if adopted.get("tree") == tree and adopted.get("tree_tip") == tip:
        return f"adopted into {adopted.get('into')}"
    if keep_ref and gitfacts.is_ancestor(layout.root, tip, keep_ref):
        return "merged into the base branch"
    into = adopted.get("into")
    if isinstance(into, str):
        target = gitfacts.branch_tip(layout.root, into)
        if target and gitfacts.is_ancestor(layout.root, tip, target):
            return f"merged into {into}"
    return None


def _admin_dir(layout: Layout, path: Path) -> Path | None:
    """The worktree admin dir (<common>/worktrees/<id>) whose gitdir file names `path`."""
    want = os.path.realpath(path / ".git")
    for gitdir in sorted((git.common_dir(layout.root) / "worktrees").glob("*/gitdir")):
        with contextlib.suppress(OSError, UnicodeDecodeError):
            if os.path.realpath(gitdir.read_text(encoding="utf-8").strip()) == want:
                return gitdir.parent
    return None


def _removal_cut_short(layout: Layout, tree: str, path: Path) -> bool:
    """True if an earlier cleanup began `git worktree remove` here and was killed in it.

    Its archive was made and verified before; what is left is the tree at the same
    commit with files missing, nothing added or changed.
    """
    marker = stamps.read(layout, tree, stamps.REMOVING)
    if not marker:
        return False
    admin = None
    if not (path / ".git").exists():
        # git deletes the tree's files, its .git file among them, before the admin dir: cut off
        # in between, the entry shows as prunable, and git can still be asked through that dir.
        admin = _admin_dir(layout, path)
        if admin is None:
            return False
    now = gitfacts.scan(path, git_dir=admin)
    # Files missing, and at least one: a remove git refused before it deleted anything (a tree holding
    # a nested repository that it counts as a submodule) left the tree whole, and it is not finished
    # with --force unchecked.
    return now.head == marker.get("head") and bool(now.entries) and all(code.strip() == "D" for code, _ in now.entries)


def _forget(layout: Layout, tree: str) -> str | None:
    # (not the setup stamp: releasing the tree's setup, the step before, clears that)
    stamps.clear(layout, tree, stamps.WORKTREE, stamps.AGENT, stamps.CREATING, stamps.REMOVING)
    layout.run_record(tree).unlink(missing_ok=True)
    layout.prompt(tree).unlink(missing_ok=True)
    # (the supervisor's per-attempt launch and end files: the archive holds them)
    for d in (layout.logs(tree), layout.checks(tree), layout.supervision(tree)):
        shutil.rmtree(d, ignore_errors=True)
    if not git.branch_exists(layout.root, tree):
        # The record that pe created the branch goes with the branch: kept, it lets a later cleanup delete it.
        branch_records.forget(layout, tree)
    # Imported here: doit costs tens of milliseconds to import, and only this last step needs it.
    from pe.engine import database

    # doit's own records of the tree's tasks; we hold the repository lock, so no doit runs.
    database.forget(layout.db_file, [f"worktree:{tree}", f"setup:{tree}", f"agent:{tree}"])
    return None


def _stop_agent_step(rel: str, pid: int) -> Step:
    return Step(f"stop the agent still running in {rel} (process group {pid})", lambda: proc.kill_group(pid))


def _archive_step(layout: Layout, feature: str, ap: archive.ArchivePlan, archived: _Archived) -> Step:
    def do_archive() -> str:
        try:
            ok, said = archive.execute(layout, feature, ap)
        except OSError as exc:  # a file that cannot be read or written: the tree stays, whole
            raise PeError(f"could not archive trees/{ap.tree} into {ap.dest.relative_to(layout.root)}/: {exc}; "
                          "nothing of the tree was removed") from None
        archived.bundle = ok
        if ok is False:
            return f"bundle NOT verified ({said}): the branch will be kept"
        return "bundle verified" if ok else "archived"

    listing = ap.describe(layout.root) or ["(nothing left to archive)"]
    dest = ap.dest.relative_to(layout.root)
    return Step(f"archive into {dest}/:" + "".join(f"\n{INDENT}{line}" for line in listing), do_archive)


def _worktree_remove_step(layout: Layout, tree: str, rel: str, force: int, head: str | None, finishing: bool,
                          nested: bool = False) -> Step:
    path = layout.tree(tree)

    def remove() -> None:
        # Marked first: a crash inside `git worktree remove` leaves a tree with files missing,
        # which the next cleanup must finish, not refuse as unsaved work (_removal_cut_short).
        stamps.write(layout, tree, stamps.REMOVING, {"head": head})
        with git.mutation_lock(layout.git_lock_file):
            git.remove_worktree(layout.root, path, force=force)

    flag = {0: "", 1: " --force", 2: " --force --force"}[force]
    note = " (finishing a removal a crash cut short)" if finishing else ""
    if nested:
        note += " (the git repositories nested in it are archived)"
    return Step(f"git worktree remove{flag} -- {rel}{note}", remove)


def _leftover_step(path: Path, rel: str) -> Step:
    # Only for what _removal_cut_short vouched for: the archived commit, files missing, nothing else.
    return Step(f"delete what is left of {rel} (a `git worktree remove` a crash cut short)",
                lambda: shutil.rmtree(path))


def _quarantine_step(layout: Layout, tree: str, rel: str) -> Step:
    path = layout.tree(tree)
    dest = layout.quarantine(tree)

    def quarantine() -> None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(path), str(dest))

    return Step(f"move {rel} (not a worktree git knows) to {dest.relative_to(layout.root)}", quarantine)


def _locked_entry_step(layout: Layout, tree: str, rel: str) -> Step:
    path = layout.tree(tree)

    def remove2() -> None:
        with git.mutation_lock(layout.git_lock_file):
            git.remove_worktree(layout.root, path, force=2)

    return Step(f"git worktree remove --force --force -- {rel} (a locked entry)", remove2)


def _prune_step(layout: Layout) -> Step:
    def prune() -> None:
        with git.mutation_lock(layout.git_lock_file):
            git.prune(layout.root)

    return Step("git worktree prune", prune)


def _branch_step(layout: Layout, feature: str, tree: str, tip: str, keep_ref: str | None, keep_branches: bool,
                 archived: _Archived) -> Step:
    why = branch_rule(layout, feature, tree, tip, keep_ref)
    if keep_branches:
        return Step(f"keep branch {tree} ({tip[:12]}): --keep-branches", lambda: None)
    not_ours = branch_records.not_created(layout, tree, tip)
    if not_ours is not None:
        return _leave_branch_step(tree, tip, not_ours)
    text = (f"git branch -D -- {tree} ({tip[:12]}, {why})" if why else
            f"git branch -D -- {tree} ({tip[:12]}) if its bundle verified, else keep it")

    def delete() -> str | None:
        if why is None and not archived.bundle:
            return f"kept branch {tree}: not adopted, not merged, and its bundle did not verify"
        if gitfacts.branch_tip(layout.root, tree) != tip:
            return f"kept branch {tree}: it moved since the archive was made"
        with git.mutation_lock(layout.git_lock_file):
            git.delete_branch(layout.root, tree)
        branch_records.forget(layout, tree)
        return None

    return Step(text, delete)


def _attempt_refs_step(layout: Layout, feature: str, tree: str, ap: archive.ArchivePlan,
                       archived: _Archived) -> Step:
    """Delete refs/pe/<feature>/<tree>/* (--runner=dask's attempt results) once the bundle holding them verified;
    on `remote:` too, each only if it holds nothing this repository does not (issue 16)."""
    refs, prefix = ap.attempt_refs, result.feature_refs(feature, tree)
    remote = manifest.load(layout, feature).remote if layout.manifest(feature).exists() else None
    where = f" here and on {remote}" if remote else ""

    def delete() -> str | None:
        if not archived.bundle:
            return f"kept {prefix}*: the bundle holding them did not verify"
        held = {r: git.resolve_commit(layout.root, r) for r in refs}  # (before they go: what remote: may lose)
        with git.mutation_lock(layout.git_lock_file):
            for ref in refs:
                git.git(layout.root, *git.NO_HOOKS, "update-ref", "-d", ref)
        return result.delete_remote_refs(layout.root, remote, prefix, held, ap.tip) if remote else None

    return Step(f"delete {prefix}* (the results of its attempts on a Dask cluster, in the bundle){where}", delete)


def _leave_branch_step(tree: str, tip: str, why: str) -> Step:
    return Step(f"leave branch {tree} ({tip[:12]}) alone: pe did not create it ({why})", lambda: None)


def _release_step(layout: Layout, tree: str) -> Step:
    return Step(f"release the ports of {tree} and forget its setup", lambda: setup_step.release(layout, tree))


def _forget_step(layout: Layout, tree: str) -> Step:
    return Step(f"forget {tree}: stamps, run record, prompt, logs, check logs, "
                f"doit records worktree:/setup:/agent:{tree}", lambda: _forget(layout, tree))


def plan_tree(layout: Layout, feature: str, tree: str, *, force: bool, keep_branches: bool, keep_ref: str | None,
              scan: recovery.Scan) -> TreePlan:
    """One tree's steps, or why it is refused (`refused`, no steps) when it has work not saved anywhere."""
    tp = TreePlan(tree)
    rel = f"trees/{tree}"
    path = layout.tree(tree)
    wt = scan.worktrees.get(tree)
    tip = gitfacts.branch_tip(layout.root, tree) if tree in scan.branches else None
    if wt is None and not path.exists() and tree not in scan.named and tip is not None:
        # Only a branch named like the tree, and pe has no state of it: the user's, unless pe recorded it.
        not_ours = branch_records.not_created(layout, tree, tip)
        if not_ours is not None:
            tp.steps.append(_leave_branch_step(tree, tip, not_ours))
            return tp
    present = wt is not None and wt.prunable is None and path.is_dir()
    record = RunRecord.load(layout.run_record(tree), tree)
    problems = []
    if record.still_running() and record.pid is not None:
        if not force:
            problems.append(f"its agent is still running (pid {record.pid})")
        else:
            tp.steps.append(_stop_agent_step(rel, record.pid))
    finishing = present and _removal_cut_short(layout, tree, path)
    leftover = wt is not None and wt.prunable is not None and path.is_dir() and _removal_cut_short(layout, tree, path)
    work = treework.unsaved(layout, tree) if present and not finishing else treework.Unsaved()
    if work:
        problems.append(work.describe())
    if wt is not None and wt.locked is not None and "initializing" not in wt.locked and not force:
        problems.append(f"the worktree is locked ({wt.locked or 'no reason given'}): `git worktree unlock` it")
    if problems and not force:
        tp.refused = f"{rel}: " + "; ".join(problems)
        return tp
    ap = archive.plan(layout, feature, tree, keep_ref=keep_ref, dirty=bool(work.changed),
                      untracked=work.untracked, stray=work.stray, ignored=[p for p, _ in work.ignored])
    archived = _Archived()
    tp.steps.append(_archive_step(layout, feature, ap, archived))
    if present:
        # Nested repositories: git refuses a tree it counts as holding submodules without --force, and
        # deletes them with it; the archive step before has bundled each one, verified, or stopped.
        loose = work.changed or work.untracked or work.untracked_other or finishing or ap.nested
        level = 2 if wt is not None and wt.locked is not None else (1 if loose else 0)
        tp.steps.append(_worktree_remove_step(layout, tree, rel, level, ap.tip, finishing, bool(ap.nested)))
    elif leftover:
        tp.steps.append(_leftover_step(path, rel))
    elif wt is None and path.is_dir():
        tp.steps.append(_quarantine_step(layout, tree, rel))
    elif wt is not None and wt.locked is not None:
        tp.steps.append(_locked_entry_step(layout, tree, rel))
    tp.steps.append(_prune_step(layout))
    if ap.tip is not None:
        tp.steps.append(_branch_step(layout, feature, tree, ap.tip, keep_ref, keep_branches, archived))
        if ap.attempt_refs:
            tp.steps.append(_attempt_refs_step(layout, feature, tree, ap, archived))
    tp.steps.append(_release_step(layout, tree))
    tp.steps.append(_forget_step(layout, tree))
    return tp
