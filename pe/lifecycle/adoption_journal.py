"""What a killed pe adopt leaves half done, finished (or dropped) by the next pe that takes the lock.

pe adopt moves the target branch first and records the adoption after it
(reports/<feature>/ADOPTED.json, a line in reports/history.jsonl): a kill -9
in between lost the record, the next adopt found nothing to adopt (exit 3) and
cleanup no record to delete the branch by. So adopt writes a journal holding
the whole record before the ref moves, and removes it once the record is
written. The next pe to take the repository lock (pe/lock.py) finds it: if the
target has the journal's commit the record is written as the adopt would have
written it, else the ref never moved, nothing was adopted, and the journal goes.

A --rebase replays the tree's commits in a scratch worktree under .pe/adopt/;
killed there, the worktree stayed registered for good. The next pe removes it
and prunes, unless it holds work that no branch has (then it is left, and said).

Imports stay light: every command that takes the lock runs `repair` when .pe/adopt/ exists.
"""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path
from typing import Any

from pe import git, gitfacts
from pe.errors import PeError, ProcError
from pe.fsutil import read_json, write_json_atomic
from pe.layout import Layout

# Layout.adopt_work's names, <tree>-<time>, and -<n> after them when that one was taken (adoption._rebase).
_SCRATCH_NAME = re.compile(r"(?P<tree>.+?)-\d{8}-\d{6}(?:-\d+)?")


def scratch_dir(layout: Layout) -> Path:
    """Where adopt's scratch worktrees (Layout.adopt_work) and its journals live."""
    # TODO(layout): move to Layout (the parent of Layout.adopt_work)
    return layout.state / "adopt"


def journal_path(layout: Layout, feature: str) -> Path:
    """The journal of the feature's adoption in progress (one at a time: adopt holds the repository lock)."""
    # TODO(layout): move to Layout
    return scratch_dir(layout) / "journal" / f"{feature}.json"


def begin(layout: Layout, entry: dict[str, Any]) -> None:
    """Before the target moves: everything the record will say, so a later pe can write it."""
    write_json_atomic(journal_path(layout, entry["feature"]), {"record": entry})


def record(layout: Layout, entry: dict[str, Any], *, resumed: bool = False) -> None:
    """ADOPTED.json (what cleanup reads), a history line, then the journal goes.

    `resumed`: finishing a journal, which a kill may have cut off after the history line
    was appended: that line is not appended twice.
    """
    write_json_atomic(layout.adopted(entry["feature"]), entry)
    line = json.dumps(entry, sort_keys=True)
    history = layout.history
    history.parent.mkdir(parents=True, exist_ok=True)
    if not (resumed and history.exists() and line in history.read_text(encoding="utf-8").splitlines()):
        with history.open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")
    journal = journal_path(layout, entry["feature"])
    journal.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        journal.parent.rmdir()  # once empty: a repository with no adoption under way has no journal dir


def _moved(layout: Layout, entry: dict[str, Any]) -> bool:
    """Does the target have the adoption's commit (a later commit on top of it counts too)?"""
    tip = gitfacts.branch_tip(layout.root, str(entry.get("into")))
    commit = str(entry.get("commit"))
    return tip is not None and (tip == commit or gitfacts.is_ancestor(layout.root, commit, tip))


def settle(layout: Layout, path: Path) -> str:
    """Finish or drop one journal; the one line that says which."""
    entry = (read_json(path) or {}).get("record")
    if not isinstance(entry, dict) or not {"feature", "tree", "into", "commit", "previous", "mode"} <= set(entry):
        raise PeError(f"{path}: not a journal of pe adopt; look at it, then delete it")
    what = f"the adoption of {entry['tree']} into {entry['into']} by {entry['mode']}"
    if not _moved(layout, entry):
        path.unlink(missing_ok=True)
        return f"{what} was cut off before it had moved {entry['into']}: nothing was adopted"
    record(layout, entry, resumed=True)
    return (f"finished {what} ({str(entry['previous'])[:12]} -> {str(entry['commit'])[:12]}) that a killed "
            f"pe adopt had not recorded: reports/{entry['feature']}/ADOPTED.json")


def _author_and_message(root: Path, commit: str) -> str:
    """What `git commit -C <original>` copies: the author line and the message."""
    raw = gitfacts.read(root, "cat-file", "commit", commit).stdout
    header, _, message = raw.partition("\n\n")
    author = next((ln for ln in header.splitlines() if ln.startswith("author ")), "")
    return author + "\n" + message


def _message(root: Path, commit: str) -> str:
    return gitfacts.read(root, "show", "-s", "--format=%B", commit).stdout.strip()


def _subject(root: Path, commit: str) -> str:
    return next(iter(_message(root, commit).splitlines()), "")[:60]


