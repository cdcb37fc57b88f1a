"""Read-only git facts about one tree, for status, recover, compare and cleanup.

Every call goes through `read()`, which passes `--no-optional-locks`: a plain
`git status` refreshes the index and may rewrite .git/index, and recover
promises to change nothing in git. Nothing here takes pe's locks, so these
work while agents run.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from pe import cache, git, proc
from pe.layout import PROGRESS_FILE, RESULTS_FILE
from pe.util import parallel

# pe's bookkeeping documents: required of every agent, so not part of "the change".
BOOKKEEPING = (RESULTS_FILE, PROGRESS_FILE)
_NOT_BOOKKEEPING = tuple(f":(top,exclude){name}" for name in BOOKKEEPING)

T = TypeVar("T")
R = TypeVar("R")


def read(cwd: Path, *args: str, check: bool = True) -> proc.Result:
    return start_read(cwd, *args, check=check).wait()


def start_read(cwd: Path, *args: str, check: bool = True) -> proc.Running:
    return git.start(cwd, "--no-optional-locks", *args, check=check)


@dataclass(frozen=True)
class Diffstat:
    files: int
    insertions: int
    deletions: int

    @property
    def lines(self) -> int:
        return self.insertions + self.deletions


def numstat(raw: str) -> Diffstat:
    files = ins = dels = 0
    for line in raw.splitlines():
        parts = line.split("\t", 2)
        if len(parts) < 3:
            continue
        files += 1
        # Binary files show "-": they count as a changed file without lines.
        ins += int(parts[0]) if parts[0].isdigit() else 0
        dels += int(parts[1]) if parts[1].isdigit() else 0
    return Diffstat(files, ins, dels)


def diffstat(tree_dir: Path, base_sha: str, head: str = "HEAD") -> Diffstat:
    """The committed change of the tree against its base, without RESULTS.md/PROGRESS.md."""
    raw = read(tree_dir, "diff", "--numstat", base_sha, head, "--", ".", *_NOT_BOOKKEEPING).stdout
    return numstat(raw)


def changed_paths(tree_dir: Path, base_sha: str, head: str = "HEAD") -> list[str]:
    raw = read(tree_dir, "diff", "--name-only", "-z", base_sha, head, "--").stdout
    return [p for p in raw.split("\0") if p]


# Names without -z: git quotes every byte >= 0x80, so its output is ASCII whatever the names are.
# With -z it writes them raw, and pe.proc decodes output as UTF-8: a Latin-1 file name failed
# the whole command (issue 13).
QUOTED = ("-c", "core.quotePath=true")
_C_ESCAPES = {"a": 7, "b": 8, "t": 9, "n": 10, "v": 11, "f": 12, "r": 13, '"': 34, "\\": 92}


def unquote(name: str) -> str:
    """A path as git prints it quoted (C-style, octal bytes) as the str os.fsencode turns back into
    the path's bytes: a name that is not UTF-8 keeps its bytes as surrogates, usable in argv."""
    if len(name) < 2 or name[0] != '"' or name[-1] != '"':
        return name
    body, raw, i = name[1:-1], bytearray(), 0
    while i < len(body):
        c = body[i]
        octal = body[i + 1:i + 4]
        if c != "\\":
            raw += c.encode()
            i += 1
        elif body[i + 1:i + 2] in _C_ESCAPES:
            raw.append(_C_ESCAPES[body[i + 1]])
            i += 2
        elif len(octal) == 3 and all(d in "01234567" for d in octal):
            raw.append(int(octal, 8))
            i += 4
        else:
            raw += b"\\"
            i += 1
    return os.fsdecode(bytes(raw))


def names(cwd: Path, *args: str) -> list[str]:
    """The paths a git command lists one a line (`diff --name-only`, `ls-files`), asked quoted, unquoted."""
    return [unquote(line) for line in read(cwd, *QUOTED, *args).stdout.split("\n") if line]


