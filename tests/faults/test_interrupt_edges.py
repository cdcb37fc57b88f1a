"""Where a SIGINT or SIGTERM lands matters to Python: the edges the random trials in
test_interrupts ran into, each pinned down.

- Python runs a signal handler between any two bytecodes, also inside a __del__ or a weakref
  callback (every import runs one). An exception raised there is printed as "Exception ignored
  ... Traceback" and dropped: pe had killed its children, then printed a traceback and went on,
  signals ignored, to exit 0 or 1 instead of 130/143.
- A KeyboardInterrupt that leaves any exec()'d code (a dataclass being made by a lazy import)
  makes `python -m pe` die by SIGINT at exit, whatever pe returned: -2, not 130.
- While pe stops, another thread may be starting a child the stop's kill did not see.

Each was met about once in a few hundred signals sent near the end of a no-op `pe execute`.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from pe import main, proc
from pe.commands import validate
from pe.engine import runner as engine
from pe.proc import core as proc_core

PE_ROOT = Path(__file__).resolve().parents[2]


class _DropsASignal:
    """Sends `sig` to this process from its __del__: the handler runs there and its exception is dropped."""

    def __init__(self, sig: int) -> None:
        self.sig = sig

    def __del__(self) -> None:
        signal.raise_signal(self.sig)  # runs the Python handler before it returns


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> proc._Registry:
    """A registry of this test's own: a stop must not leak into the other in-process tests."""
    fresh = proc._Registry()
    monkeypatch.setattr(proc_core, "REGISTRY", fresh)
    return fresh


@pytest.fixture
def unraisable(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """What reaches Python's unraisable hook (what it would print as "Exception ignored")."""
    seen: list[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", seen.append)
    return seen


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_dropped_interrupt_still_ends_pe_with_its_exit_status(
    repo: Path, registry: proc._Registry, unraisable: list[Any], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], sig: int, code: int,
) -> None:
    went_on: list[bool] = []

    def action(args: argparse.Namespace) -> int:
        _DropsASignal(sig)
        went_on.append(True)  # the premise: Python dropped the handler's exception and carried on
        return 0

    monkeypatch.setattr(validate, "run", action)
    assert main.main(["validate", f"--dir={repo}"]) == code
    assert went_on and registry.stopping
    assert capsys.readouterr().err == "pe: interrupted\n"
    assert unraisable == []  # nothing printed as "Exception ignored ... Traceback"


def test_a_dropped_interrupt_during_a_graph_run_ends_it_as_interrupted(
    registry: proc._Registry, unraisable: list[Any], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Nested like a real run: main's handlers outside, the graph run's inside."""
    def run_doit(plan: object, args: object, jobs: object) -> int:
        _DropsASignal(signal.SIGTERM)
        return 0  # doit finished what it had (its agents killed) as if nothing happened

    monkeypatch.setattr(engine, "run_doit", run_doit)
    with proc.signals_stop_children(keyboard_interrupt=True):
        assert engine.run_command(None, ["run"]) == 143  # type: ignore[arg-type]
    assert unraisable == []


def test_an_interrupt_the_block_catches_is_not_raised_again(unraisable: list[Any], registry: proc._Registry) -> None:
    """`pe status --watch` ends on ^C by catching KeyboardInterrupt: that stays so."""
    with proc.signals_stop_children(keyboard_interrupt=True):
        try:
            signal.raise_signal(signal.SIGINT)
        except KeyboardInterrupt:
            pass
    assert unraisable == []


def test_other_dropped_exceptions_are_still_reported(unraisable: list[Any], registry: proc._Registry) -> None:
    class Fails:
        def __del__(self) -> None:
            raise ValueError("from __del__")

    with proc.signals_stop_children():
        Fails()
    assert [type(u.exc_value) for u in unraisable] == [ValueError]


DRIVER = """
import sys
from pe import main
from pe.commands import validate

def action(args):
    # What a lazy import making a dataclass does: run exec()'d code; the ^C lands in it.
    exec("import signal; signal.raise_signal(signal.SIGINT)")
    return 0

validate.run = action
raise SystemExit(main.main(["validate", "--dir=" + sys.argv[1]]))
"""


def test_a_ctrl_c_inside_exec_code_still_exits_130_under_python_m(repo: Path, tmp_path: Path) -> None:
    (tmp_path / "pe_driver.py").write_text(DRIVER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(PE_ROOT)])}
    res = subprocess.run([sys.executable, "-m", "pe_driver", str(repo)], capture_output=True, text=True,
                         env=env, timeout=60)
    assert (res.returncode, res.stderr) == (130, "pe: interrupted\n")


def test_children_started_after_the_stop_are_killed_at_once(registry: proc._Registry, tmp_path: Path) -> None:
    registry.kill_all(grace=0)  # what SIGINT/SIGTERM does, while another thread is about to start one
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    start = time.monotonic()
    with pytest.raises(proc.ProcError, match="exited -9"):
        proc.run(sleeper, timeout=60)
    with (tmp_path / "log").open("wb") as log:
        ended = proc.spawn_logged(sleeper, cwd=tmp_path, env={}, log=log, timeout=60)
    assert ended.interrupted and ended.returncode == -signal.SIGKILL
    assert time.monotonic() - start < 30  # not the sleepers' 60 s
