"""pe compare on a terminal: a table of the checks redrawn in place, then the ranking (issue 13).

pe runs as a child on a real pseudo-terminal, as a user would see it; --plain on the same
terminal, and any stdout that is not one, keep the timestamped lines.
"""

from __future__ import annotations

import fcntl
import io
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from pe.compare.checks import CheckResult
from pe.compare.live import CheckView
from tests.support import kill_group, pe
from tests.support.cycle import CHECKS, make_repo, write_cycle_manifest
from tests.support.run import PE_ROOT

SLOW = {"command": ["python", "-c", "import time; time.sleep(1)"], "timeout": 60}
HANG = {"command": ["python", "-c", "import time; time.sleep(60)"], "timeout": 120}
STAMPED = re.compile(r"^\[\d\d:\d\d:\d\d\] (start  |done    |FAILED )", re.MULTILINE)
UP = re.compile(r"\x1b\[\d+F")  # cursor up to the table's first line: a redraw in place


def executed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, slow: dict[str, object]) -> Path:
    """Two done trees, calc-1 failing a test; checks: the tests and one that takes a while."""
    root = make_repo(tmp_path)
    write_cycle_manifest(root, count=2, checks={"test": CHECKS["test"], "slow": slow})
    monkeypatch.setenv("CYCLE_VARIANT_1", "broken")
    assert pe(root, "execute", "--feature=calc")[0] == 0
    return root


