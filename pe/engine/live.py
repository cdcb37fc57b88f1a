"""The live view `pe execute` shows on a terminal: one line per tree, redrawn each second.

Reads only run records and log files, like `pe status`; when stdout is not a
terminal pe prints plain timestamped lines instead (pe.engine.reporter).
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
from typing import TextIO

from pe import util
from pe.config.spec import Feature
from pe.layout import Layout
from pe.tree.progress import log_tail
from pe.tree.runrecord import RunRecord


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


class LiveView:
    def __init__(self, layout: Layout, features: list[Feature], out: TextIO | None = None) -> None:
        self.layout = layout
        self.trees = [t for f in features for t in f.trees]
        self.out = out or sys.stdout
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="pe-live", daemon=True)
        self._drawn = 0

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

    def draw(self) -> None:
        width = shutil.get_terminal_size((160, 24)).columns - 1
        lines = [self.line(t.name)[:width] for t in self.trees]
        up = f"\x1b[{self._drawn}F" if self._drawn else ""
        self.out.write(up + "".join(f"\x1b[2K{ln}\n" for ln in lines))
        self.out.flush()
        self._drawn = len(lines)

    def _loop(self) -> None:
        while not self._stop.wait(1.0):
            self.draw()

    def __enter__(self) -> LiveView:
        self.draw()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.draw()
