"""What an agent must not touch, and how pe notices when one did.

Without a sandbox (`sandbox: none`, or no bubblewrap on this machine) pe cannot stop
an agent from writing outside its tree: agents run as the user, with the user's
permissions. What pe does then:
- it never writes outside a tree on an agent's behalf (the checkpoint commit
  runs in the tree, on the tree's branch);
- it compares the main checkout (HEAD, and every uncommitted entry with its
  content) before and after each agent run, and records any change as a
  warning on that run: "changed while this agent ran" (with agents running in
  parallel, each of them gets it: pe cannot tell which one, or the user, did it);
- it compares the repository's shared git state the same way (config, hooks, info/,
  every ref but the feature's own tree branches): a planted hook or a moved main is a
  warning on the run, shown by execute and `pe status --json`;
- after execute, it checks that every tree already done still holds exactly
  what pe committed there (see execute).
The commits themselves are safe from a stray `rm`: they live in the object store.
With the sandbox (pe/sandbox), none of this can happen; without it, pe can only tell.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from pe import git, gitfacts, util
from pe.config.spec import Feature
from pe.layout import Layout
from pe.proc import ProcError
from pe.tree import stamps
from pe.tree.runrecord import RunRecord
from pe.tree.unsaved import Unsaved, unsaved

T = TypeVar("T")

_HASH_LIMIT = 50_000_000  # bytes of a dirty file worth hashing; past it, size and mtime stand in


@dataclass(frozen=True)
class Snapshot:
    head: str | None
    entries: frozenset[tuple[str, str, str]]  # (XY code, path, content digest)


_DIR_LIMIT = 2000  # files of an untracked directory worth listing; past it, the first ones stand in


def _dir_digest(path: Path) -> str:
    """An untracked directory (one status entry): its files' names, sizes and times.

    A file edited in place inside it changes neither the entry nor the directory's own time.
    """
    h = hashlib.sha256()
    for n, (folder, _, files) in enumerate(os.walk(path)):
        for name in sorted(files):
            try:
                st = os.lstat(os.path.join(folder, name))
            except OSError:
                continue
            h.update(f"{folder}/{name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        if n > _DIR_LIMIT:
            break
    return h.hexdigest()


def _digest(path: Path) -> str:
    try:
        st = path.lstat()
        if path.is_dir() and not path.is_symlink():
            return _dir_digest(path)
        if not path.is_file() or st.st_size > _HASH_LIMIT:
            return f"{st.st_size}:{st.st_mtime_ns}"
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return "missing"


def snapshot(root: Path) -> Snapshot | None:
    """The checkout at `root` as far as an agent elsewhere could change it (None: git could not say)."""
    try:
        # untracked="normal": an untracked directory is one entry, however many files it holds.
        now = gitfacts.scan(root, untracked="normal")
    except (ProcError, OSError):
        return None  # a watch that cannot look must not fail the agent's run
    entries = frozenset((code, path, _digest(root / path)) for code, path in now.entries)
    return Snapshot(now.head, entries)


class _Shared(Generic[T]):
    """One look serves every run that needs one at about the same moment.

    Without a sandbox each agent run scanned the main checkout before it started and after it
    ended: 2 `git status` per agent, each re-hashing every file of a big repository whose index
    is stale (8 agents on 20,000 files: 7.4 s against a 2.8 s floor, issue 18). The repository's
    shared git state (git_before/git_after) was read the same way, 2 git processes per agent. Now:
    - a run's before-look is any look taken since the last run was seen to end (the agents a batch
      starts together share one: the changes of one that started a moment earlier can then be
      reported on the other too, which pe could not tell apart anyway);
    - a run's after-look is any look that began after its processes were all gone (`ended`, from
      its end file; runs that end together share one, also when pe notices them one by one).
    A look older than REUSE_S is never reused: the runs that share one start or end together,
    and an older one could carry the user's own edits between two runs onto the next.
    `refresh`: a pe refreshes the checkout's index once, as a `git status` in the user's terminal
    would, so the looks after it need not re-hash unchanged files: in the background, REFRESH_AFTER_S
    after its first look began. Not before that look, as it was: on a stale index of 20,000 files
    the refresh took 215 ms on the way to the first agent's start, and one made within the second
    the files were touched leaves them racily clean, re-hashed by every later look all the same
    (issue 18). A second later their times are in the past of the index it writes.
    """

    REUSE_S = 2.0
    REFRESH_AFTER_S = 1.1

    def __init__(self, take: Callable[[Path], T], refresh: bool = False) -> None:
        import threading

        self._take, self._refresh = take, refresh
        self._lock = threading.Lock()
        # root -> (wall-clock time the look began, the monotonic one, the look)
        self._taken: dict[Path, tuple[float, float, T]] = {}
        self._ended: dict[Path, float] = {}  # root -> when pe last asked for an after-look there
        self._refreshed: set[Path] = set()

    def look(self, root: Path, not_before: float) -> T:
        """A look that began at `not_before` (wall clock) or later."""
        with self._lock:
            taken = self._taken.get(root)
            if taken is not None and taken[0] >= not_before and time.monotonic() - taken[1] <= self.REUSE_S:
                return taken[2]
            began, began_mono = time.time(), time.monotonic()
            now = self._take(root)
            self._taken[root] = (began, began_mono, now)
            if self._refresh and root not in self._refreshed:
                self._refreshed.add(root)
                self._refresh_later(root, began_mono + self.REFRESH_AFTER_S)
            return now

    def _refresh_later(self, root: Path, at: float) -> None:
        """Refresh the index at monotonic time `at`, in the background: the looks never wait for it."""

        def index_refresh() -> None:
            time.sleep(max(0.0, at - time.monotonic()))
            gitfacts.refresh_index(root)  # a git that cannot (index.lock held) changes nothing

        util.background(index_refresh)

    def before_run(self, root: Path) -> T:
        with self._lock:
            ended = self._ended.get(root, float("-inf"))
        return self.look(root, ended)

    def after_run(self, root: Path, ended: float | None = None) -> T:
        """`ended`: when the run's processes were all gone (End.ended_ts); unknown, now."""
        asked = time.time()
        with self._lock:
            self._ended[root] = max(self._ended.get(root, asked), asked)
        return self.look(root, asked if ended is None else min(ended, asked))