class Terminal:
    """pe compare as a child whose stdin, stdout and stderr are one pseudo-terminal, 120x40."""

    def __init__(self, root: Path, *args: str) -> None:
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}  # the pty's size
        env["PYTHONPATH"] = str(PE_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pe", "compare", "--dir", str(root), "--feature=calc", *args],
            cwd=root, env=env, stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
        )
        os.close(slave)
        self.output = b""

    def read_until(self, cond: str | None, timeout: float = 90) -> str:
        """What pe wrote so far, once `cond` is in it (None: until pe closes the terminal)."""
        deadline = time.monotonic() + timeout
        while cond is None or cond not in self.text:
            if time.monotonic() > deadline:
                raise AssertionError(f"no {cond!r} on the terminal in {timeout}s:\n{self.text}")
            ready, _, _ = select.select([self.master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:  # EIO: every writer closed the terminal
                    chunk = b""
                if not chunk:
                    if cond is None:
                        break
                    raise AssertionError(f"the terminal closed before {cond!r}:\n{self.text}")
                self.output += chunk
        return self.text

    @property
    def text(self) -> str:
        return self.output.decode("utf-8", errors="replace").replace("\r\n", "\n")

    def finish(self) -> tuple[int, str]:
        text = self.read_until(None)
        rc = self.proc.wait(timeout=30)
        os.close(self.master)
        return rc, text

    def kill(self) -> None:
        kill_group(self.proc.pid)
        self.proc.wait(timeout=10)


def test_the_checks_are_redrawn_in_place_then_the_ranking_follows(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    root = executed(tmp_path, monkeypatch, SLOW)
    term = Terminal(root)
    try:
        rc, text = term.finish()
    finally:
        if term.proc.poll() is None:
            term.kill()
    assert rc == 0, text
    assert "\x1b[?25l" in text and text.rindex("\x1b[?25h") > text.rindex("\x1b[?25l")  # the cursor is back
    assert UP.search(text), text  # drawn again over itself
    assert not STAMPED.search(text), text  # no plain lines beside the table
    # Some frame showed a check still running, with its elapsed time.
    assert re.search(r"slow:calc-\d +running +\d+\.\ds", text), text
    # The last frame (after the last cursor-up) stays: every check, its state, duration and summary.
    final = text[list(UP.finditer(text))[-1].end():]
    assert re.search(r"pe compare: 0 running, 4 done, 1 failed +\d+\.\ds", final), final
    assert re.search(r"test:calc-1 +FAILED +\d+\.\ds +FAILED in [0-9.]+s, 1/3 passed, 2 failed", final), final
    assert re.search(r"test:calc-2 +passed +\d+\.\ds +passed in [0-9.]+s, 3/3 passed", final), final
    assert re.search(r"slow:calc-1 +passed +1\.\ds", final), final
    assert re.search(r"slow:calc-2 +passed +1\.\ds", final), final
    # Then the ranking, as off a terminal.
    assert "recommended: calc-2" in final and final.index("slow:calc-2") < final.index("recommended: calc-2")


def test_plain_on_a_terminal_prints_the_timestamped_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = executed(tmp_path, monkeypatch, SLOW)
    term = Terminal(root, "--plain")
    try:
        rc, text = term.finish()
    finally:
        if term.proc.poll() is None:
            term.kill()
    assert rc == 0, text
    assert "\x1b[" not in text, text  # no cursor movement, no hidden cursor
    lines = STAMPED.findall(text)
    assert len(lines) == 8, text  # a start and an end per check
    assert re.search(r"^\[\d\d:\d\d:\d\d\] FAILED test:calc-1 \([0-9.]+s\): FAILED in", text, re.MULTILINE), text
    assert re.search(r"^\[\d\d:\d\d:\d\d\] done    slow:calc-2 \([0-9.]+s\)$", text, re.MULTILINE), text
    assert "recommended: calc-2" in text


def test_ctrl_c_during_the_view_shows_the_cursor_again_and_exits_130(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    root = executed(tmp_path, monkeypatch, HANG)
    term = Terminal(root)
    try:
        term.read_until("slow:calc-")
        term.read_until(" running ")
        time.sleep(0.3)
        os.killpg(term.proc.pid, signal.SIGINT)  # what the terminal's ^C does to its foreground group
        started = time.monotonic()
        rc, text = term.finish()
    finally:
        if term.proc.poll() is None:
            term.kill()
    assert rc == 130, text
    assert time.monotonic() - started < 20  # the hanging checks were stopped, not waited for
    assert text.rindex("\x1b[?25h") > text.rindex("\x1b[?25l"), text
    assert "pe: interrupted" in text[text.rindex("\x1b[?25h"):]
    # The last frame says the run was cut short; no check in it still runs (^C reached them too, or
    # pe stopped them as it left).
    final = text[list(UP.finditer(text))[-1].end():]
    assert final.startswith("\x1b[2Kpe compare: interrupted") and " running " not in final, final
    assert re.search(r"slow:calc-\d +(stopped|FAILED)", final), final


def result(name: str, status: str = "passed", secs: float = 1.0) -> CheckResult:
    return CheckResult(name, "other", status, 0, secs, None, None, "", False, "log", "")


def test_names_from_the_trees_are_drawn_without_their_control_sequences(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setenv("LINES", "30")
    out = io.StringIO()
    hostile = "test:calc-1\x1b[2J\x1b]0;pwned\x07\rX\x1b[31m"
    with CheckView(out) as view:
        view("start", hostile, None)
        view("end", hostile, result("test", "timeout"))
    text = out.getvalue()
    assert "\x1b[2J" not in text and "\x1b]0" not in text and "\x1b[31m" not in text and "\r" not in text
    assert re.search(r"test:calc-1 X +TIMED OUT +1\.0s +TIMED OUT in 1\.00s", text)
    assert view.lines == 2


def test_a_view_taller_than_the_terminal_keeps_the_running_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setenv("LINES", "8")
    out = io.StringIO()
    with CheckView(out) as view:
        for i in range(10):
            view("start", f"test:t-{i}", None)
            view("end", f"test:t-{i}", result("test", "failed" if i == 3 else "passed"))
        view("start", "bench:t-0", None)
        view("start", "bench:t-1", None)
        frame = view.frame(8)
        assert len(frame) <= 7  # the cursor's line is left: the frame never scrolls the screen
        assert frame[0].startswith("pe compare: 2 running, 10 done, 1 failed")
        assert any("bench:t-0" in ln for ln in frame) and any("bench:t-1" in ln for ln in frame)
        assert any("test:t-3 " in ln and "FAILED" in ln for ln in frame)  # a failure outlasts passes
        assert frame[-1] == "  … and 7 more (all of them at the end)"
        view("end", "bench:t-0", result("bench"))
        view("end", "bench:t-1", result("bench"))
    final = out.getvalue()[list(UP.finditer(out.getvalue()))[-1].end():]
    assert all(f"test:t-{i} " in final for i in range(10)) and "more (all" not in final
