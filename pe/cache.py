"""Content-keyed caches under .pe/cache/: speed only, never an answer of their own.

Every entry is keyed by what it was computed from (a manifest's text, two commit
ids), so it cannot go stale; a missing, torn or unreadable entry is a miss, and a
failed write (full disk, read-only .pe/) costs speed, not the result.

pe never creates .pe/ just to cache (bad input must leave nothing behind, and
status is read-only). A command that goes on to create it (init, execute) takes
the repository lock first; `flush()` then writes what was computed before.
"""

from __future__ import annotations

from pathlib import Path

from pe.fsutil import write_atomic

_pending: dict[Path, str] = {}


def entry(state: Path, kind: str, key: str) -> Path:
    return state / "cache" / kind / key


def get(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def put(state: Path, path: Path, text: str) -> None:
    """Write `path` (an entry under `state`) now if `state` exists, else when flush() finds it."""
    if state.is_dir():
        write(path, text)
    else:
        _pending[path] = text


def flush(state: Path) -> None:
    """Write the entries put() held back, now that `state` exists."""
    if not state.is_dir():
        return
    for path, text in list(_pending.items()):
        if path.is_relative_to(state):
            write(path, text)
            del _pending[path]


def write(path: Path, text: str) -> None:
    """Write an entry whose directory's owner is known to exist."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, text, durable=False)
    except OSError:
        pass  # a full disk or read-only .pe/ costs speed, not the answer
