"""Inter-process locks on files under .pe/ (fcntl.flock).

flock is released by the kernel when the holder dies, even by kill -9, so a
crash never leaves a stale lock. Two locks exist:
- the repository lock: one mutating command (pe or plain doit) at a time;
- the git lock: serialises `worktree add/remove/prune` and `branch -D`,
  which race when run concurrently (see shared notes on git worktree).
Taking the repository lock also stops what a kill -9'd holder left running
(leftovers.reap_orphans), so a new run never works beside its predecessor's children,
(the commands then finish what a killed pe adopt left half done: pe/lifecycle/adoption_journal.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from pe import proc
from pe.errors import LockHeld
from pe.leftovers import reap_orphans


def _holder(info_path: Path, patience: float = 1.0) -> str:
    """Who holds the lock, from the file the holder writes right after taking it.

    A holder that took the lock an instant ago may not have written it yet, and the
    file may still name an earlier holder that died: wait a little for a live one.
    """
    deadline = time.monotonic() + patience
    while True:
        try:
            info = json.loads(info_path.read_text())
            if proc.process_start_ticks(int(info["pid"])) is not None:
                return f"pid {info['pid']} ({info['command']}, since {info['since']})"
        except (OSError, ValueError, KeyError, TypeError):
            pass
        if time.monotonic() > deadline:
            return "another process"
        time.sleep(0.02)


_HELD: list[RepoLock] = []


def release_all() -> None:
    """Release every repository lock this process took (end of a command)."""
    while _HELD:
        _HELD.pop().release()


class RepoLock:
    """The repository lock, held for the lifetime of one mutating command."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.info_path = path.with_name(path.name + ".json")
        self._fd: int | None = None

    def acquire(self, command: str, wait: bool = False) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            flags = fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB
            fcntl.flock(fd, flags)
        except BlockingIOError:
            os.close(fd)
            raise LockHeld(
                f"another pe command holds {self.path}: {_holder(self.info_path)}; "
                "wait for it, or pass --wait"
            ) from None
        self._fd = fd
        _HELD.append(self)
        info = {
            "pid": os.getpid(),
            "command": command,
            "since": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        # Not atomic on purpose: readers only use it for the message above. Best effort, too: a
        # full disk must not stop pe here, with the lock held, before it can say what failed.
        with contextlib.suppress(OSError):
            self.info_path.write_text(json.dumps(info))
        # Before anything else: what a kill -9'd pe left running here must stop first.
        scope = str(self.path.parent.resolve())
        reap_orphans(scope)  # (its git commands are let finish first: the adoption below needs them done)
        proc.claim(scope)

    def release(self) -> None:
        if self._fd is not None:
            proc.claim(None)
            with contextlib.suppress(OSError):
                self.info_path.unlink()
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RepoLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """A short blocking lock around one critical section."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def describe_command(argv: list[str] | None = None) -> str:
    argv = sys.argv if argv is None else argv
    return " ".join(["pe", *argv[1:3]]) if argv else "pe"
