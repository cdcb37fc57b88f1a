"""Carry untracked files (.env, local config) from the main checkout into a tree.

`copy:` copies, `symlink:` links back to the main checkout's file. Both take
paths or globs relative to the repository root (`*` and `?` within a name,
`**` for any number of directories). Rules, whatever the pattern says:
- `.git`, `trees/`, `.pe/` and the env file are never carried;
- tracked files are never carried: git already put the base's version there,
  and a tree's tracked files are never overwritten;
- a link whose target lies outside the repository is refused (logged, not
  followed); a link inside it is carried as the file it points to;
- nothing is written through a directory of the tree that leads outside it.
`**` does not descend into symlinked directories, node_modules, .venv or tool caches.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pe import git
from pe.layout import STATE_DIR, TREES_DIR

# `**` never walks into these: installs, caches and build output hold no local config,
# and in a large repository they hold most of the files.
_NEVER_DESCEND = {".git", "node_modules", ".venv", "__pycache__", ".tox", ".nox", ".mypy_cache", ".pytest_cache",
                  ".ruff_cache", ".next", ".turbo", ".gradle"}
_MAGIC = set("*?[")


@dataclass
class Carried:
    copied: list[str] = field(default_factory=list)
    linked: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, why)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (path, why)

    @property
    def paths(self) -> list[str]:
        return [*self.copied, *self.linked]


def _join(rel: str, name: str) -> str:
    return f"{rel}/{name}" if rel else name


def _walk(base: Path, rel: str, parts: list[str], out: set[str]) -> None:
    if not parts:
        if rel:
            out.add(rel)
        return
    head, rest = parts[0], parts[1:]
    if head == "**":
        _walk(base, rel, rest, out)
        for entry in _dirs(base):
            if entry.name not in _NEVER_DESCEND and not (not rel and entry.name in (TREES_DIR, STATE_DIR)):
                _walk(Path(entry.path), _join(rel, entry.name), parts, out)
        return
    if not _MAGIC & set(head):
        path = base / head
        if rest:
            if path.is_dir() and not path.is_symlink():
                _walk(path, _join(rel, head), rest, out)
        elif os.path.lexists(path):
            out.add(_join(rel, head))
        return
    try:
        entries = list(os.scandir(base))
    except OSError:
        return
    for entry in entries:
        if not fnmatch.fnmatchcase(entry.name, head):
            continue
        if rest:
            if entry.is_dir(follow_symlinks=False):
                _walk(Path(entry.path), _join(rel, entry.name), rest, out)
        else:
            out.add(_join(rel, entry.name))


def _dirs(base: Path) -> list[os.DirEntry[str]]:
    try:
        return [e for e in os.scandir(base) if e.is_dir(follow_symlinks=False)]
    except OSError:
        return []


def expand(root: Path, pattern: str) -> list[str]:
    """Paths under `root` (relative, '/'-separated) that `pattern` matches; links not followed."""
    parts = [p for p in pattern.strip("/").split("/") if p not in ("", ".")]
    found: set[str] = set()
    _walk(root, "", parts, found)
    return sorted(found)


def _excluded_by_rule(rel: str, env_file: str) -> str | None:
    parts = rel.split("/")
    if ".git" in parts or ".." in parts:
        return "git's own files are never carried"
    if parts[0] in (TREES_DIR, STATE_DIR):
        return "pe's own directory"
    if rel == env_file:
        return "pe writes this file itself"
    return None


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def tracked(cwd: Path, paths: Iterable[str]) -> set[str]:
    """Which of `paths` (files, relative to cwd) git tracks there."""
    paths = list(paths)
    found: set[str] = set()
    for i in range(0, len(paths), 500):
        chunk = paths[i : i + 500]
        raw = git.git(cwd, "--literal-pathspecs", "ls-files", "-z", "--", *chunk).stdout
        found.update(p for p in raw.split("\0") if p)
    return found


def _files_under(root: Path, rel: str) -> list[str]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root / rel):  # followlinks=False
        dir_links = [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]
        dirnames[:] = [d for d in dirnames if d != ".git" and d not in dir_links]
        for name in sorted([*filenames, *dir_links]):
            out.append(os.path.relpath(os.path.join(dirpath, name), root).replace(os.sep, "/"))
    return out


def _candidates(root: Path, patterns: Iterable[str], env_file: str, result: Carried, *, whole_dirs: bool) -> list[str]:
    """Matched paths that pass the rules; directories expand to their files unless `whole_dirs`."""
    real_root = os.path.realpath(root)
    picked: list[str] = []
    seen: set[str] = set()
    for pattern in patterns:
        for rel in expand(root, pattern):
            for item in ([rel] if whole_dirs or not (root / rel).is_dir() or (root / rel).is_symlink()
                         else _files_under(root, rel)):
                if item in seen:
                    continue
                seen.add(item)
                why = _excluded_by_rule(item, env_file)
                if why:
                    result.skipped.append((item, why))
                    continue
                target = os.path.realpath(root / item)
                if not _inside(target, real_root):
                    result.refused.append((item, f"links to {target}, outside the repository"))
                    continue
                if _inside(target, os.path.join(real_root, ".git")):
                    result.refused.append((item, "links into .git"))
                    continue
                if not os.path.exists(target):
                    result.skipped.append((item, "dangling link"))
                    continue
                if os.path.isdir(target) and not whole_dirs:
                    # A link to a directory inside the repo: carry that directory's files.
                    result.skipped.append((item, "link to a directory; list its files, or use symlink:"))
                    continue
                picked.append(item)
    return picked


def _safe_dest(tree_dir: Path, rel: str) -> Path | None:
    """Where `rel` goes in the tree, or None if a directory on the way leads out of the tree."""
    dest = tree_dir / rel
    real_tree = os.path.realpath(tree_dir)
    existing = dest.parent
    while not existing.exists() and existing != tree_dir:
        if existing.is_symlink():  # a dangling link: mkdir would follow it
            return None
        existing = existing.parent
    if not _inside(os.path.realpath(existing), real_tree):
        return None
    dest.parent.mkdir(parents=True, exist_ok=True)
    return dest


def _replace_with_copy(src: Path, dest: Path) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".pe-tmp", dir=dest.parent)
    os.close(fd)
    try:
        shutil.copy2(os.path.realpath(src), tmp)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _replace_with_link(target: Path, dest: Path) -> None:
    tmp = dest.with_name(f".{dest.name}.pe-link")
    tmp.unlink(missing_ok=True)
    os.symlink(target, tmp)
    os.replace(tmp, dest)


def carry(
    root: Path,
    tree_dir: Path,
    copy: Iterable[str],
    symlink: Iterable[str],
    env_file: str,
) -> Carried:
    """Copy and link what the patterns match from `root` into `tree_dir`."""
    result = Carried()
    to_copy = _candidates(root, copy, env_file, result, whole_dirs=False)
    to_link = [p for p in _candidates(root, symlink, env_file, result, whole_dirs=True) if p not in to_copy]
    wanted = to_copy + to_link
    # Tracked here (main) or there (the tree's branch): git owns it, never overwrite.
    in_git = tracked(root, wanted) | tracked(tree_dir, wanted)
    dir_tracked = {p for p in to_link if (root / p).is_dir() and tracked(root, [p])}
    for rel in wanted:
        if rel in in_git or rel in dir_tracked:
            result.skipped.append((rel, "tracked by git"))
            continue
        dest = _safe_dest(tree_dir, rel)
        if dest is None:
            result.refused.append((rel, "a directory of the tree on its path leads outside the tree"))
            continue
        if dest.is_dir() and not dest.is_symlink():
            result.skipped.append((rel, "a directory of that name exists in the tree"))
            continue
        if rel in to_link:
            _replace_with_link(root / rel, dest)
            result.linked.append(rel)
        else:
            _replace_with_copy(root / rel, dest)
            result.copied.append(rel)
    return result
