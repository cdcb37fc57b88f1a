"""The live view `pe execute` shows on a terminal: one line per tree, redrawn each second.

Reads only run records and log files, like `pe status`; when stdout is not a
terminal pe prints plain timestamped lines instead (pe.engine.reporter).
Redraw is the terminal part, which pe compare's view (pe.compare.live) shares.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import threading
import time
from typing import TextIO, TypeVar

from pe import util
from pe.config.spec import Feature
from pe.layout import Layout
from pe.tree.progress import log_tail
from pe.tree.runrecord import RunRecord

_R = TypeVar("_R", bound="Redraw")


def _elapsed(record: RunRecord) -> str:
    started = util.parse_iso(record.started_at) if record.state == "running" else None
    secs = time.time() - started if started is not None else record.duration_s
    return util.format_duration(secs).rjust(6) if secs is not None else "     -"


def _usage(record: RunRecord) -> str:
    u = record.usage or {}
    parts = []
    if u.get("turns"):
        parts.append(f"{u['turns']} turns")
    tokens = (u.get("input_tokens") or 0) + (u.get("output_tokens") or 0)
    if tokens:
        parts.append(f"{tokens / 1000:.1f}k tok")
    if u.get("cost_usd"):
        parts.append(f"${u['cost_usd']:.2f}")
    return ", ".join(parts)


class Redraw:
    """Lines redrawn in place on a terminal: each `interval` seconds (a thread), on draw(), and once
    more at the end, where the last frame stays on screen. Subclasses say what the lines are."""

    def __init__(self, out: TextIO | None = None, *, name: str = "pe-live", hide_cursor: bool = False,
                 interval: float = 1.0) -> None:
        self.out = out or sys.stdout
        self.hide_cursor = hide_cursor
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        # The refresh thread and whoever calls draw() (pe compare's checks, as they end) draw in turn.
        self._draw_lock = threading.Lock()
        self._drawn = 0

    def frame(self, rows: int | None) -> list[str]:
        """The lines to draw; `rows` is what fits on the screen, None for the last frame (no limit)."""
        raise NotImplementedError

    def draw(self, *, final: bool = False) -> None:
        # The size is read at every draw: a resized terminal gets lines cut to its new width
        # at the next second, and never a wrapped line, which would break the count to move up.
        size = shutil.get_terminal_size((160, 24))
        width = size.columns - 1
        with self._draw_lock:
            # Lines may quote names and output from agents' trees: no control sequence and no
            # line break of theirs reaches the terminal.
            rows = None if final else size.lines
            lines = [util.printable(ln).replace("\n", " ")[:width] for ln in self.frame(rows)]
            up = f"\x1b[{self._drawn}F" if self._drawn else ""
            below = "\x1b[J" if len(lines) < self._drawn else ""  # a shorter frame: no stale rows under it
            self.out.write(up + "".join(f"\x1b[2K{ln}\n" for ln in lines) + below)
            self.out.flush()
            self._drawn = len(lines)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.draw()

    def __enter__(self: _R) -> _R:
        if self.hide_cursor:
            self.out.write("\x1b[?25l")
        self.draw()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._stop.set()
            self._thread.join(timeout=2)
            self.draw(final=True)
        finally:
            if self.hide_cursor:
                # Also on ^C, SIGTERM or a second ^C while the thread stops: the cursor comes back.
                with contextlib.suppress(OSError):  # SIGHUP: the terminal may be gone
                    self.out.write("\x1b[?25h")
                    self.out.flush()


class LiveView(Redraw):
    def __init__(self, layout: Layout, features: list[Feature], out: TextIO | None = None) -> None:
        super().__init__(out)
        self.layout = layout
        self.trees = [t for f in features for t in f.trees]

    def line(self, tree: str) -> str:
        record = RunRecord.load(self.layout.run_record(tree), tree)
        state = record.effective_state()
        if state == "running":
            state = f"running (pid {record.pid})"
        elif state == "failed" and record.reason:
            state = f"failed: {record.reason}"
        last = ""
        log = self.layout.agent_log(tree)
        if log.exists():
            lines = [ln for ln in log_tail(log, 5).splitlines() if ln.strip()]
            age = time.time() - log.stat().st_mtime
            last = f"{age:3.0f}s ago: {lines[-1].strip()[:60]}" if lines else ""
        return util.printable(f"{tree:<24} {state[:40]:<40} {_elapsed(record)}  {_usage(record):<26} {last}")

    def frame(self, rows: int | None) -> list[str]:
        return [self.line(t.name) for t in self.trees]
