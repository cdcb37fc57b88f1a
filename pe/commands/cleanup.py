"""pe cleanup: archive every tree, then remove it, its branch and pe's state of it. Loses nothing."""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sqlite3
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pe import git, gitfacts, proc
from pe.commands import _common
from pe.config import manifest
from pe.errors import PeError
from pe.fsutil import read_json, write_json_atomic
from pe.layout import Layout
from pe.lifecycle import archive, recovery
from pe.steps import setup as setup_step
from pe.tree import unsaved as treework
from pe.tree.runrecord import RunRecord

NAME = "cleanup"
ORDER = 55
HELP = "archive each tree to reports/, then remove its worktree and branch and forget its state"
DESCRIPTION = """\
For each tree of the feature (or each --tree), in order:
1. archive into reports/<feature>/<tree>/: RESULTS.md, PROGRESS.md, the agent
   and setup logs, the run record, and the branch as a git bundle, verified
   with `git bundle verify` (ARCHIVE.md there says how to restore);
2. remove the worktree (a directory git does not know is moved to
   .pe/quarantine/, never deleted) and prune;
3. delete the branch, only if it was adopted, is merged into the base or the
   adoption target, or is in a verified bundle (--keep-branches keeps it);
4. release the tree's ports and forget its state (stamps, run record, logs,
   doit's records).
A tree with uncommitted changes, untracked files, or ignored files that setup
did not carry over unchanged (an edited .env, say) is refused, naming them;
with --force those changes and untracked files are archived too (as a patch and
a tarball) and the tree is removed. --dry-run prints exactly these steps.

examples:
  pe cleanup --feature=auth-system --dry-run
  pe cleanup --feature=auth-system
  pe cleanup --feature=auth-system --tree=auth-system-3 --keep-branches
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _common.add_feature(parser)
    parser.add_argument("--tree", action="append", default=[], metavar="NAME",
                        help="only this tree (repeat, or a comma list); default: every tree of the feature")
    parser.add_argument("--dry-run", action="store_true", help="print what would be done, do nothing")
    parser.add_argument("--force", action="store_true",
                        help="remove trees with unsaved work (archived first) and stop a still-running agent")
    parser.add_argument("--keep-branches", action="store_true", help="keep every branch")
    _common.add_repo(parser)
    _common.add_lock(parser)


_INDENT = " " * 8


@dataclass
class Step:
    text: str
    act: Callable[[], object]  # a str it returns is a note to print


@dataclass
class TreePlan:
    tree: str
    steps: list[Step] = field(default_factory=list)
    refused: str | None = None


def _trees(layout: Layout, feature: str, asked: list[str]) -> list[str]:
    """The feature's trees: the manifest's, plus any pe left in git, trees/ or .pe/."""
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
    chosen = wanted or sorted(names, key=lambda n: int(n.rsplit("-", 1)[1]))
    if not chosen:
        raise PeError(f"nothing to clean up for {feature}: no trees, branches or state found")
    return chosen


def _keep_ref(layout: Layout, feature: str) -> str | None:
    """The branch whose history counts as merged: the manifest's base, else the current branch."""
    base = None
    if layout.manifest(feature).exists():
        base = manifest.load(layout, feature).base
    base = base or git.current_branch(layout.root)
    return git.resolve_commit(layout.root, base) if base else None


def _branch_rule(layout: Layout, feature: str, tree: str, tip: str, keep_ref: str | None) -> str | None:
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
    marker = read_json(layout.stamp(tree, "removing"))
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
    return now.head == marker.get("head") and all(code.strip() == "D" for code, _ in now.entries)


def _forget(layout: Layout, tree: str) -> str | None:
    for step in ("worktree", "agent", "creating", "removing"):
        layout.stamp(tree, step).unlink(missing_ok=True)
    layout.run_record(tree).unlink(missing_ok=True)
    layout.prompt(tree).unlink(missing_ok=True)
    for d in (layout.logs(tree), layout.checks(tree)):
        shutil.rmtree(d, ignore_errors=True)
    if layout.db_file.exists():
        # doit's own records of the tree's tasks; we hold the repository lock, so no doit runs.
        with sqlite3.connect(layout.db_file, timeout=10) as db:
            db.execute("delete from doit where task_id in (?, ?, ?)",
                       (f"worktree:{tree}", f"setup:{tree}", f"agent:{tree}"))
        db.close()
    return None


