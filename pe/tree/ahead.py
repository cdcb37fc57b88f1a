"""Every tree's `git status`, started before the caller needs it (pe status, issue 18)."""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from pe import gitfacts, gitscan, proc
from pe.errors import PeError
from pe.layout import Layout
from pe.tree import stamps


def made_trees(layout: Layout, feature: str | None = None) -> list[Path]:
    """The directories of trees/ that pe made (their worktree stamp is there), of `feature` or all,
    read before any manifest is: what a scan ahead may look into. A directory pe did not make
    is never looked into: git runs a repository's own hooks (core.fsmonitor) on `git status`.
    Another feature whose name starts with `feature-` is listed too (a scan no row uses)."""
    try:
        names = sorted(p.name for p in layout.trees.iterdir())
    except OSError:
        return []
    dirs = []
    for name in names:
        if (feature and not name.startswith(f"{feature}-")) or not stamps.exists(layout, name, stamps.WORKTREE):
            continue
        try:
            dirs.append(layout.tree(name))
        except PeError:
            continue  # a link out of trees/: never looked into (its row says so)
    return dirs


class ScansAhead(Mapping[Path, gitfacts.Scan]):
    """scan() of each of `dirs` that is a checkout, run now in the background, each taken when asked.

    `pe status` starts them as soon as it knows the repository, so the git processes run while pe
    imports and reads its stamps (issue 18), through pe.proc.quick, which costs pe a third of the
    CPU subprocess does. One thread runs them, a few at once: a thread per scan
    made every file read of the main thread wait for the GIL, and starting them all at once kept
    the main thread waiting for each start. A scan that failed reads as
    missing: the caller asks git itself and reports what went wrong. A caller that changes a tree
    after this started (settling an agent, rewriting PROGRESS.md) must close() it and not use it.
    """

    def __init__(self, dirs: Sequence[Path]) -> None:
        self._todo = [d for d in dirs if (d / ".git").exists()]
        self._done: dict[Path, gitfacts.Scan | None] = {}
        self._ready = threading.Condition()
        self._closing = False  # close(): start no more
        self._finished = False  # the thread has taken every scan it started
        self._thread = threading.Thread(target=self._run, name="pe-scans-ahead", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        at_once = min((os.cpu_count() or 1) + 2, 8)  # (one per core left 10-20% idle: each waits on its start)
        waiting: deque[tuple[Path, proc.Quick | None]] = deque()
        todo = iter(self._todo)
        while True:
            while len(waiting) < at_once and not self._closing and (d := next(todo, None)) is not None:
                try:
                    waiting.append((d, gitscan.start(d)))
                except OSError:
                    waiting.append((d, None))  # (out of processes or files: the caller asks again)
            if not waiting:
                break
            d, running = waiting.popleft()
            found = None
            try:
                status, out = running.collect() if running is not None else (-1, b"")
                if status == 0:
                    found = gitfacts.parse_scan(out.decode("utf-8", errors="surrogateescape"))
            except OSError:
                pass
            with self._ready:
                self._done[d] = found
                self._ready.notify_all()
        with self._ready:
            self._finished = True  # what was never started (closed early) stays missing
            self._ready.notify_all()

    def __getitem__(self, tree_dir: Path) -> gitfacts.Scan:
        if tree_dir not in self._todo:
            raise KeyError(tree_dir)
        with self._ready:
            self._ready.wait_for(lambda: tree_dir in self._done or self._finished)
        found = self._done.get(tree_dir)
        if found is None:
            raise KeyError(tree_dir)
        return found

    def __iter__(self) -> Iterator[Path]:
        return iter(self._todo)

    def __len__(self) -> int:
        return len(self._todo)

    def close(self) -> None:
        """Start no more scans, and let those running finish (none of them writes)."""
        self._closing = True
        self._thread.join()
