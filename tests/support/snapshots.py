"""Proving that nothing changed: file snapshots and git refs."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from tests.support.repo import git


def snapshot(*dirs: Path) -> dict[str, str]:
    """Path -> content hash (or link target) of every file under `dirs`: to prove nothing changed."""
    out: dict[str, str] = {}
    for top in dirs:
        if not top.exists():
            continue
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames.sort()
            for name in sorted(filenames) + [d for d in dirnames if Path(dirpath, d).is_symlink()]:
                p = Path(dirpath, name)
                if p.is_symlink():
                    out[str(p)] = "link:" + os.readlink(p)
                else:
                    out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest() + f":{p.stat().st_mode:o}"
            for d in dirnames:
                out[str(Path(dirpath, d)) + "/"] = "dir"
    return out


def same(before: dict[str, str], after: dict[str, str]) -> None:
    """Assert two snapshots are equal, naming what differs (pytest's diff of big dicts hides it)."""
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    assert not changed, f"changed: {changed}"


def refs(root: Path) -> str:
    return git(root, "for-each-ref", "--format=%(refname) %(objectname)")