def changed_names(tree_dir: Path, base_sha: str, head: str = "HEAD") -> list[str]:
    """changed_paths for any file name (see QUOTED)."""
    return names(tree_dir, "diff", "--name-only", base_sha, head, "--")


def uncommitted(tree_dir: Path, untracked: str = "all") -> list[tuple[str, str]]:
    """(XY code, path) of every uncommitted entry but ignored ones, for any file name (see QUOTED)."""
    raw = read(tree_dir, *QUOTED, "status", "--porcelain=v1", f"--untracked-files={untracked}").stdout
    # A rename is `R  old -> new`: the entry is the new path.
    return [(line[:2], unquote(line[3:].rsplit(" -> ", 1)[-1])) for line in raw.split("\n") if len(line) > 3]


@dataclass(frozen=True)
class Scan:
    """One `git status` of a checkout: its HEAD, its branch and every uncommitted entry."""

    head: str | None  # None: no commit yet
    branch: str | None  # None: detached HEAD
    entries: tuple[tuple[str, str], ...]  # (XY code as porcelain v1 writes it, path)


def refresh_index(checkout: Path) -> None:
    """Bring the checkout's index stat info up to date, as a `git status` in a terminal does.

    pe's own looks run with --no-optional-locks and never write the index: on a checkout whose
    index is stale (files touched, a checkout elsewhere) every look re-hashes every file. This
    writes only stat info, never content; when git cannot (the user's git holds index.lock),
    nothing happens.
    """
    with contextlib.suppress(proc.ProcError, OSError):
        git.git(checkout, "update-index", "-q", "--refresh", "--unmerged", check=False)


def scan(tree_dir: Path, *, ignored: bool = False, untracked: str = "all", git_dir: Path | None = None) -> Scan:
    """HEAD, branch and uncommitted entries in one git process (porcelain v2 with --branch).

    `--ignored=matching` lists an ignored directory (node_modules/) as one
    entry instead of every file in it; untracked="normal" does the same for
    untracked directories. Codes come back in v1's spelling ("??", "!!", " M")
    so callers compare against what `git status --short` shows.
    """
    # git_dir: the tree's admin dir, for a tree whose .git file is gone (see cleanup).
    where = [f"--git-dir={git_dir}", f"--work-tree={tree_dir}"] if git_dir is not None else []
    args = [*where, *STATUS_ARGS, f"--untracked-files={untracked}"]
    if ignored:
        args.append("--ignored=matching")
    return parse_scan(read(tree_dir, *args).stdout)


STATUS_ARGS = ("status", "--porcelain=v2", "--branch", "-z")


def parse_scan(raw: str) -> Scan:
    """A Scan from what `git <STATUS_ARGS> --untracked-files=...` printed."""
    fields = raw.split("\0")
    head = branch = None
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(fields):
        entry = fields[i]
        i += 1
        kind = entry[:1]
        if kind == "#":
            key, _, value = entry[2:].partition(" ")
            if key == "branch.oid" and value != "(initial)":
                head = value
            elif key == "branch.head" and value != "(detached)":
                branch = value
        elif kind in ("?", "!"):
            out.append((kind * 2, entry[2:]))
        elif kind in ("1", "2", "u"):
            # Fields before the path: 1 has 8, 2 has 9 (then the old path as its own field), u has 10.
            parts = entry.split(" ", {"1": 8, "2": 9, "u": 10}[kind])
            out.append((parts[1].replace(".", " "), parts[-1]))
            if kind == "2":
                i += 1
    return Scan(head, branch, tuple(out))


def status_entries(tree_dir: Path, *, ignored: bool = False, untracked: str = "all") -> list[tuple[str, str]]:
    """(XY code, path) for every uncommitted entry; with ignored=True also `!!` entries."""
    return list(scan(tree_dir, ignored=ignored, untracked=untracked).entries)


@dataclass(frozen=True)
class TreeFacts:
    commits_ahead: int | None = None
    files_changed: int | None = None
    insertions: int | None = None
    deletions: int | None = None
    uncommitted: int | None = None
    last_commit_at: float | None = None
    head: str | None = None
    error: str | None = None


