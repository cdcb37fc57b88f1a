"""Inter-process locks on files under .pe/ (fcntl.flock).

flock is released by the kernel when the holder dies, even by kill -9, so a
crash never leaves a stale lock. Two locks exist:
- the repository lock: one mutating command (pe or plain doit) at a time;
- the git lock: serialises `worktree add/remove/prune` and `branch -D`,
  which race when run concurrently (see shared notes on git worktree).
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

from pe.errors import LockHeld


def _holder(info_path: Path) -> str:
    try:
        info = json.loads(info_path.read_text())
        return f"pid {info['pid']} ({info['command']}, since {info['since']})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


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
        # Not atomic on purpose: readers only use it for the message above.
        self.info_path.write_text(json.dumps(info))

    def release(self) -> None:
        if self._fd is not None:
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