def plan_tree(layout: Layout, feature: str, tree: str, args: argparse.Namespace, keep_ref: str | None,
              s: recovery.Scan) -> TreePlan:
    root = layout.root
    tp = TreePlan(tree)
    rel = f"trees/{tree}"
    path = layout.tree(tree)
    wt = s.worktrees.get(tree)
    present = wt is not None and wt.prunable is None and path.is_dir()
    record = RunRecord.load(layout.run_record(tree), tree)
    problems = []
    if record.still_running() and record.pid is not None:
        if not args.force:
            problems.append(f"its agent is still running (pid {record.pid})")
        else:
            pid = record.pid
            tp.steps.append(Step(f"stop the agent still running in {rel} (process group {pid})",
                                 lambda: proc.kill_group(pid)))
    finishing = present and _removal_cut_short(layout, tree, path)
    leftover = wt is not None and wt.prunable is not None and path.is_dir() and _removal_cut_short(layout, tree, path)
    work = treework.unsaved(layout, tree) if present and not finishing else treework.Unsaved()
    if work:
        problems.append(work.describe())
    if wt is not None and wt.locked is not None and "initializing" not in wt.locked and not args.force:
        problems.append(f"the worktree is locked ({wt.locked or 'no reason given'}): `git worktree unlock` it")
    if problems and not args.force:
        tp.refused = f"{rel}: " + "; ".join(problems)
        return tp
    ap = archive.plan(layout, feature, tree, keep_ref=keep_ref, dirty=bool(work.changed),
                      untracked=work.untracked)
    verified: dict[str, bool | None] = {}

    def do_archive() -> str:
        ok, said = archive.execute(layout, feature, ap)
        verified["bundle"] = ok
        if ok is False:
            return f"bundle NOT verified ({said}): the branch will be kept"
        return "bundle verified" if ok else "archived"

    listing = ap.describe(root) or ["(nothing left to archive)"]
    dest = ap.dest.relative_to(root)
    tp.steps.append(Step(f"archive into {dest}/:" + "".join(f"\n{_INDENT}{line}" for line in listing), do_archive))
    if present:
        loose = work.changed or work.untracked or work.untracked_other or finishing
        force = 2 if wt is not None and wt.locked is not None else (1 if loose else 0)
        flag = {0: "", 1: " --force", 2: " --force --force"}[force]
        head = ap.tip

        def remove() -> None:
            # Marked first: a crash inside `git worktree remove` leaves a tree with files missing,
            # which the next cleanup must finish, not refuse as unsaved work (_removal_cut_short).
            write_json_atomic(layout.stamp(tree, "removing"), {"head": head})
            with git.mutation_lock(layout.git_lock_file):
                git.remove_worktree(root, path, force=force)

        note = " (finishing a removal a crash cut short)" if finishing else ""
        tp.steps.append(Step(f"git worktree remove{flag} -- {rel}{note}", remove))
    elif leftover:
        tp.steps.append(Step(f"delete what is left of {rel} (a `git worktree remove` a crash cut short)",
                             lambda: shutil.rmtree(path)))
    elif wt is None and path.is_dir():
        dest = layout.quarantine(tree)

        def quarantine() -> None:
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(path), str(dest))

        tp.steps.append(Step(f"move {rel} (not a worktree git knows) to {dest.relative_to(root)}", quarantine))
    elif wt is not None and wt.locked is not None:
        tp.steps.append(Step(f"git worktree remove --force --force -- {rel} (a locked entry)",
                             lambda: _remove2(layout, path)))

    def prune() -> None:
        with git.mutation_lock(layout.git_lock_file):
            git.prune(root)

    tp.steps.append(Step("git worktree prune", prune))
    if ap.tip is not None:
        tip = ap.tip
        why = _branch_rule(layout, feature, tree, tip, keep_ref)
        if args.keep_branches:
            tp.steps.append(Step(f"keep branch {tree} ({tip[:12]}): --keep-branches", lambda: None))
        else:
            text = (f"git branch -D -- {tree} ({tip[:12]}, {why})" if why else
                    f"git branch -D -- {tree} ({tip[:12]}) if its bundle verified, else keep it")

            def delete(tip: str = tip, why: str | None = why) -> str | None:
                if why is None and not verified.get("bundle"):
                    return f"kept branch {tree}: not adopted, not merged, and its bundle did not verify"
                if gitfacts.branch_tip(root, tree) != tip:
                    return f"kept branch {tree}: it moved since the archive was made"
                with git.mutation_lock(layout.git_lock_file):
                    git.delete_branch(root, tree)
                return None

            tp.steps.append(Step(text, delete))
    tp.steps.append(Step(f"release the ports of {tree} and forget its setup",
                         lambda: setup_step.release(layout, tree)))
    tp.steps.append(Step(f"forget {tree}: stamps, run record, prompt, logs, check logs, "
                         f"doit records worktree:/setup:/agent:{tree}", lambda: _forget(layout, tree)))
    return tp


def _remove2(layout: Layout, path: Path) -> None:
    with git.mutation_lock(layout.git_lock_file):
        git.remove_worktree(layout.root, path, force=2)


def run(args: argparse.Namespace) -> int:
    layout = _common.layout(args)
    feature = _common.feature_name(args)
    trees = _trees(layout, feature, args.tree)
    if not args.dry_run:
        _common.lock(layout, args)
    keep_ref = _keep_ref(layout, feature)
    s = recovery.scan(layout)
    plans = [plan_tree(layout, feature, t, args, keep_ref, s) for t in trees]
    refused = [p.refused for p in plans if p.refused]
    if refused:
        # All or nothing: one refused tree stops the whole cleanup before anything changes.
        raise PeError("refusing to clean up (nothing was changed): " + " | ".join(refused)
                      + "; commit or remove them, or pass --force to archive them and go on")
    prefix = "would " if args.dry_run else ""
    for p in plans:
        print(f"{p.tree}:")
        for i, step in enumerate(p.steps, 1):
            print(f"  {i}. {prefix}{step.text}")
            if not args.dry_run:
                try:
                    note = step.act()
                except (PeError, proc.ProcError):
                    # Each step is safe to repeat: say where it stopped, then fail.
                    print(f"pe: cleanup stopped at {p.tree} step {i}; the steps before it are done and "
                          f"`pe cleanup --feature={feature}` continues from here", file=sys.stderr)
                    raise
                if isinstance(note, str) and note:
                    print(f"{_INDENT}-> {note}")
    if args.dry_run:
        print("dry run: nothing was changed")
    else:
        print(f"archives in {layout.reports(feature).relative_to(layout.root)}/<tree>/ (see ARCHIVE.md there)")
    return 0