def _committed(tree_dir: Path, base_sha: str, head: str, cache_dir: Path | None) -> tuple[int, float | None, Diffstat]:
    """Commits, last commit time and diffstat of base..head: two git calls, or none.

    Both are facts about two immutable commits, so a result keyed by the pair never
    goes stale; `pe status --watch` and the table after execute then cost one git
    process per tree (its `git status`) instead of three.
    """
    known = _committed_known(base_sha, head, cache_dir)
    if known is not None:
        return known
    log = read(tree_dir, "log", "--format=%ct", f"{base_sha}..{head}").stdout.split()
    stat = diffstat(tree_dir, base_sha, head)
    last = float(log[0]) if log else None
    if cache_dir is not None:
        facts = {"commits": len(log), "last": last, "diffstat": [stat.files, stat.insertions, stat.deletions]}
        cache.write(cache_dir / f"{base_sha}-{head}.json", json.dumps(facts))
    return len(log), last, stat


def learn_committed(tree_dir: Path, base_sha: str, head: str, cache_dir: Path) -> None:
    """Compute and cache the facts of base..head now, so the table after a run needs no git for them.

    Called as each tree's run is checkpointed: trees that finish while others still run take
    their two git processes out of the wait between the last agent's end and the table.
    Best effort: the table computes what is not cached."""
    with contextlib.suppress(proc.ProcError, OSError):
        _committed(tree_dir, base_sha, head, cache_dir)


def _committed_known(base_sha: str, head: str, cache_dir: Path | None) -> tuple[int, float | None, Diffstat] | None:
    """_committed's answer when it needs no git: no commit since the base, or the pair cached."""
    if head == base_sha:
        return 0, None, Diffstat(0, 0, 0)
    if cache_dir is None:
        return None
    try:
        known = json.loads(cache.get(cache_dir / f"{base_sha}-{head}.json") or "null")
        return int(known["commits"]), known["last"], Diffstat(*known["diffstat"])
    except (KeyError, TypeError, ValueError):
        return None  # not cached yet, torn, or from another version: recompute it


def tree_facts(tree_dir: Path, base_sha: str | None, cache_dir: Path | None = None,
               scanned: Scan | None = None) -> TreeFacts:
    """Commits ahead, diffstat, uncommitted entries. Reads only; `cache_dir` is a directory
    where the commit facts may be kept (see _committed); `scanned`, the tree's scan if the
    caller has just made one (ignored entries in it are not counted)."""
    if base_sha is None or not (tree_dir / ".git").exists():
        return TreeFacts()
    try:
        now = scanned or scan(tree_dir)
        if now.head is None:
            return TreeFacts(error="the tree has no commit checked out")
        commits, last, stat = _committed(tree_dir, base_sha, now.head, cache_dir)
    except proc.ProcError as exc:
        return TreeFacts(error=str(exc))
    return _facts(now, commits, last, stat)


def tree_facts_on_hand(tree_dir: Path, base_sha: str | None, cache_dir: Path | None,
                       scanned: Scan | None) -> TreeFacts | None:
    """tree_facts when it would start no git process (its scan given, its commit facts cached); else None.

    For callers that ask for many trees: the ones on hand cost a few file reads, done one after
    another, and only the rest go to a thread pool (threads make file reads 3x slower: issue 18).
    """
    if base_sha is None or not (tree_dir / ".git").exists():
        return TreeFacts()
    if scanned is None:
        return None
    if scanned.head is None:
        return TreeFacts(error="the tree has no commit checked out")
    known = _committed_known(base_sha, scanned.head, cache_dir)
    return _facts(scanned, *known) if known is not None else None


def _facts(now: Scan, commits: int, last: float | None, stat: Diffstat) -> TreeFacts:
    dirty = sum(1 for code, _ in now.entries if code != "!!")
    return TreeFacts(commits, stat.files, stat.insertions, stat.deletions, dirty, last, now.head)