SHARED = _Shared(snapshot, refresh=True)


_WHAT = {"D": "deleted", "M": "modified", "A": "added", "R": "renamed", "?": "created", "T": "type changed"}


def changes(before: Snapshot | None, after: Snapshot | None, limit: int = 5) -> str | None:
    """One line saying what differs between two snapshots of a checkout, or None."""
    if before is None or after is None:
        return None
    said = []
    if before.head != after.head:
        said.append(f"HEAD moved from {(before.head or 'none')[:12]} to {(after.head or 'none')[:12]}")
    old = {path: (code, digest) for code, path, digest in before.entries}
    new = {path: (code, digest) for code, path, digest in after.entries}
    for path in sorted(old.keys() | new.keys()):
        if old.get(path) == new.get(path):
            continue
        if path not in new:
            said.append(f"{path} restored")
        else:
            code = new[path][0].strip() or "M"
            said.append(f"{path} {_WHAT.get(code[-1], _WHAT.get(code[0], 'changed'))}")
    if not said:
        return None
    more = f" and {len(said) - limit} more" if len(said) > limit else ""
    return ", ".join(said[:limit]) + more


def git_before(root: Path, own: frozenset[str]) -> Snapshot | None:
    """The repository's shared git state, for a run about to start: config, hooks, info/, and
    every ref but `own` branches.

    What an agent without a sandbox can change to act later, outside any tree: a hook or a
    `core.hooksPath`/`core.fsmonitor` runs the next time the user (or pe) runs git; a moved
    `main` or tag ships its commits. `own`: the branches of the feature's trees, which their
    agents and pe's checkpoints move on purpose. One git process, and a few small files, shared
    by the runs that start together (_Shared).
    """
    return _but_own(GIT.before_run(root), own)


def git_after(root: Path, own: frozenset[str], ended: float | None = None) -> Snapshot | None:
    """git_before's look, for a run whose processes were all gone at `ended` (End.ended_ts)."""
    return _but_own(GIT.after_run(root, ended), own)