def _unsaved(layout: Layout, wt: git.Worktree) -> str | None:
    """What in a scratch worktree no branch has, or None when removing it loses nothing.

    Its commits on no branch must be replays of the tree's own (adopt makes them with
    `commit -C <original>`: same author, date and message), its uncommitted changes
    the cherry-pick in progress of one of them, and it holds no file git does not track.
    """
    if wt.locked == "initializing":
        return None  # a `worktree add` cut off: at most a checkout of the target
    root = layout.root
    found = _SCRATCH_NAME.fullmatch(wt.path.name)
    tree_tip = gitfacts.branch_tip(root, found["tree"]) if found else None
    if found is None or tree_tip is None or not wt.head:
        return "cannot be checked against its tree's branch (gone?)"
    originals = gitfacts.read(root, "rev-list", "--no-merges", tree_tip, "--not", wt.head).stdout.split()
    replays = {_author_and_message(root, c) for c in originals}
    for c in gitfacts.read(root, "rev-list", wt.head, "--not", "--branches").stdout.split():
        if _author_and_message(root, c) not in replays:
            return f"holds commit {c[:12]} ({_subject(root, c)}), which is on no branch"
    entries = gitfacts.status_entries(wt.path, ignored=True)
    loose = [p for code, p in entries if code in ("??", "!!")]
    if loose:
        return f"holds {len(loose)} file(s) git does not track ({', '.join(loose[:3])}), on no branch"
    if entries:
        merge_msg = Path(gitfacts.read(wt.path, "rev-parse", "--path-format=absolute", "--git-path",
                                       "MERGE_MSG").stdout.strip())
        picking = merge_msg.read_text(encoding="utf-8").split("\n# Conflicts:")[0].strip() \
            if merge_msg.is_file() else None
        if picking is None or picking not in {_message(root, c) for c in originals}:
            return f"holds {len(entries)} uncommitted change(s) that are no replay of {found['tree']}'s, on no branch"
    return None


def remove_scratch(layout: Layout) -> list[str]:
    """Remove what killed --rebase adoptions left registered under .pe/adopt/; a line for each."""
    base = scratch_dir(layout).resolve()
    try:
        listed = [wt for wt in git.worktree_list(layout.root) if wt.path.resolve().parent == base]
    except ProcError as exc:  # a worktree entry a killed git left half-written: resume repairs those
        return [f"warning: scratch worktrees under {scratch_dir(layout)} not checked: {exc}"]
    lines: list[str] = []
    gone, prunable = [], False
    for wt in listed:
        shown = wt.path.relative_to(layout.root) if wt.path.is_relative_to(layout.root) else wt.path
        if wt.prunable is not None:
            prunable = True
            continue
        why = _unsaved(layout, wt)
        if why is not None:
            lines.append(f"warning: {shown}, the scratch worktree of a pe adopt --rebase that was killed, {why}; "
                         f"left as it is: save what you need, then `git worktree remove --force {shown}`")
            continue
        gone.append(wt.path)
        lines.append(f"removed {shown}, the scratch worktree of a pe adopt --rebase that was killed")
    if gone or prunable:
        with git.mutation_lock(layout.git_lock_file):
            for path in gone:
                # --force twice: a replay cut off has staged changes, an add cut off a `locked` entry.
                git.git(layout.root, "worktree", "remove", "--force", "--force", "--", str(path), check=False)
            git.prune(layout.root)
        import shutil  # here: every command that locks imports this module, and shutil loads bz2 and lzma

        for path in gone:
            shutil.rmtree(path, ignore_errors=True)
    return lines


def repair(layout: Layout) -> list[str]:
    """Everything a killed pe adopt left: journals finished or dropped, scratch worktrees removed.

    The caller holds the repository lock, so no adopt is running: whatever is here was cut off.
    """
    lines: list[str] = []
    journals = scratch_dir(layout) / "journal"
    for path in sorted(journals.glob("*.json")) if journals.is_dir() else []:
        lines.append(settle(layout, path))
    with contextlib.suppress(OSError):
        journals.rmdir()  # only once empty: the usual state is no .pe/adopt/ at all
    lines += remove_scratch(layout)
    with contextlib.suppress(OSError):
        scratch_dir(layout).rmdir()
    return lines


def left_behind(layout: Layout) -> bool:
    """A killed pe adopt left work for the next lock to finish (it may move main and remove trees).
    The usual answer, no, costs one stat."""
    return scratch_dir(layout).is_dir()


def finish_after_lock(layout: Layout) -> None:
    """Right after the repository lock is taken: record an adoption a killed pe adopt left
    unrecorded, remove its scratch worktrees. One line each, on stderr."""
    import sys

    if not left_behind(layout):
        return
    for line in repair(layout):
        sys.stderr.write(f"pe: {line}\n")
