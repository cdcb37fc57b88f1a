"""Small helpers every layer uses: a thread pool, the clock, durations, file times, plurals."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

ISO_FORMAT = "%Y-%m-%dT%H:%M:%S%z"  # what every pe record holds: local time with its offset
_DURATION = re.compile(r"^([1-9][0-9]*)(s|m|h)$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600}


# Terminal control an agent's output may carry, and that must never reach the user's terminal:
# CSI (cursor moves, screen clears), OSC (0: the window title; 52: a write to the clipboard),
# DCS/SOS/PM/APC strings, other escapes, C1 controls (\x9b is CSI on some terminals) and
# C0 controls but tab and newline. A carriage return becomes a newline (it would overwrite).
_CONTROL = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"  # CSI, as ESC [ or as the C1 control
    # OSC, DCS, SOS, PM, APC, up to BEL or ST; one never ended stops at the line's end, so
    # the rest of a log still shows.
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d-\x9f])[^\x07\x1b\x9c\n]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[ -/]*[0-~]?"  # any other escape
    r"|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\x80-\x9f]"
)


def printable(text: str) -> str:
    """`text` (agent output, a file name an agent chose) with every terminal control sequence removed."""
    return _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def plural(n: int, word: str, many: str | None = None) -> str:
    """`1 tree`, `3 trees`, `0 trees`: a count with its noun (`many` where adding an s is wrong)."""
    return f"{n} {word if n == 1 else many or word + 's'}"


def parallel(fn: Callable[[T], R], items: Iterable[T], workers: int = 8) -> list[R]:
    """fn over items, side by side (git processes, file reads), results in order."""
    items = list(items)
    if len(items) <= 1:
        return [fn(i) for i in items]
    from concurrent.futures import ThreadPoolExecutor  # not at import: every pe command imports util

    with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
        return list(pool.map(fn, items))


def background(fn: Callable[[], R]) -> Callable[[], R]:
    """Start fn() in a thread of its own now; the returned call waits for its result (or raises its error).

    One place where pe's background threads start (daemons: they never keep pe from exiting). A
    caller that never asks for the result leaves an error of fn's unsaid: it must not matter."""
    import threading

    done: list[R] = []
    failed: list[BaseException] = []

    def run() -> None:
        try:
            done.append(fn())
        except BaseException as exc:  # handed to whoever waits for it
            failed.append(exc)

    thread = threading.Thread(target=run, name=f"pe-{getattr(fn, '__name__', 'background')}", daemon=True)
    thread.start()

    def result() -> R:
        thread.join()
        if failed:
            raise failed[0]
        return done[0]

    return result


def now_iso(epoch: float | None = None) -> str:
    return time.strftime(ISO_FORMAT, time.localtime(epoch) if epoch is not None else time.localtime())


def parse_iso(iso: str | None) -> float | None:
    """The epoch of a time pe recorded (now_iso), or None if it is missing or unreadable."""
    if not iso:
        return None
    try:
        return time.mktime(time.strptime(iso, ISO_FORMAT))
    except ValueError:
        return None


def parse_duration(value: int | float | str) -> float:
    """Seconds from a manifest's duration: a number, or a whole number with s, m or h; ValueError if neither."""
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, (int, float)):
        return float(value)
    m = _DURATION.match(str(value))
    if not m:
        raise ValueError(value)
    return float(m.group(1)) * _UNIT_S[m.group(2)]


def format_duration(secs: float | None) -> str:
    """`42s`, `3m05s`, `2h07m`; empty for None."""
    if secs is None:
        return ""
    if secs < 60:
        return f"{secs:.0f}s"
    if secs < 3600:
        return f"{secs // 60:.0f}m{secs % 60:02.0f}s"
    return f"{secs // 3600:.0f}h{secs % 3600 // 60:02.0f}m"


def ago(epoch: float | None, now: float | None = None) -> str:
    if epoch is None:
        return ""
    secs = max(0.0, (now or time.time()) - epoch)
    if secs < 60:
        return f"{secs:.0f}s ago"
    if secs < 3600:
        return f"{secs / 60:.0f}m ago"
    if secs < 86400:
        return f"{secs / 3600:.1f}h ago"
    return f"{secs / 86400:.1f}d ago"


def mtime(paths: Sequence[Path]) -> float | None:
    """The newest modification time among `paths` that exist."""
    found = []
    for p in paths:
        try:
            found.append(p.stat().st_mtime)
        except OSError:
            pass
    return max(found) if found else None


def tabulate(*args: Any, **kwargs: Any) -> str:
    """tabulate.tabulate, the design's table library, imported on first use without its one slow line.

    tabulate 0.10 reads its own version at import with importlib.metadata, which costs more to
    import (email, zipfile, csv...) than all of tabulate: 40-100 ms of every `pe status`, for a
    version pe never reads. While tabulate is imported, importlib.metadata is a stand-in that
    says "unknown"; the real module is untouched, and whoever imports it later gets it. Should a
    tabulate want more of it, the stand-in steps aside and the import is the plain one.
    """
    return _tabulate()(*args, **kwargs)


def load_tabulate() -> None:
    """Import tabulate now (as tabulate() would on its first call), while pe waits for something else."""
    _tabulate()


def _tabulate() -> Callable[..., str]:
    import importlib
    import sys

    module = sys.modules.get("tabulate")
    if module is None and "importlib.metadata" not in sys.modules:
        import types

        class PackageNotFoundError(ModuleNotFoundError):
            pass

        def version(name: str) -> str:
            raise PackageNotFoundError(name)

        stand_in = types.ModuleType("importlib.metadata")
        stand_in.__dict__.update(PackageNotFoundError=PackageNotFoundError, version=version)
        sys.modules["importlib.metadata"] = stand_in
        try:
            module = importlib.import_module("tabulate")
        except ImportError:  # it wants more than the stand-in has: the plain import, below
            sys.modules.pop("tabulate", None)
        finally:
            if sys.modules.get("importlib.metadata") is stand_in:
                del sys.modules["importlib.metadata"]
    if module is None:
        module = importlib.import_module("tabulate")
    return module.tabulate
