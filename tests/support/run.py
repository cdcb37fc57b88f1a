"""Running pe: as a child process (pe_cmd, pe_run, pe_popen) or in this process (pe, pe_exit); waiting."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from pe import main as pe_main

PE_ROOT = Path(__file__).resolve().parents[2]


def pe_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "pe", *args]


def pe_run(root: Path, *args: str, timeout: float = 120, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m pe ARGS` in `root`, output captured."""
    return subprocess.run(
        pe_cmd(*args), cwd=root, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})}
    )


def pe(root: Path, *argv: str) -> tuple[int, str, str]:
    """Run pe in-process on `root`; (exit status, stdout, stderr). --dir goes before pe doit's own arguments."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = pe_main.main([argv[0], "--dir", str(root), *argv[1:]])
    return rc, out.getvalue(), err.getvalue()


def pe_exit(root: Path, *args: str) -> int:
    """Run pe in-process on `root`; its exit status. Unlike pe(), the output is left to pytest (capsys)."""
    return pe_main.main([*args, f"--dir={root}"])


def pe_popen(root: Path, *argv: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """pe as a child in its own session, so a test can kill -9 it like a crash would."""
    full = {**os.environ, **(env or {})}
    full["PYTHONPATH"] = str(PE_ROOT) + os.pathsep + full.get("PYTHONPATH", "")
    return subprocess.Popen(
        [sys.executable, "-m", "pe", argv[0], "--dir", str(root), *argv[1:]],
        cwd=root, env=full, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )


def wait_for(cond: Callable[[], bool], timeout: float = 60.0, what: str = "condition", poll: float = 0.05) -> None:
    """Return once cond() is true; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(poll)


def kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
