"""The setup log (.pe/logs/<tree>/setup.log) and the commands whose output goes into it."""

from __future__ import annotations

import shlex
import shutil
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pe import proc
from pe.errors import PeError


@dataclass(frozen=True)
class Ran:
    argv: tuple[str, ...]
    ok: bool
    exit: str  # "exit status 1", "timed out after 900s", ...
    tail: str  # the last non-empty line of the command's output
    seconds: float

    def failure(self, what: str, log: Path, root: Path) -> str:
        where = log.relative_to(root) if log.is_relative_to(root) else log
        detail = f": {self.tail}" if self.tail else ""
        cmd = shlex.join(self.argv)
        if len(cmd) > 60:  # the log has it whole
            cmd = cmd[:57] + "..."
        return f"{what}: `{cmd}` {self.exit}{detail} (see {where})"


class SetupLog:
    """Append-only text log of one tree's setup; safe to share between threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # Set when the tree's code is an agent's (setup after an agent edited a lockfile):
        # the sandbox's argv around each command's.
        self.confine: Callable[[list[str], Mapping[str, str]], list[str]] | None = None
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)

    def line(self, text: str) -> None:
        with self._lock, self.path.open("a", encoding="utf-8") as fh:
            fh.write(f"[{time.strftime('%H:%M:%S')}] {text}\n")

    def run(self, argv: Sequence[str], *, cwd: Path, env: Mapping[str, str], timeout: float) -> Ran:
        """Run `argv` (no shell) in its own process group, output appended to the log."""
        argv = tuple(argv)
        self.line(f"$ {shlex.join(argv)}   (in {cwd}{', sandboxed' if self.confine else ''})")
        run = self.confine(list(argv), env) if self.confine else list(argv)
        with self.path.open("ab") as fh:
            start = fh.tell()
            ended = proc.spawn_logged(run, cwd=cwd, env=env, log=fh, timeout=timeout)
        tail = _tail(self.path, start)
        ok = ended.returncode == 0 and not ended.timed_out and not ended.interrupted
        ran = Ran(argv, ok, ended.describe(), tail, round(ended.duration_s, 3))
        self.line(f"{'ok' if ok else 'FAILED'}: {ended.describe()} in {ended.duration_s:.1f}s")
        return ran


def _tail(path: Path, start: int) -> str:
    with path.open("rb") as fh:
        fh.seek(max(start, path.stat().st_size - 8192))
        text = fh.read().decode("utf-8", errors="replace")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1][:200] if lines else ""


def require_tool(argv: Sequence[str], env: Mapping[str, str], cwd: Path, why: str) -> None:
    """A one-line error naming the program when `argv[0]` cannot be found."""
    program = argv[0]
    if "/" in program:
        path = Path(program) if Path(program).is_absolute() else cwd / program
        if not path.is_file():
            raise PeError(f"{why} needs {program}, which does not exist in {cwd}")
        return
    if shutil.which(program, path=env.get("PATH")) is None:
        raise PeError(f"{why} needs `{program}`, which is not on PATH; install it, or change setup: in the manifest")
