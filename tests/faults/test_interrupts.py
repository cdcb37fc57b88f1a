"""pe stopped at seeded random moments of init, setup, execute and cleanup, then recovered.

Four faults: kill -9 of pe alone (its children live on, as they do when a terminal
closes or the OOM killer picks pe); a crash (pe and every process it started killed
in one sweep, as when the machine dies: git's half-written entries and index.lock
files stay behind); SIGINT; SIGTERM. After each, `pe resume` (or `pe cleanup` again)
must leave every tree done exactly once (by the agents' own side effects), git without
`locked` or prunable entries, no process running, no half-written RESULTS.md counted;
SIGINT and SIGTERM must also exit 130/143 with every child already stopped.

The first trials of every (phase, fault) run in the ordinary suite; the long form
(TRIALS per pair, set PE_FAULT_TRIALS to change it) runs with `-m slow`. Trials are
seeded: PE_FAULT_SEED reproduces a run, and a failing trial names its seed and delay.
"""

from __future__ import annotations

import os
import random
import signal
from pathlib import Path

import pytest

from tests.support.faults import CRASH, PHASES, SEED, trial

TRIALS = int(os.environ.get("PE_FAULT_TRIALS", "20"))
FAULTS = {"kill-9": signal.SIGKILL, "crash": CRASH, "sigint": signal.SIGINT, "sigterm": signal.SIGTERM}
FAST = {"kill-9": 1, "crash": 1, "sigint": 1, "sigterm": 1}  # trials of each phase in every run
# The long form: kill -9 and crash TRIALS times per phase; the signals half as often (their
# windows are the same, and each trial already checks the exit status and leftovers twice).
LONG = {"kill-9": TRIALS, "crash": TRIALS, "sigint": max(TRIALS // 2, FAST["sigint"]),
        "sigterm": max(TRIALS // 2, FAST["sigterm"])}


def _cases() -> list[object]:
    cases: list[object] = []
    for fault in FAULTS:
        for phase in PHASES:
            for n in range(LONG[fault]):
                marks = [pytest.mark.slow] if n >= FAST[fault] else []
                cases.append(pytest.param(phase, fault, n, id=f"{phase}-{fault}-{n}", marks=marks))
    return cases


@pytest.fixture(scope="module")
def calibration(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the unhit runs that measure each phase's window live (once per session)."""
    return tmp_path_factory.mktemp("calibration")


@pytest.mark.parametrize(("phase", "fault", "n"), _cases())
def test_stopped_then_recovered(calibration: Path, tmp_path: Path, phase: str, fault: str, n: int) -> None:
    seed = f"{SEED}-{phase}-{fault}-{n}"
    rng = random.Random(seed)
    outcome = trial(PHASES[phase], calibration, tmp_path, rng, FAULTS[fault], f"seed {seed}")
    print(f"seed {seed}: {outcome}")
