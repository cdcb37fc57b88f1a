"""Keep what setup puts into a tree out of git: the env file, carried files, installs.

pe's checkpoint commits (`git add --all` after each agent run) must never
include a copied .env, the env file or node_modules. Paths git already
ignores are left alone; the rest get an anchored line in .git/info/exclude,
which every worktree of the repository shares (so the main checkout stops
listing, say, an untracked .env as well).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from pe import git
from pe.errors import PeError
from pe.layout import Layout
from pe.lock import file_lock

_SPECIAL = set("*?[\\!# ")


def pattern(rel: str, is_dir: bool) -> str:
    """An info/exclude line matching exactly `rel` from a worktree's root."""
    escaped = "".join("\\" + c if c in _SPECIAL else c for c in rel)
    return "/" + escaped + ("/" if is_dir else "")


def _unquote(line: str) -> str:
    """Undo git's C-style quoting of an unusual path ("a\\tb")."""
    if not (len(line) >= 2 and line[0] == line[-1] == '"'):
        return line
    raw = line[1:-1].encode("latin-1", "backslashreplace").decode("unicode_escape")
    return raw.encode("latin-1").decode("utf-8", errors="replace")


def ignored(tree_dir: Path, paths: Iterable[str]) -> set[str]:
    """Which of `paths` (relative; a trailing '/' for directories) git ignores in `tree_dir`."""
    paths = list(paths)
    found: set[str] = set()
    for i in range(0, len(paths), 500):
        # (-z needs --stdin, which pe's git wrapper does not feed: parse quoted lines instead.)
        res = git.git(tree_dir, "-c", "core.quotePath=false", "check-ignore", "--",
                      *paths[i : i + 500], check=False)
        if res.returncode not in (0, 1):  # 1: none of them is ignored
            raise PeError(f"git check-ignore failed in {tree_dir}: {res.stderr.strip()}")
        found.update(_unquote(line) for line in res.stdout.split("\n") if line)
    return found


def keep_out(layout: Layout, tree_dir: Path, files: Iterable[str] = (), dirs: Iterable[str] = ()) -> list[str]:
    """Exclude `files` and `dirs` (relative to the tree) unless already ignored; the lines added."""
    wanted = list(files) + [d.rstrip("/") + "/" for d in dirs]
    already = ignored(tree_dir, wanted)
    lines = [pattern(p.rstrip("/"), p.endswith("/")) for p in wanted if p not in already]
    if lines:
        # Parallel setups append to one shared file: serialise them.
        with file_lock(layout.lock("exclude")):
            git.ensure_excluded(layout.root, lines)
    return lines
