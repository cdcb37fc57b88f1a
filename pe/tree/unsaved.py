"""What in a tree would be lost if it were removed now.

`git worktree remove` refuses modified and untracked files but deletes
ignored ones silently (.env, build output; see the shared git-worktree notes).
So an ignored entry is only safe when pe can tell it is not work:
- the env file setup wrote, or a directory an install produced;
- a reproducible cache or build directory (node_modules, .venv, __pycache__...);
- a file carried over from the main checkout and still identical to it (or a
  link back to it);
- anything pe compare's checks left there (recorded in .pe/checks/<tree>/created.json).
Anything else, e.g. a carried .env edited in the tree, is unsaved work.
"""

from __future__ import annotations

import filecmp
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pe import git, gitfacts
from pe.errors import ProcError
from pe.layout import Layout
from pe.tree import stamps

REGENERABLE_DIRS = {
    "node_modules", ".venv", "venv", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".tox",
    ".nox", ".cache", ".next", ".nuxt", ".turbo", ".parcel-cache", ".gradle", "target", "build", "dist",
    "coverage", "htmlcov", ".eggs",
}
REGENERABLE_SUFFIXES = (".pyc", ".pyo", ".egg-info", ".egg-info/")
REGENERABLE_FILES = {".coverage", ".DS_Store"}
_COMPARE_MAX_FILES = 2000


@dataclass
class Unsaved:
    changed: list[str] = field(default_factory=list)  # tracked files modified, staged, deleted
    untracked: list[str] = field(default_factory=list)
    ignored: list[tuple[str, str]] = field(default_factory=list)  # (path, why it is work)
    # Untracked entries that are not work (left by checks, bytecode): git still wants --force for them.
    untracked_other: list[str] = field(default_factory=list)
    # The tree's HEAD when it holds commits that are on no branch (an agent detached it, or
    # pe was killed before it moved a sandboxed run's branch): removing the tree loses them.
    stray: str | None = None

    def __bool__(self) -> bool:
        return bool(self.changed or self.untracked or self.ignored or self.stray)

    def describe(self) -> str:
        parts = []

        def few(items: list[str]) -> str:
            return ", ".join(items[:5]) + (f" and {len(items) - 5} more" if len(items) > 5 else "")

        if self.changed:
            parts.append(f"{len(self.changed)} uncommitted change(s): {few(self.changed)}")
        if self.untracked:
            parts.append(f"{len(self.untracked)} untracked file(s): {few(self.untracked)}")
        if self.ignored:
            parts.append(f"{len(self.ignored)} ignored file(s) not carried over: "
                         + few([f"{p} ({why})" for p, why in self.ignored]))
        if self.stray:
            parts.append(f"HEAD is at {self.stray[:12]}, with commits that are on no branch")
        return "; ".join(parts)


def stray_head(root: Path, tree_dir: Path, branch: str) -> str | None:
    """The tree's HEAD if it holds commits no branch holds, else None.

    Read from the admin dir's HEAD first: a tree on its branch (the usual case) costs no
    git process. Detached or on another branch: is HEAD contained in any branch?
    """
    try:
        gitdir, _ = git.admin_dirs(tree_dir)
        if (gitdir / "HEAD").read_text(encoding="utf-8").strip() == f"ref: refs/heads/{branch}":
            return None
    except (OSError, UnicodeDecodeError, ProcError):
        return None
    res = gitfacts.read(tree_dir, "rev-parse", "--verify", "--quiet", "HEAD", check=False)
    head = res.stdout.strip()
    if res.returncode != 0 or not head:
        return None
    holders = gitfacts.read(root, "for-each-ref", "--contains", head, "--format=%(refname)", "refs/heads/")
    return None if holders.stdout.strip() else head


def _setup_managed(layout: Layout, tree: str) -> tuple[set[str], set[str]]:
    """(files and dirs setup generated, files it carried over): setup's own account of them."""
    generated, carried = stamps.setup_created(layout, tree)
    return {p.strip("/") for p in generated}, set(carried)


def _regenerable(path: str) -> bool:
    name = path.rstrip("/").rsplit("/", 1)[-1]
    return (path.endswith("/") and name in REGENERABLE_DIRS) or name in REGENERABLE_FILES \
        or path.endswith(REGENERABLE_SUFFIXES) or any(part in REGENERABLE_DIRS for part in path.split("/")[:-1])


def _same_as_main(tree_dir: Path, root: Path, rel: str) -> bool:
    mine, theirs = tree_dir / rel, root / rel
    if mine.is_symlink():
        # A link setup made back to the main checkout: edits went to the main file.
        return os.path.realpath(mine) == os.path.realpath(theirs)
    if mine.is_file():
        return theirs.is_file() and filecmp.cmp(mine, theirs, shallow=False)
    if mine.is_dir() and theirs.is_dir():
        count = 0
        for dirpath, _, files in os.walk(mine):
            for name in files:
                count += 1
                sub = Path(dirpath, name).relative_to(tree_dir)
                if count > _COMPARE_MAX_FILES or not _same_as_main(tree_dir, root, str(sub)):
                    return False
        return True
    return False


def _made_by_checks(path: str, made: set[str]) -> bool:
    return path in made or any(path.startswith(d) for d in made if d.endswith("/"))


def unsaved(layout: Layout, tree: str, entries: Sequence[tuple[str, str]] | None = None) -> Unsaved:
    """`entries`: the tree's status with ignored entries, if the caller has just read it."""
    tree_dir = layout.trees / tree
    out = Unsaved()
    generated, carried = _setup_managed(layout, tree)
    made = stamps.checks_created(layout, tree)
    out.stray = stray_head(layout.root, tree_dir, tree) if (tree_dir / ".git").is_file() else None
    if entries is None:
        entries = gitfacts.status_entries(tree_dir, ignored=True)
    for code, path in entries:
        if code in ("??", "!!") and _made_by_checks(path, made):
            if code == "??":
                out.untracked_other.append(path)
            continue  # left by pe compare's checks, not by the agent or the user
        if code == "??" and path.endswith((".pyc", ".pyo")):
            out.untracked_other.append(path)
            continue  # bytecode: the checkpoint commit would have taken any real file
        if code == "??":
            out.untracked.append(path)
        elif code != "!!":
            out.changed.append(path)
        elif path.rstrip("/") in generated or _regenerable(path):
            continue
        elif _same_as_main(tree_dir, layout.root, path.rstrip("/")):
            continue
        elif path.rstrip("/") in carried:
            out.ignored.append((path, "carried over from the main checkout, then changed in the tree"))
        else:
            out.ignored.append((path, "ignored by git and not in the main checkout"
                                if not (layout.root / path).exists() else "differs from the main checkout's"))
    return out
