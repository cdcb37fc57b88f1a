"""Git repositories of their own inside a tree (an agent's `git init sub`), archived before the tree goes.

The tree's bundle cannot hold them: git keeps a nested repository out of the tree's
commits, or records only its commit id (a gitlink), never its objects. `git worktree
remove --force` deletes them all the same. So each one gets, in the tree's archive,
nested/<n>-<name>.bundle with every ref it has (verified), and nested/<n>-<name>.tar.gz
with its files as they are (its own .git too when it has no commit to bundle).
"""

from __future__ import annotations

import os
import re
import tarfile
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from pe import git, proc
from pe.errors import PeError
from pe.tree.unsaved import REGENERABLE_DIRS

DIR = "nested"


@dataclass(frozen=True)
class Nested:
    path: str  # relative to the tree
    stem: str  # nested/<stem>.bundle and nested/<stem>.tar.gz in the archive

    @property
    def bundle(self) -> str:
        return f"{DIR}/{self.stem}.bundle"

    @property
    def files(self) -> str:
        return f"{DIR}/{self.stem}.tar.gz"


def find(tree_dir: Path, skip: Collection[str] = ()) -> list[Nested]:
    """Every directory below `tree_dir` that is a repository of its own (outermost only; the
    tarball of each holds any inside it). Not looked into: `skip` (setup's own output) and the
    reproducible directories cleanup never counts as work (node_modules, .venv, build...)."""
    found: list[str] = []
    for dirpath, dirnames, _ in os.walk(tree_dir):
        here = Path(dirpath)
        keep = []
        for d in sorted(dirnames):
            rel = (here / d).relative_to(tree_dir).as_posix()
            if d == ".git" or d in REGENERABLE_DIRS or rel in skip:
                continue
            if os.path.lexists(here / d / ".git"):
                found.append(rel)  # its files go into its own tarball: not walked further
            else:
                keep.append(d)
        dirnames[:] = keep  # (os.walk follows no link to a directory)
    return [Nested(rel, f"{i}-{re.sub(r'[^A-Za-z0-9._-]+', '_', rel)[-60:]}") for i, rel in enumerate(found, 1)]


def _bundle(repo: Path, dest: Path) -> bool:
    """Every ref of `repo` into `dest`, verified; False if it has none (no commit yet)."""
    # Its own hooks and fsmonitor are an agent's programs: none of them runs. --git-dir: a broken
    # .git must not send git up to the tree's own repository.
    where = (*git.NO_HOOKS, f"--git-dir={repo / '.git'}")
    refs = git.git(repo, *where, "for-each-ref", "--format=%(objectname)", check=False)
    wanted = set(refs.stdout.split())
    if refs.returncode != 0 or not wanted:
        return False
    tmp = dest.with_name(f".{dest.name}.tmp")
    tmp.with_name(tmp.name + ".lock").unlink(missing_ok=True)  # left by a git killed in an earlier cleanup
    try:
        git.git(repo, *where, "bundle", "create", "--quiet", str(tmp), "--all")
        git.git(repo, *where, "bundle", "verify", "--quiet", str(tmp))
        listed = git.git(repo, *where, "bundle", "list-heads", str(tmp)).stdout
        heads = {line.split(" ", 1)[0] for line in listed.splitlines()}
        if not wanted <= heads:
            raise PeError(f"the bundle of {repo} lacks {sorted(wanted - heads)[0][:12]}")
        os.replace(tmp, dest)
        return True
    except proc.ProcError as exc:
        raise PeError(f"could not bundle the nested repository {repo}: {exc}; nothing was removed") from None
    finally:
        tmp.unlink(missing_ok=True)


def archive(tree_dir: Path, dest: Path, n: Nested) -> bool:
    """Archive one nested repository into `dest`; True if its refs went into a bundle."""
    repo = tree_dir / n.path
    (dest / DIR).mkdir(parents=True, exist_ok=True)
    bundled = _bundle(repo, dest / n.bundle)
    own_git = f"{n.path}/.git"

    def files_only(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        # With its refs bundled, its .git is what the bundle restores; without, it goes in whole.
        return None if bundled and (info.name == own_git or info.name.startswith(own_git + "/")) else info

    tmp = dest / f".{n.stem}.tar.gz.tmp"
    with tarfile.open(tmp, "w:gz") as tar:
        tar.add(repo, arcname=n.path, filter=files_only)
    os.replace(tmp, dest / n.files)
    return bundled
