"""The live view `pe compare` shows on a terminal: one row per check that started, redrawn in place.

A listener of pe.compare.checks.reporting, like the plain lines of pe.commands.compare.Progress,
which pe prints instead off a terminal or with --plain. The terminal part (redraw, width, the
refresh thread, the cursor at exit) is pe.engine.live.Redraw, which pe execute's view uses too.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from pe import util
from pe.compare.checks import CheckResult
from pe.engine.live import Redraw

_STATE = {"passed": "passed", "failed": "FAILED", "timeout": "TIMED OUT", "error": "could not run"}
_NAME_MAX = 48  # a longer name (a cross-test between long tree names) is cut, the state column stays put


@dataclass
class _Row:
    name: str  # printable already
    started: float
    result: CheckResult | None = None


def _seconds(secs: float) -> str:
    return f"{secs:.1f}s" if secs < 60 else util.format_duration(secs)


class CheckView(Redraw):
    """The listener, and the view: `with CheckView() as view, checks.reporting(view): ...`."""

    def __init__(self, out: TextIO | None = None, *, clock: Callable[[], float] = time.monotonic) -> None:
        # The cursor is hidden while rows change under it (it would flicker over the table).
        super().__init__(out, name="pe-compare-live", hide_cursor=True)
        self.clock = clock
        self.began = clock()
        self.lines = 0  # events heard, as Progress.lines counts lines: the caller sets the ranking apart
        self._rows: dict[str, _Row] = {}  # in the order the checks started
        self._lock = threading.Lock()
        self._stopped = ""  # why the view ended with checks unfinished: "interrupted" (^C, SIGTERM) or "error"

    def __call__(self, event: str, name: str, result: CheckResult | None) -> None:
        # Names come from the trees' branches and the manifest: printable before anything measures them.
        shown = util.printable(name).replace("\n", " ")
        with self._lock:
            row = self._rows.get(shown)
            if event == "start" or row is None:  # a check that could not run ends without a start
                row = self._rows[shown] = _Row(shown, self.clock())
            if event == "end":
                row.result = result or CheckResult(name, "other", "error", None, self.clock() - row.started,
                                                   None, None, "", False, "", "no result")
            self.lines += 1
        with contextlib.suppress(OSError):  # the terminal went away (SIGHUP): the checks go on
            self.draw()  # at once, not at the next second: a check that starts or ends shows now

    def _state(self, row: _Row, now: float) -> tuple[str, str, str]:
        if row.result is None:
            return ("stopped" if self._stopped else "running"), _seconds(now - row.started), ""
        return _STATE.get(row.result.status, row.result.status), _seconds(row.result.duration_s), \
            row.result.describe()

    def frame(self, rows: int | None) -> list[str]:
        now = self.clock()
        with self._lock:
            found = list(self._rows.values())
        done = [r for r in found if r.result is not None]
        failed = sum(1 for r in done if r.result is not None and not r.result.ok)
        running = len(found) - len(done)
        counts = f"{self._stopped}; {running} stopped" if self._stopped else f"{running} running"
        head = f"pe compare: {counts}, {len(done)} done, {failed} failed  {_seconds(now - self.began)}"
        shown, hidden = _fit(found, None if rows is None else max(rows - 2, 1))
        width = min(max((len(r.name) for r in shown), default=0), _NAME_MAX)
        out = [head]
        for r in shown:
            state, secs, what = self._state(r, now)
            name = r.name if len(r.name) <= width else r.name[: width - 1] + "…"
            out.append(f"  {name:<{width}}  {state:<13} {secs:>6}  {what}".rstrip())
        if hidden:
            out.append(f"  … and {hidden} more (all of them at the end)")
        return out

    def __exit__(self, *exc: object) -> None:
        kind = exc[0]
        if isinstance(kind, type) and issubclass(kind, BaseException):
            # KeyboardInterrupt and pe.errors.Interrupted are BaseExceptions: a signal, not a failure.
            self._stopped = "error" if issubclass(kind, Exception) else "interrupted"
        super().__exit__(*exc)


def _fit(found: list[_Row], room: int | None) -> tuple[list[_Row], int]:
    """The rows that fit in `room` lines (one kept to say how many are left out), and how many are:
    the passed ones go first, the oldest first, then the failed ones; the running ones stay."""
    if room is None or len(found) <= room:
        return found, 0
    keep = max(room - 1, 0)

    def rank(item: tuple[int, _Row]) -> tuple[int, int]:
        i, r = item
        weight = 2 if r.result is None else (0 if r.result.ok else 1)
        return weight, i

    ordered = sorted(enumerate(found), key=rank)
    dropped = {i for i, _ in ordered[: len(found) - keep]}
    return [r for i, r in enumerate(found) if i not in dropped], len(dropped)
