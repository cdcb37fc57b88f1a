"""Progress lines for doit runs: one timestamped line per event, thread-safe.

Task actions never print (doit swaps sys.stdout while a python action runs,
which mixes output across threads); everything the user sees comes from here.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, TextIO

from pe.util import printable


class PeReporter:
    desc = "pe progress lines"

    def __init__(self, outstream: TextIO | None = None, options: dict[str, Any] | None = None, *,
                 quiet: bool = False, detach: bool = False) -> None:
        self.quiet = quiet  # a live view owns the terminal: only failures are printed (in its summary)
        self.detach = detach  # --detach: an agent task that succeeds has started its agent, not finished it
        # doit's outstream may be the stdout of import time; today's is the right one.
        self.out = sys.stdout
        self._lock = threading.Lock()
        self._started: dict[str, float] = {}
        self.failures: list[tuple[str, str]] = []
        self.successes: list[str] = []
        self.skipped: list[str] = []

    def _line(self, text: str) -> None:
        if self.quiet:
            return
        with self._lock:
            # Failure reasons quote agents and their CLIs: printed without their escape sequences.
            try:
                self.out.write(f"[{time.strftime('%H:%M:%S')}] {printable(text)}\n")
                self.out.flush()
            except BrokenPipeError:
                pass  # the reader (`| head`) went away; the run goes on, and main exits quietly

    def initialize(self, tasks: Any, selected_tasks: Any) -> None:
        pass

    def get_status(self, task: Any) -> None:
        pass

    def execute_task(self, task: Any) -> None:
        if task.actions and not task.name.startswith("_"):
            self._started[task.name] = time.monotonic()
            self._line(f"start  {task.name}")

    def _elapsed(self, task: Any) -> str:
        start = self._started.get(task.name)
        return f" ({time.monotonic() - start:.1f}s)" if start is not None else ""

    def add_failure(self, task: Any, fail: Any) -> None:
        msg = fail.get_msg().strip().splitlines()
        # TaskFailed carries our one-line reason; anything else is a bug worth its last line.
        reason = msg[-1] if msg else type(fail).__name__
        if type(fail).__name__ == "UnmetDependency":
            reason = "skipped: a task it depends on failed"
        self.failures.append((task.name, reason))
        self._line(f"FAILED {task.name}{self._elapsed(task)}: {reason}")

    def add_success(self, task: Any) -> None:
        if task.actions and not task.name.startswith("_"):
            self.successes.append(task.name)
            started = self.detach and task.name.startswith("agent:")
            self._line(f"{'started' if started else 'done   '} {task.name}{self._elapsed(task)}")

    def skip_uptodate(self, task: Any) -> None:
        # Only the agents' "up to date" is news; worktree/setup lines would be noise.
        if task.actions and task.name.startswith(("agent:", "compare:")):
            self.up_to_date(task.name)

    def up_to_date(self, name: str) -> None:
        """A task that had nothing to do (also said by a no-op resume that never builds the graph)."""
        self.skipped.append(name)
        self._line(f"ok     {name} (up to date)")

    def skip_ignore(self, task: Any) -> None:
        self._line(f"ignore {task.name}")

    def cleanup_error(self, exception: Any) -> None:
        self._line(f"cleanup error: {exception.get_msg()}")

    def runtime_error(self, msg: str) -> None:
        self._line(f"error: {msg}")

    def teardown_task(self, task: Any) -> None:
        pass

    def complete_run(self) -> None:
        pass