def scan_all(dirs: Sequence[Path]) -> dict[Path, Scan]:
    """A scan with ignored entries of each of `dirs` that is a checkout, in parallel; one git
    process each, enough for both the status table and guard's check of finished trees."""
    present = [d for d in dirs if (d / ".git").exists()]

    def one(d: Path) -> Scan | None:
        try:
            return scan(d, ignored=True)
        except proc.ProcError:
            return None  # whoever reads it asks git again and reports the error

    return {d: found for d, found in zip(present, parallel(one, present), strict=True) if found is not None}


def branch_tip(root: Path, branch: str) -> str | None:
    res = read(root, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}", check=False)
    return res.stdout.strip() or None


def is_ancestor(root: Path, commit: str, of: str) -> bool:
    return read(root, "merge-base", "--is-ancestor", commit, of, check=False).returncode == 0


def show(root: Path, rev: str, path: str) -> str | None:
    """A file's text at a commit, or None if it is not there."""
    res = read(root, "show", f"{rev}:{path}", check=False)
    return res.stdout if res.returncode == 0 else None


def blob_text(root: Path, rev: str, path: str) -> str | None:
    """show() for any file name: git's error for a missing file quotes the name raw, which pe.proc
    cannot decode when it is not UTF-8; asked quietly by object name, no name comes back."""
    res = read(root, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}:{path}", check=False)
    oid = res.stdout.strip()
    if res.returncode != 0 or not oid:
        return None
    found = read(root, "cat-file", "blob", oid, check=False)  # (a directory of that name: not a blob)
    return found.stdout if found.returncode == 0 else None


def not_pes(root: Path, tree: Path, branch: str, *, detached_ok: bool = False) -> str | None:
    """What makes `tree` no longer pe's worktree on `branch`, or None when it still is.

    Asked before pe commits in a tree or starts its agent. An agent with a shell may delete
    the tree's .git file (git then finds the main checkout, and a commit there would take the
    user's uncommitted work onto main), repoint it, or check out another branch: pe must then
    commit nothing anywhere. One git process: where git finds the repository, and HEAD.
    """
    rel = tree.relative_to(root) if tree.is_relative_to(root) else tree
    dotgit = tree / ".git"
    if not dotgit.exists() and not dotgit.is_symlink():
        return f"the agent deleted {rel}/.git"
    if dotgit.is_symlink() or not dotgit.is_file():
        return f"{rel}/.git is no longer the file git worktree wrote (a directory or a link: git init?)"
    res = read(tree, "rev-parse", "--absolute-git-dir", "--git-common-dir", "--symbolic-full-name", "HEAD",
              check=False)
    found = res.stdout.splitlines()
    if res.returncode != 0 or len(found) != 3:
        return f"git cannot read {rel}/.git ({(res.stderr.strip().splitlines() or ['?'])[-1]})"
    gitdir, common, head = Path(found[0]).resolve(), (tree / found[1]).resolve(), found[2]
    try:
        back = Path(gitdir.joinpath("gitdir").read_text(encoding="utf-8").strip()).resolve()
    except (OSError, UnicodeDecodeError):
        back = None
    if common != git.common_dir(root).resolve() or gitdir.parent != common / "worktrees" or back != dotgit.resolve():
        return f"{rel}/.git points at another repository or worktree ({gitdir})"
    if head == "HEAD":
        # A sandboxed agent works on a detached HEAD pe gave it (attach() moves the branch).
        return None if detached_ok else f"{rel} has a detached HEAD (the agent left branch {branch})"
    if head != f"refs/heads/{branch}":
        return f"{rel} is on branch {head.removeprefix('refs/heads/')}, not {branch} (the agent switched branches)"
    return None


def nested_repositories(tree: Path) -> list[str]:
    """Untracked directories of `tree` that are git repositories of their own (an agent's `git init`)."""
    raw = read(tree, "status", "--porcelain=v1", "-z", "--untracked-files=normal", check=False).stdout
    dirs = [e[3:] for e in raw.split("\0") if e.startswith("?? ") and e.endswith("/")]
    return [d for d in dirs if (tree / d / ".git").exists()]