def _git_state(root: Path) -> Snapshot | None:
    try:
        common = git.common_dir(root)
        refs = gitfacts.read(root, "for-each-ref", "--format=%(refname) %(objectname)").stdout.splitlines()
    except (ProcError, OSError):
        return None
    entries = {("ref", name, sha) for name, _, sha in (line.partition(" ") for line in refs)}
    # info/exclude is left out: setup of a tree running beside this agent appends to it.
    files = [common / "config", *_listing(common / "hooks"),
             *[f for f in _listing(common / "info") if f.name != "exclude"]]
    entries |= {("file", str(f.relative_to(common)), _digest(f)) for f in files if f.exists() or f.is_symlink()}
    return Snapshot(None, frozenset(entries))


def _but_own(state: Snapshot | None, own: frozenset[str]) -> Snapshot | None:
    if state is None:
        return None
    return Snapshot(None, frozenset(e for e in state.entries if not (
        e[0] == "ref" and e[1].startswith("refs/heads/") and e[1].removeprefix("refs/heads/") in own)))


GIT = _Shared(_git_state)


def _listing(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if not p.name.endswith(".sample"))
    except OSError:
        return []


def git_changes(before: Snapshot | None, after: Snapshot | None, limit: int = 5) -> str | None:
    """One line naming what changed in the shared git state between git_before and git_after."""
    if before is None or after is None or before == after:
        return None
    old = {(kind, name): digest for kind, name, digest in before.entries}
    new = {(kind, name): digest for kind, name, digest in after.entries}
    said = []
    for kind, name in sorted(old.keys() | new.keys()):
        if old.get((kind, name)) == new.get((kind, name)):
            continue
        what = ".git/" + name if kind == "file" else name
        verb = "created" if (kind, name) not in old else "deleted" if (kind, name) not in new else (
            "moved" if kind == "ref" else "modified")
        said.append(f"{what} {verb}")
    more = f" and {len(said) - limit} more" if len(said) > limit else ""
    return ", ".join(said[:limit]) + more


def done_tree_changes(layout: Layout, tree: str, scanned: gitfacts.Scan | None = None) -> str | None:
    """What changed in a done tree since pe committed its agent's work there, or None.

    pe commits everything an agent leaves, so a done tree is clean on the commit its
    stamp names; anything else was written there afterwards (by another tree's agent,
    or by a person). Files setup or pe compare put there do not count, nor do ignored
    files: the checkpoint commit never takes those, so the agent may have left them.
    """
    stamp = stamps.read(layout, tree, stamps.AGENT) or {}
    tree_dir = layout.tree(tree)
    said = []
    now = scanned or gitfacts.scan(tree_dir, ignored=True)
    if stamp.get("commit") and now.head != stamp["commit"]:
        said.append(f"HEAD moved from {str(stamp['commit'])[:12]} to {(now.head or 'none')[:12]}")
    work = unsaved(layout, tree, now.entries)
    tracked = Unsaved(changed=work.changed, untracked=work.untracked)
    if tracked:
        said.append(tracked.describe())
    return "; ".join(said) or None


def warnings(layout: Layout, feature: Feature, attempts_before: dict[str, int],
             scans: dict[Path, gitfacts.Scan] | None = None) -> list[str]:
    """After a run: what its agents changed outside their trees, as far as pe can see.

    `scans`: the trees' scans with ignored entries (gitfacts.scan_all), if just made."""
    out = []
    for tree in feature.trees:
        record = RunRecord.load(layout.run_record(tree.name), tree.name)
        if record.attempts > attempts_before.get(tree.name, 0):
            out += [f"{tree.name}: {w}" for w in record.warnings]
    # Every tree pe committed a finished run in, stale ones included: a deleted RESULTS.md
    # makes a tree stale (it runs again), and that, too, was written by someone else.
    finished = [t.name for t in feature.trees
                if stamps.agent_finished_once(layout, t.name) and layout.tree(t.name).is_dir()]

    def check(tree: str) -> str | None:
        try:
            return done_tree_changes(layout, tree, (scans or {}).get(layout.tree(tree)))
        except (ProcError, OSError):
            return None  # git cannot read the tree: status says so, this is only a watch

    for name, touched in zip(finished, util.parallel(check, finished), strict=True):
        if touched:
            out.append(f"trees/{name} changed after its agent finished and pe committed the work "
                       f"({touched}): another agent, or a person, wrote there")
    return out
