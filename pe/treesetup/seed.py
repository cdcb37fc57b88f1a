"""Seed a tree's node_modules from an identical install instead of running npm ci again.

npm ci spends most of its time unpacking and checking packages even from a
warm cache; copying an install made from the very same package-lock.json
gives the same files for a fraction of that (CI caches of node_modules keyed
by the lockfile rely on the same fact). Two sources, both only for npm and
only when the lockfile is byte-identical:
- the main checkout's node_modules, but only as a copy-on-write clone
  (`cp --reflink=always`): pe did not make that install, so it must cost
  nothing and fall back to npm ci where the file system cannot clone;
- the tree that filled the cache for this lockfile moments ago (pe's own
  `npm ci`), copied with `cp --reflink=auto`, as long as that tree's agent has
  not started (it may change node_modules); checked again after the copy.
A tree's agent does not start while another tree copies from it: copiers hold
a shared lock on .pe/cache/source-<tree>.lock, and pe takes it exclusively
(quiesce) just before the agent starts, when it computes the tree's env.
Never when package.json has install lifecycle scripts (postinstall, prepare,
...): npm ci runs those, a copy would not.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pe import proc
from pe.layout import Layout
from pe.tree.runrecord import RunRecord
from pe.treesetup.runlog import SetupLog

LIFECYCLE = {"preinstall", "install", "postinstall", "preprepare", "prepare", "postprepare", "prepublish"}


def _source_lock(layout: Layout, tree: str) -> Path:
    return layout.cache(f"source-{tree}.lock")


@contextlib.contextmanager
def _flock(path: Path, mode: int) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, mode)
        yield
    finally:
        os.close(fd)


def reading(layout: Layout, tree: str) -> contextlib.AbstractContextManager[None]:
    """Held while copying from `tree`: several copiers at once, never with its agent starting."""
    return _flock(_source_lock(layout, tree), fcntl.LOCK_SH)


def quiesce(layout: Layout, tree: str) -> None:
    """Wait until nobody copies from `tree` (called right before its agent starts)."""
    with _flock(_source_lock(layout, tree), fcntl.LOCK_EX):
        pass


def install_scripts(pkg_dir: Path) -> list[str]:
    """The install lifecycle scripts package.json defines (they rule out seeding)."""
    try:
        scripts = json.loads((pkg_dir / "package.json").read_text()).get("scripts", {})
    except (OSError, ValueError, AttributeError):
        return []
    return sorted(LIFECYCLE & set(scripts)) if isinstance(scripts, dict) else []


def _same(a: Path, b: Path) -> bool:
    try:
        return a.read_bytes() == b.read_bytes()
    except OSError:
        return False


def _copy(src: Path, dest_dir: Path, reflink: str, log: SetupLog) -> bool:
    """Copy `src` (a node_modules) to dest_dir/node_modules, replacing what is there."""
    seed = dest_dir / "node_modules.pe-seed"
    shutil.rmtree(seed, ignore_errors=True)
    try:
        proc.run(["cp", "-a", f"--reflink={reflink}", "--", str(src), str(seed)], timeout=900)
    except proc.ProcError as exc:
        shutil.rmtree(seed, ignore_errors=True)
        log.line(f"node_modules: copy failed ({exc}); installing instead")
        return False
    dest = dest_dir / "node_modules"
    if os.path.lexists(dest):
        old = dest_dir / "node_modules.pe-old"
        shutil.rmtree(old, ignore_errors=True)
        os.replace(dest, old)
        shutil.rmtree(old, ignore_errors=True)
    os.replace(seed, dest)
    # Build tools' caches (node_modules/.cache) may have been mid-write in the source.
    shutil.rmtree(dest / ".cache", ignore_errors=True)
    return True


def from_main(layout: Layout, tree_dir: Path, pkg_dir: str, lock: str, log: SetupLog) -> str | None:
    """Clone the main checkout's node_modules copy-on-write; how, or None."""
    src = layout.root / pkg_dir / "node_modules"
    if not (src / ".package-lock.json").is_file() or not _same(layout.root / lock, tree_dir / lock):
        return None
    dest_dir = tree_dir / pkg_dir
    probe = dest_dir / ".pe-reflink-probe"
    try:
        proc.run(["cp", "--reflink=always", "--", str(layout.root / lock), str(probe)], timeout=30)
    except proc.ProcError:
        log.line("node_modules: this file system cannot clone copy-on-write, so not seeding from the main checkout")
        return None
    finally:
        probe.unlink(missing_ok=True)
    if not _copy(src, dest_dir, "always", log):
        return None
    log.line(f"node_modules: cloned copy-on-write from the main checkout ({lock} identical)")
    return "cloned from the main checkout"


def _agent_started(layout: Layout, tree: str) -> bool:
    record = RunRecord.load(layout.run_record(tree), tree)
    return record.attempts > 0 or record.state != "pending"


def from_sibling(layout: Layout, tree_dir: Path, pkg_dir: str, lock: str, source: dict[str, Any],
                 log: SetupLog) -> str | None:
    """Copy node_modules from the tree that installed this lockfile first; how, or None."""
    name, where = source.get("tree"), source.get("dir")
    if not name or not where or Path(where) == tree_dir:
        return None
    src_tree = Path(where)
    src = src_tree / pkg_dir / "node_modules"
    hidden = src / ".package-lock.json"
    if not hidden.is_file() or not _same(src_tree / lock, tree_dir / lock) or _agent_started(layout, name):
        return None
    before = hidden.stat().st_mtime_ns
    if not _copy(src, tree_dir / pkg_dir, "auto", log):
        return None
    if _agent_started(layout, name) or not hidden.is_file() or hidden.stat().st_mtime_ns != before:
        # Its agent started while we copied: the copy may be half old, half new.
        shutil.rmtree(tree_dir / pkg_dir / "node_modules", ignore_errors=True)
        log.line(f"node_modules: {name} changed while being copied; installing instead")
        return None
    log.line(f"node_modules: copied from {name}, installed from the identical {lock}")
    return f"copied from {name}"
