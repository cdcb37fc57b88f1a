"""Run one Invocation the way an orchestrator must: own process group, timeout, group kill.

A CLI whose server never answers (codex, at least) waits forever, and every CLI starts
children (gemini relaunches itself, codex/claude run shells): killing only the pid would
leave them running. So the child gets its own session/process group and the whole group is
signalled: SIGTERM, a short grace, then SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from .clis import Invocation


@dataclass(frozen=True)
class Finished:
    rc: int
    stdout: str
    stderr: str
    seconds: float
    timed_out: bool
    pgid: int


def group_alive(pgid: int) -> list[int]:
    """Pids still in process group ``pgid`` and not zombies (Linux /proc; else a probe)."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return []
        return [pgid]
    alive = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the ")" closing the command name: state ppid pgrp ...
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(int(entry.name))
    return alive


def kill_group(pgid: int, grace: float = 2.0) -> None:
    """SIGTERM the group, then SIGKILL whatever is left after ``grace`` seconds."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if not group_alive(pgid):
                return
            time.sleep(0.05)


def run(inv: Invocation, timeout: float, log_dir: Path | None = None) -> Finished:
    """Run ``inv`` to completion or until ``timeout``; the group is gone when this returns."""
    start = time.monotonic()
    proc = subprocess.Popen(
        inv.argv,
        cwd=inv.cwd,
        env=inv.env,
        text=True,
        stdin=subprocess.PIPE if inv.stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own session and process group, pgid == pid
    )
    timed_out = False
    try:
        out, err = proc.communicate(inv.stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        kill_group(proc.pid)
        try:
            out, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:  # a descendant that left the group holds the pipes
            proc.kill()
            out, err = "", "runner: output pipes held open after the group was killed"
    finally:
        # A CLI that exited may still have left children in its group (a shell, a server):
        # the run is over, so they go too.
        if group_alive(proc.pid):
            kill_group(proc.pid)
    done = Finished(proc.returncode, out, err, time.monotonic() - start, timed_out, proc.pid)
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
        (log_dir / "stdout.txt").write_text(out)
        (log_dir / "stderr.txt").write_text(err)
    return done
